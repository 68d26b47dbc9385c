"""Upgrading a SQLite database made before expiry and ``unique_for`` (jobs migration 6).

Jobs stored before keep their meaning: an unfinished job with a unique key still holds it, a
finished one no longer does, and no job has an expiry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from service.jobs import JobState, SQLiteStore, Task, TaskOptions, TrioClock, UniqueOutcome
from service.jobs._sqlite.connection import connect, in_transaction, migrate
from service.jobs._sqlite.schema import MIGRATIONS

if TYPE_CHECKING:
    from pathlib import Path

NOW = 1_800_000_000.0


@attrs.frozen(kw_only=True)
class Ping(Task):
    options = TaskOptions(name="migration.ping")
    n: int = 0


def _old_database(path: Path) -> None:
    """Jobs as the schema before migration 6 stored them: one unfinished and one finished job
    holding keys."""
    conn = connect(str(path))
    try:
        in_transaction(conn, migrate, [m for m in MIGRATIONS if m.version < 6], NOW)
        in_transaction(conn, lambda c: c.executemany(
            "INSERT INTO jobs (task, args, state, max_attempts, run_at, created_at, unique_key,"
            " finished_at) VALUES ('migration.ping', '{\"n\":0}', ?, 3, ?, ?, ?, ?)",
            [("scheduled", NOW + 60, NOW, "waiting", None),
             ("completed", NOW, NOW, "done", NOW)],
        ))
    finally:
        conn.close()


async def test_jobs_stored_before_the_upgrade_keep_their_unique_keys_meaning(
    tmp_path: Path,
) -> None:
    _old_database(tmp_path / "jobs.db")

    async with SQLiteStore(tmp_path / "jobs.db", clock=TrioClock(NOW + 10)) as store:
        assert store.applied_migrations[0] == "jobs:6"  # (later steps may follow it)
        waiting = await store.push_result(Ping(n=1), unique_key="waiting", unique_for=3600)
        done = await store.push_result(Ping(n=2), unique_key="done")
        [old_waiting, old_done] = [await store.job_get(i) for i in (1, 2)]

    assert (waiting.row.id, waiting.unique) == (1, UniqueOutcome.KEPT)
    assert done.unique == UniqueOutcome.INSERTED
    assert old_done.state == JobState.COMPLETED
    assert old_waiting.expires_at is None
    assert old_done.expires_at is None
