"""``ExtractText``: the text step of an upload's workflow (CPU-bound: off the loop)."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import trio

from ..domain.extract import BadDocument, NoText, extract_text
from ..jobs import Backoff, JobContext, Task, TaskOptions


@attrs.frozen(kw_only=True)
class ExtractText(Task):
    """Read the start of the text of the PDF or text file at ``source``; as JSON.

    ``{"text", "pages"}`` (``pages`` null for a text file); ``{"skipped": reason}`` for a file
    that is neither, or a PDF that cannot be read: optional, like the thumbnail. A file that
    cannot be read fails the attempt (retried). It needs no app state.
    """

    options = TaskOptions(name="extract_text", concurrency=2, max_attempts=3, timeout=120,
                          backoff=Backoff(base=2, factor=4, cap=600))

    upload_id: uuid.UUID
    source: str

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        """Extract the text on a worker thread (:meth:`work`)."""
        return await trio.to_thread.run_sync(self.work)

    def work(self) -> dict[str, Any]:
        """The step itself: blocking, CPU-bound, no state."""
        try:
            extract = extract_text(self.source)
        except (NoText, BadDocument) as exc:
            return {"skipped": str(exc)}
        return {"text": extract.text, "pages": extract.pages}
