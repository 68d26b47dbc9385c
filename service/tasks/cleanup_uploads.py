"""``CleanupUploads``: remove partial upload files left by a process that died mid-upload.

Scheduled every 15 minutes (``SCHEDULES`` in :mod:`service.tasks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio

from ..domain.storage import remove_file, stale_partials
from ..domain.uploads import fail_pending_by_stored_name
from ..jobs import JobContext, Task, TaskOptions

if TYPE_CHECKING:
    from ..state import AppState

#: A partial file not written to for this long belongs to an upload that will never complete.
STALE_AFTER_S = 3600.0
ABANDONED = "the upload did not complete: its partial file was removed"


@attrs.frozen(kw_only=True)
class CleanupUploads(Task):
    """Delete partial upload files last written more than an hour ago, and mark their uploads
    ``failed`` (an upload is recorded once its file is complete, so usually there is none).
    Returns how many files it removed."""

    options = TaskOptions(name="cleanup_uploads", concurrency=1, max_attempts=3, timeout=600)

    async def run(self, ctx: JobContext[AppState]) -> int:
        state = ctx.state
        now = state.store.clock.now()
        stale = await trio.to_thread.run_sync(
            stale_partials, state.settings.upload_dir, now - STALE_AFTER_S)
        for path, stored_name in stale:
            await trio.to_thread.run_sync(remove_file, path)
            await fail_pending_by_stored_name(state.store, stored_name, ABANDONED, now)
        return len(stale)
