"""``MakeThumbnail``: the thumbnail step of an upload's workflow (CPU-bound: in a process)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import attrs

from ..domain.thumbnails import BadImage, NotAnImage, make_thumbnail
from ..jobs import SyncJobContext, Task
from .inspected import NOTHING_INSPECTED, inspected_paths, step_options


@attrs.frozen(kw_only=True)
class MakeThumbnail(Task):
    """Write a thumbnail of the upload's file; what was made, as JSON.

    The file and where to write (``source`` and ``thumbnail``) are read from the result of the
    inspect step it follows (:func:`.process_upload.inspected_paths`): the paths where the
    worker that inspected the file found it. A process has no app state, so no settings.

    ``{"content_type", "width", "height"}`` once written; ``{"skipped": reason}`` when the file
    is no image or a bad one (corrupt, truncated, too many pixels): a thumbnail is optional, so
    such a file is no failure -- the finish step records the reason on the upload. A file that
    cannot be read fails the attempt (retried; the finish step notes a step that never
    completed).
    """

    options = step_options("make_thumbnail")

    upload_id: uuid.UUID

    def run_sync(self, ctx: SyncJobContext) -> dict[str, Any]:
        """The step itself, in a process of the worker's pool: blocking, CPU-bound, no state."""
        paths = inspected_paths(ctx)
        if paths is None:
            return NOTHING_INSPECTED
        source, target = paths
        try:
            thumbnail = make_thumbnail(source)
        except (NotAnImage, BadImage) as exc:
            return {"skipped": str(exc)}
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        partial.write_bytes(thumbnail.data)
        os.replace(partial, target)  # readers never see half a thumbnail
        return {"content_type": thumbnail.content_type, "width": thumbnail.width,
                "height": thumbnail.height}
