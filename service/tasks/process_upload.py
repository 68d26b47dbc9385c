"""``ProcessUpload``: the inspect step of an upload's workflow, and the workflow itself.

An upload is processed by a workflow of four jobs, pushed with its row in one transaction::

    inspect (process_upload) --+--> thumbnail (make_thumbnail) --+--> finish (finish_upload)
                               +--> extract   (extract_text)   --+

Inspect learns the file's size, SHA-256 and content type; the thumbnail and text steps are
CPU-bound and run off the event loop, in parallel; finish records everything and marks the
upload ``processed`` (see :class:`~.finish_upload.FinishUpload`).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..domain.sniff import inspect_file
from ..domain.uploads import (
    StoredFileUnreadable,
    Upload,
    get_upload,
    mark_failed,
    reopen_failed,
    set_workflow,
)
from ..jobs import Backoff, Cancel, JobContext, Task, TaskOptions, Workflow
from .extract_text import ExtractText
from .finish_upload import FinishUpload
from .inspected import inspect_result
from .make_thumbnail import MakeThumbnail

if TYPE_CHECKING:
    from ..domain.db import AppTransaction
    from ..state import AppState

MISSING = "the stored file is missing"
MiB = 1024 * 1024
#: The workflow's steps, in the order they are added (and their job ids returned).
STEPS = ("inspect", "thumbnail", "extract", "finish")
#: Each step's task name.
STEP_TASKS = dict(zip(STEPS, ("process_upload", "make_thumbnail", "extract_text",
                              "finish_upload"), strict=True))


def upload_workflow(upload: Upload) -> Workflow:
    """The workflow that processes ``upload``.

    The CPU-bound steps run in processes, with no app state: they read the file's path from
    the inspect step's result (:mod:`.inspected`), where the inspecting worker found it.
    """
    wf = Workflow(f"upload-{upload.id}")
    inspect = wf.add(ProcessUpload(upload_id=upload.id))
    thumbnail = wf.add(MakeThumbnail(upload_id=upload.id), after=[inspect])
    text = wf.add(ExtractText(upload_id=upload.id), after=[inspect])
    wf.add(FinishUpload(upload_id=upload.id), after=[inspect, thumbnail, text],
           on_failure="run")
    return wf


async def start_processing(tx: AppTransaction, upload: Upload) -> int:
    """Push the workflow that processes ``upload`` inside ``tx`` and record it on the upload's
    row; the workflow's id."""
    wf = upload_workflow(upload)
    ids = await tx.push_workflow(wf)
    assert wf.id is not None  # set by the push
    await set_workflow(tx, upload.id, wf.id, dict(zip(STEPS, ids, strict=True)))
    return wf.id


@attrs.frozen(kw_only=True)
class ProcessUpload(Task):
    """Inspect the stored file of ``upload_id``: its size, SHA-256 and content type, returned
    with the file's path as this worker sees it (:func:`.inspected.inspect_result`).

    The file is read in chunks on a worker thread. A stored file that is missing or unreadable
    fails the attempt (:class:`StoredFileUnreadable`): the job is retried with backoff -- the
    file may be on a shared directory that is not mounted yet -- and the upload stays
    ``pending``. The last attempt (``ctx.last_attempt``) first marks the upload ``failed`` with
    the reason, then fails, so the job is discarded (and its workflow's finish step leaves the
    upload failed). An upload that is ``failed`` when its job runs (an operator retried the
    discarded job) is ``pending`` again and processed anew by a new workflow, pushed in the
    same transaction; one already ``processed`` is left alone; one whose row is gone cancels
    the job. A job outside the upload's workflow (pushed by hand, or before uploads had
    workflows) starts one for an upload that has none, and leaves others alone.
    """

    # Retries 2, 8, 32 and 128 s after a failure (about 3 min in all): long enough for a file on
    # a shared directory to show up on the worker's host (NFS caches a directory's listing for
    # seconds) or for the directory to be mounted again.
    options = TaskOptions(
        name="process_upload", concurrency=4, max_attempts=5, timeout=600,
        backoff=Backoff(base=2, factor=4, cap=600),
    )

    upload_id: uuid.UUID

    async def run(self, ctx: JobContext[AppState]) -> Any:
        """Inspect the file and return the facts (or, on the last attempt, record the
        failure); or start a workflow for the upload (see the class)."""
        state = ctx.state
        store = state.store
        upload = await get_upload(store, self.upload_id)
        if upload is None:
            raise Cancel(f"upload {self.upload_id} no longer exists")
        if upload.status == "failed" or (upload.status == "pending"
                                         and upload.workflow_id is None):
            return await self._start_anew(state, upload)
        if upload.status != "pending":
            return f"already {upload.status}"
        if ctx.workflow_id != upload.workflow_id:
            return f"left to workflow {upload.workflow_id}"
        path = state.settings.upload_dir / upload.stored_name

        def report(done: int, total: int) -> None:  # on the thread: hand it to the loop
            trio.from_thread.run(ctx.progress, done / total,
                                 f"{done // MiB} of {total // MiB} MiB read")

        try:
            facts = await trio.to_thread.run_sync(partial(inspect_file, path,
                                                          on_progress=report))
        except OSError as exc:
            problem = (
                MISSING if isinstance(exc, FileNotFoundError)
                else f"the stored file cannot be read ({exc.strerror or exc})"
            )
            if ctx.last_attempt:
                await mark_failed(store, upload.id, problem, store.clock.now())
            raise StoredFileUnreadable(f"upload {upload.id}: {problem}: {path}") from exc
        await ctx.progress(1.0, f"{facts.size} bytes inspected")
        return inspect_result(facts, state.settings.upload_dir, upload.stored_name)

    async def _start_anew(self, state: AppState, upload: Upload) -> str:
        async with state.store.transaction() as tx:
            if upload.status == "failed" and not await reopen_failed(tx, upload.id):
                return "reopened meanwhile"
            workflow_id = await start_processing(tx, upload)
        return f"processing in workflow {workflow_id}"
