"""The app's periodic task: partial upload files older than an hour are removed."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from support.http import make_settings

from service.jobs.testing import run_task
from service.runtime import open_state
from service.tasks import SCHEDULES, CleanupUploads
from service.tasks.cleanup_uploads import ABANDONED

if TYPE_CHECKING:
    from pathlib import Path


def test_cleanup_uploads_is_scheduled_every_15_minutes() -> None:
    [schedule] = [s for s in SCHEDULES if s.name == "cleanup-uploads"]
    assert schedule.cron == "*/15 * * * *"
    assert isinstance(schedule.task, CleanupUploads)


async def test_partial_files_older_than_an_hour_are_removed_and_their_uploads_failed(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    async with open_state(settings) as state:
        now = state.store.clock.now()
        uploads = settings.upload_dir
        uploads.mkdir(parents=True, exist_ok=True)
        old, fresh, done = uploads / ".aaaa.partial", uploads / ".bbbb.partial", uploads / "cccc"
        for path, age in ((old, 3700), (fresh, 600), (done, 7200)):
            path.write_bytes(b"x")
            os.utime(path, (now - age, now - age))
        async with state.store.transaction() as tx:  # a pending row for the old partial file
            await tx.execute(
                "INSERT INTO uploads (id, filename, stored_name, status, created_at)"
                " VALUES (?, ?, ?, 'pending', ?)",
                ("00000000-0000-0000-0000-00000000000a", "a.txt", "aaaa", now - 3700))
        result = await run_task(CleanupUploads(), state=state)
        assert result.outcome == "completed"
        assert result.value == 1
        assert not old.exists()
        assert fresh.exists()
        assert done.exists()
        [(status, error)] = await state.store.query(
            "SELECT status, error FROM uploads WHERE stored_name = 'aaaa'")
        assert (status, error) == ("failed", ABANDONED)
