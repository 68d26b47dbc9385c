"""``ExtractText``: the text step of an upload's workflow (CPU-bound: in a process)."""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from ..domain.extract import BadDocument, NoText, extract_text
from ..jobs import SyncJobContext, Task
from .inspected import NOTHING_INSPECTED, inspected_paths, step_options


@attrs.frozen(kw_only=True)
class ExtractText(Task):
    """Read the start of the text of the upload's file, if a PDF or text file; as JSON.

    ``{"text", "pages"}`` (``pages`` null for a text file); ``{"skipped": reason}`` for a file
    that is neither, or a PDF that cannot be read: optional, like the thumbnail. A file that
    cannot be read fails the attempt (retried). The file's path is read from the inspect step's
    result, like :class:`.make_thumbnail.MakeThumbnail`'s.
    """

    options = step_options("extract_text")

    upload_id: uuid.UUID

    def run_sync(self, ctx: SyncJobContext) -> dict[str, Any]:
        """The step itself, in a process of the worker's pool: blocking, CPU-bound, no state."""
        paths = inspected_paths(ctx)
        if paths is None:
            return NOTHING_INSPECTED
        source, _ = paths
        try:
            extract = extract_text(source)
        except (NoText, BadDocument) as exc:
            return {"skipped": str(exc)}
        return {"text": extract.text, "pages": extract.pages}
