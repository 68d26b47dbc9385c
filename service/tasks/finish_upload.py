"""``FinishUpload``: the last step of an upload's workflow: records what the steps made and
marks the upload ``processed`` (or ``failed`` when its inspection never completed)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import attrs

from ..domain.sniff import FileFacts
from ..domain.uploads import Derived, get_upload, mark_failed, mark_processed
from ..jobs import Cancel, JobContext, Task, TaskOptions

if TYPE_CHECKING:
    from ..state import AppState

#: The content types the text step reads.
TEXT_TYPES = ("text/plain; charset=utf-8", "application/json", "application/pdf")


@attrs.frozen(kw_only=True)
class FinishUpload(Task):
    """Mark ``upload_id`` processed with its facts, thumbnail and text, from its steps' results.

    It runs once every step ended, whatever their outcome (``on_failure="run"``): when the
    inspect step did not complete (discarded after its last attempt, cancelled, rescued too
    often), the upload is ``failed`` -- its last attempt has said why already, else this step
    says how it ended. A thumbnail or text step that failed leaves a note, not a failure.
    A finish of a workflow the upload no longer follows (an operator's retry started a new
    one) changes nothing; an upload whose row is gone cancels it.
    """

    options = TaskOptions(name="finish_upload", concurrency=4, max_attempts=5, timeout=60)

    upload_id: uuid.UUID

    async def run(self, ctx: JobContext[AppState]) -> str:
        """Record the outcome of the upload's steps."""
        store = ctx.state.store
        upload = await get_upload(store, self.upload_id)
        if upload is None:
            raise Cancel(f"upload {self.upload_id} no longer exists")
        if ctx.workflow_id is None or upload.workflow_id != ctx.workflow_id:
            return f"superseded by workflow {upload.workflow_id}"
        if upload.status != "pending":
            return f"already {upload.status}"
        results = await ctx.dependency_results()
        steps = upload.step_jobs
        inspected = results.get(steps.get("inspect", 0))
        if inspected is None:
            ended = {d.id: d.state for d in ctx.dependencies}.get(steps.get("inspect", 0))
            problem = f"the inspect step ended {ended or 'without a result'}"
            await mark_failed(store, upload.id, problem, store.clock.now())
            return "failed"
        if not isinstance(inspected, dict):  # it inspected nothing (see ProcessUpload)
            return f"nothing to record: inspect said {inspected!r}"
        facts = FileFacts(size=inspected["size"], sha256=inspected["sha256"],
                          content_type=inspected["content_type"])
        derived = derived_from(facts, results.get(steps.get("thumbnail", 0)),
                               results.get(steps.get("extract", 0)))
        await mark_processed(store, upload.id, facts, store.clock.now(), derived)
        return "processed"


def derived_from(facts: FileFacts, thumbnail: Any, text: Any) -> Derived:
    """What the steps made that fits the file's type, and a note for each that should have
    been made and was not."""
    notes: list[str] = []
    thumbnail_type = text_excerpt = None
    if facts.content_type.startswith("image/"):
        if thumbnail is None:
            notes.append("no thumbnail: the thumbnail step did not complete (see its job)")
        elif "skipped" in thumbnail:
            notes.append(f"no thumbnail: {thumbnail['skipped']}")
        else:
            thumbnail_type = thumbnail["content_type"]
    if facts.content_type in TEXT_TYPES:
        if text is None:
            notes.append("no text: the text step did not complete (see its job)")
        elif "skipped" in text:
            notes.append(f"no text: {text['skipped']}")
        elif not text["text"].strip():
            notes.append("no text: the PDF has no text layer (a scan?)"
                         if text["pages"] is not None else "no text: the file is blank")
        else:
            text_excerpt = text["text"]
    return Derived(thumbnail_type=thumbnail_type, text_excerpt=text_excerpt, notes=tuple(notes))
