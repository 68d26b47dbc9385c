"""``ProcessUpload``: learn an uploaded file's size, SHA-256 and content type from its bytes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import attrs
import trio

from ..domain.sniff import inspect_file
from ..domain.uploads import (
    StoredFileUnreadable,
    get_upload,
    mark_failed,
    mark_processed,
    reopen_failed,
)
from ..jobs import Backoff, Cancel, JobContext, Task, TaskOptions

if TYPE_CHECKING:
    from ..state import AppState

MISSING = "the stored file is missing"


@attrs.frozen(kw_only=True)
class ProcessUpload(Task):
    """Inspect the stored file of ``upload_id`` and mark the upload ``processed``.

    The file is read in chunks on a worker thread. A stored file that is missing or unreadable
    fails the attempt (:class:`StoredFileUnreadable`): the job is retried with backoff -- the
    file may be on a shared directory that is not mounted yet -- and the upload stays
    ``pending``. The last attempt (``ctx.last_attempt``) first marks the upload ``failed`` with
    the reason, then fails, so the job is discarded. An upload that is ``failed`` when its job
    runs (an operator retried the discarded job) is ``pending`` again and processed anew; one
    already ``processed`` is left alone; one whose row is gone cancels the job.
    """

    # Retries 2, 8, 32 and 128 s after a failure (about 3 min in all): long enough for a file on
    # a shared directory to show up on the worker's host (NFS caches a directory's listing for
    # seconds) or for the directory to be mounted again.
    options = TaskOptions(
        name="process_upload", concurrency=4, max_attempts=5, timeout=600,
        backoff=Backoff(base=2, factor=4, cap=600),
    )

    upload_id: uuid.UUID

    async def run(self, ctx: JobContext[AppState]) -> str:
        """Inspect the file and record the facts (or, on the last attempt, the failure)."""
        state = ctx.state
        store = state.store
        upload = await get_upload(store, self.upload_id)
        if upload is None:
            raise Cancel(f"upload {self.upload_id} no longer exists")
        if upload.status == "failed":
            await reopen_failed(store, upload.id)
        elif upload.status != "pending":
            return f"already {upload.status}"
        path = state.settings.upload_dir / upload.stored_name
        try:
            facts = await trio.to_thread.run_sync(inspect_file, path)
        except OSError as exc:
            problem = (
                MISSING if isinstance(exc, FileNotFoundError)
                else f"the stored file cannot be read ({exc.strerror or exc})"
            )
            if ctx.last_attempt:
                await mark_failed(store, upload.id, problem, store.clock.now())
            raise StoredFileUnreadable(f"upload {upload.id}: {problem}: {path}") from exc
        await mark_processed(store, upload.id, facts, store.clock.now())
        return "processed"
