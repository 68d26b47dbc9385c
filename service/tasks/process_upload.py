"""``ProcessUpload``: learn an uploaded file's size, SHA-256 and content type from its bytes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import attrs
import trio

from ..domain.sniff import inspect_file
from ..domain.uploads import get_upload, mark_failed, mark_processed
from ..jobs import Cancel, JobContext, Task, TaskOptions

if TYPE_CHECKING:
    from ..state import AppState


@attrs.frozen(kw_only=True)
class ProcessUpload(Task):
    """Inspect the stored file of ``upload_id`` and mark the upload ``processed``.

    The file is read in chunks on a worker thread. A stored file that is missing marks the
    upload ``failed`` and completes the job (retrying cannot bring it back). An upload that is
    no longer pending is left alone; one whose row is gone cancels the job.
    """

    options = TaskOptions(name="process_upload", concurrency=4, max_attempts=5, timeout=600)

    upload_id: uuid.UUID

    async def run(self, ctx: JobContext[AppState]) -> str:
        """Inspect the file and record the facts (or the failure); what became of the upload."""
        state = ctx.state
        store = state.store
        upload = await get_upload(store, self.upload_id)
        if upload is None:
            raise Cancel(f"upload {self.upload_id} no longer exists")
        if upload.status != "pending":
            return f"already {upload.status}"
        path = state.settings.upload_dir / upload.stored_name
        try:
            facts = await trio.to_thread.run_sync(inspect_file, path)
        except FileNotFoundError:
            await mark_failed(store, upload.id, "the stored file is missing", store.clock.now())
            return "failed: the stored file is missing"
        await mark_processed(store, upload.id, facts, store.clock.now())
        return "processed"
