"""The uploads API: ``POST /api/uploads`` (multipart, field ``file``), ``GET /api/uploads/<id>``
and ``GET /api/uploads/<id>/thumbnail``.

The body is streamed: parsed chunk by chunk as it arrives and written to the upload directory
under a server-chosen name, with ``SERVICE_UPLOAD_MAX_BYTES`` enforced while it streams. It is
read no faster than it is written (:mod:`.backpressure`), so memory stays flat however large the
upload or slow the disk. Only a complete file is recorded; its row and its ``ProcessUpload`` job
commit together.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs
import trio
from quart import Blueprint, Response, request

from ...domain.storage import TooLarge, UploadWriter
from ...domain.uploads import Upload, display_filename, get_upload, thumbnail_path
from ...flows.uploads import create_upload
from ...jobs import JobNotFound, ProgressView
from ..plumbing.answers import json_answer, moment
from ..plumbing.errors import ApiError
from ..plumbing.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
)
from ..plumbing.operations import Link, Param, operation
from ..plumbing.request_state import app_state
from .users import parse_uuid

if TYPE_CHECKING:
    from ...jobs import JobStore

blueprint = Blueprint("uploads", __name__)

FIELD = "file"
#: Room for the multipart framing and small fields beside the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
#: After an error, how much more of the body is read and dropped so the client sees the answer.
DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_MAX_SECONDS = 5.0


@attrs.frozen(kw_only=True)
class UploadAccepted:
    """The upload is stored and its processing queued."""

    id: uuid.UUID
    filename: str
    """The client's file name, made safe to show (basename, no control characters)."""
    status: Literal["pending"]


StepState = Literal["pending", "scheduled", "available", "running", "retryable",
                    "completed", "cancelled", "discarded", "pruned"]


@attrs.frozen(kw_only=True)
class UploadStep:
    """One step of the workflow that processes an upload, and the state of its job."""

    name: Literal["inspect", "thumbnail", "extract", "finish"] = attrs.field(metadata={
        "description": "inspect (size, SHA-256, type), thumbnail, extract (text), finish"})
    state: StepState = attrs.field(metadata={
        "description": "Its job's state (see GET /api/jobs/{id}); pruned once the job's row"
                       " was deleted after the retention period."})
    progress: ProgressView | None = attrs.field(default=None, metadata={
        "description": "The step's last progress report, as in its job's JSON; left out"
                       " while it made none (inspect reports every 8 MiB of a larger file)."})


@attrs.frozen(kw_only=True)
class UploadView:
    """An upload. ``status`` follows its workflow: ``pending`` while its steps wait, run or
    will be retried; ``processed`` once its finish step ran (then ``size``, ``sha256`` and
    ``content_type``, sniffed from the bytes, are set, and the thumbnail and text too where
    they apply); ``failed`` once its inspection failed for good (then ``error`` says why)."""

    id: uuid.UUID
    filename: str
    status: Literal["pending", "processed", "failed"]
    size: int | None
    sha256: str | None
    content_type: str | None
    error: str | None
    steps: list[UploadStep] = attrs.field(metadata={
        "description": "The jobs of its workflow, in order (empty for an upload processed"
                       " before uploads had workflows)."})
    has_thumbnail: bool = attrs.field(metadata={
        "description": "Whether GET /api/uploads/{id}/thumbnail serves a thumbnail (images)."})
    text_excerpt: str | None = attrs.field(metadata={
        "description": "The first 1,000 characters of the text of a PDF or text file, once"
                       " processed; else null."})
    notes: list[str] = attrs.field(metadata={
        "description": "Why a thumbnail or text that applies to the file's type was not made"
                       " (a corrupt image, a PDF without text...)."})

    @classmethod
    def of(cls, upload: Upload, steps: list[UploadStep]) -> UploadView:
        status: Any = upload.status
        return cls(id=upload.id, filename=upload.filename, status=status, size=upload.size,
                   sha256=upload.sha256, content_type=upload.content_type, error=upload.error,
                   steps=steps, has_thumbnail=upload.thumbnail_type is not None,
                   text_excerpt=upload.text_excerpt, notes=list(upload.notes))


async def upload_steps(store: JobStore, upload: Upload) -> list[UploadStep]:
    """The steps of ``upload``'s workflow, each with its job's state now."""
    steps = []
    for name, job_id in upload.step_jobs.items():
        try:
            job = await store.job_get(job_id)
        except JobNotFound:
            steps.append(UploadStep(name=cast("Any", name), state="pruned"))
            continue
        progress = None if job.progress is None else ProgressView(
            fraction=job.progress.fraction, message=job.progress.message,
            at=cast("Any", moment(job.progress.at)))
        steps.append(UploadStep(name=cast("Any", name), state=cast("Any", job.state.value),
                                progress=progress))
    return steps


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than the limit of {limit} bytes",
                    {FIELD: f"must be at most {limit} bytes"})


def _boundary() -> bytes:
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type",
                       f"send the upload as multipart/form-data with a field named {FIELD!r}",
                       {FIELD: "required, in a multipart/form-data body"})
    try:
        return boundary_from_content_type(request.headers.get("Content-Type"))
    except MultipartError as exc:
        raise ApiError(422, "invalid", f"invalid multipart Content-Type: {exc}",
                       {FIELD: "could not be read: bad multipart boundary"}) from None


async def _receive_file(parser: MultipartParser, writer: UploadWriter, body_limit: int) -> str:
    """Stream the body, writing the ``file`` part; the client's file name for it."""
    filename: str | None = None
    in_file = False
    received = 0
    async for chunk in request.body:
        received += len(chunk)
        if received > body_limit:
            raise TooLarge(writer.max_bytes)
        for event in parser.feed(chunk):
            if isinstance(event, PartStart):
                in_file = event.name == FIELD
                if in_file and filename is not None:
                    raise ApiError(422, "invalid", f"more than one {FIELD!r} part",
                                   {FIELD: "send exactly one file"})
                if in_file:
                    filename = event.filename or ""
            elif isinstance(event, PartData):
                if in_file:
                    await writer.write(event.data)
            elif isinstance(event, PartEnd):
                in_file = False
    parser.close()
    if filename is None:
        raise ApiError(422, "invalid", f"the form has no {FIELD!r} field",
                       {FIELD: "required: the file to upload"})
    return filename


@blueprint.post("/api/uploads")
@operation(summary="Upload a file", tag="uploads", upload_field=FIELD,
           answers={202: UploadAccepted}, location=True, links=(
               Link(name="GetUpload", endpoint="uploads.get_upload_by_id",
                    parameter="upload_id"),))
async def post_upload() -> Response:
    """Store the ``file`` part and queue its processing: 202 with the pending upload."""
    try:
        upload = await _store_upload()
    except ApiError:
        await _discard_rest_of_body()
        raise
    accepted = UploadAccepted(id=upload.id, filename=upload.filename, status="pending")
    return json_answer(accepted, 202, {"Location": f"/api/uploads/{upload.id}"})


async def _store_upload() -> Upload:
    state = app_state()
    limit = state.settings.upload_max_bytes
    parser = MultipartParser(_boundary())
    body_limit = limit + FORM_OVERHEAD_BYTES
    if request.content_length is not None and request.content_length > body_limit:
        raise _too_large(limit)
    upload_id = uuid.uuid4()
    try:
        async with UploadWriter(state.settings.upload_dir, upload_id.hex,
                                max_bytes=limit) as writer:
            filename = await _receive_file(parser, writer, body_limit)
            await writer.commit()
            return await create_upload(
                state.store, upload_id=upload_id, filename=display_filename(filename),
                stored_name=upload_id.hex,
            )
    except TooLarge:
        raise _too_large(limit) from None
    except MultipartError as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from None


async def _discard_rest_of_body() -> None:
    """Read and drop what the client still sends (within a budget) before an error answer.

    A client still writing its body when the server answers and closes may see a reset instead
    of the answer; draining a bounded amount lets ordinary clients read the error.
    """
    declared = request.content_length
    if declared is not None and declared > DRAIN_MAX_BYTES + FORM_OVERHEAD_BYTES + (
        app_state().settings.upload_max_bytes
    ):
        return
    drained = 0
    with trio.move_on_after(DRAIN_MAX_SECONDS):
        async for chunk in request.body:
            drained += len(chunk)
            if drained > DRAIN_MAX_BYTES:
                return


@blueprint.get("/api/uploads/<upload_id>")
@operation(summary="Read an upload", tag="uploads", answers={200: UploadView}, path=(
    Param(name="upload_id", schema={"type": "string", "format": "uuid"},
          description="The upload's id (anything else is 404)."),))
async def get_upload_by_id(upload_id: str) -> Response:
    """The upload and, once processed, what its bytes are; 404 if unknown or not a UUID."""
    uid = parse_uuid(upload_id, "upload")
    upload = await get_upload(app_state().store, uid)
    if upload is None:
        raise ApiError(404, "not_found", f"no upload {uid}")
    return json_answer(UploadView.of(upload, await upload_steps(app_state().store, upload)))


#: Thumbnails never change: they are made from the upload's bytes, which never change.
THUMBNAIL_CACHE = "public, max-age=31536000, immutable"


def _no_thumbnail(upload: Upload) -> str:
    if upload.status == "pending":
        return "it is not processed yet"
    if upload.status == "failed":
        return f"its processing failed ({upload.error})"
    if not (upload.content_type or "").startswith("image/"):
        return f"it is not an image ({upload.content_type})"
    return "; ".join(upload.notes) or "none was made"


@blueprint.get("/api/uploads/<upload_id>/thumbnail")
@operation(summary="Read an upload's thumbnail", tag="uploads",
           answers={200: ("image/png", "image/jpeg")}, path=(
               Param(name="upload_id", schema={"type": "string", "format": "uuid"},
                     description="The upload's id (anything else is 404)."),))
async def get_upload_thumbnail(upload_id: str) -> Response:
    """The thumbnail of an image upload (at most 256 pixels a side; JPEG for a JPEG, else PNG)
    once processed; 404 naming what is missing: the upload, or its thumbnail (not yet
    processed, not an image, or an image that could not be read)."""
    uid = parse_uuid(upload_id, "upload")
    state = app_state()
    upload = await get_upload(state.store, uid)
    if upload is None:
        raise ApiError(404, "not_found", f"no upload {uid}")
    if upload.thumbnail_type is None:
        raise ApiError(404, "not_found", f"upload {uid} has no thumbnail: {_no_thumbnail(upload)}")
    path = thumbnail_path(state.settings.upload_dir, upload.stored_name)
    try:
        data = await trio.to_thread.run_sync(path.read_bytes)
    except FileNotFoundError:
        raise ApiError(404, "not_found",
                       f"upload {uid} has no thumbnail: its file is missing") from None
    return Response(data, status=200, content_type=upload.thumbnail_type,
                    headers={"Cache-Control": THUMBNAIL_CACHE})
