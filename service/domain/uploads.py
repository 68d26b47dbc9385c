"""The uploads repository: rows of the ``uploads`` table, and the client's file name for display.

A stored file lives at ``<upload_dir>/<stored_name>``; ``stored_name`` is chosen by the server
(a UUID's hex) and never derived from what the client sent. Recording an upload together with
its ``ProcessUpload`` job is a flow above the domain: :func:`service.flows.uploads.create_upload`.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

import attrs

from ..jobs import ServiceError

if TYPE_CHECKING:
    from pathlib import Path

    from .db import AppStore, AppTransaction
    from .sniff import FileFacts

FILENAME_MAX = 255
#: Shown when the client sent no usable file name.
DEFAULT_FILENAME = "upload"

_COLUMNS = (
    "id, filename, stored_name, status, size, sha256, content_type, error, created_at,"
    " processed_at, workflow_id, step_jobs, thumbnail_type, text_excerpt, notes"
)
#: Where an upload's thumbnail is kept, inside the upload directory.
THUMBNAIL_DIR = "thumbnails"
# Control, format (e.g. bidi overrides), surrogate and line/paragraph separator characters.
_UNPRINTABLE = ("Cc", "Cf", "Cs", "Zl", "Zp")


class StoredFileUnreadable(ServiceError, OSError):
    """The stored file of an upload is missing or cannot be read where this process looks for
    it (``<upload_dir>/<stored_name>``): a failed attempt of its ``ProcessUpload`` job."""


@attrs.frozen(kw_only=True)
class Upload:
    """An upload as stored. ``size``, ``sha256`` and ``content_type`` are set once processed.

    ``status`` follows its ``ProcessUpload`` job: ``pending`` while the job waits, runs or will
    be retried; ``processed`` once it completed; ``failed`` (with ``error``) once its last
    attempt failed and the job was discarded.
    """

    id: uuid.UUID
    filename: str
    stored_name: str
    status: str
    size: int | None
    sha256: str | None
    content_type: str | None
    error: str | None
    created_at: float
    processed_at: float | None
    #: The workflow processing it, and its steps' job ids by step name (empty before app:3).
    workflow_id: int | None = None
    step_jobs: dict[str, int] = attrs.field(factory=dict)
    #: Set once processed: the thumbnail's media type (None: no thumbnail), the start of the
    #: file's text (None: no text), and sentences on what was not made and why.
    thumbnail_type: str | None = None
    text_excerpt: str | None = None
    notes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Derived:
    """What an upload's processing made of it besides the :class:`FileFacts`."""

    thumbnail_type: str | None = None
    text_excerpt: str | None = None
    notes: tuple[str, ...] = ()


def thumbnail_path(upload_dir: Path, stored_name: str) -> Path:
    """Where the thumbnail of the upload stored as ``stored_name`` is written."""
    return upload_dir / THUMBNAIL_DIR / stored_name


def display_filename(raw: str | None) -> str:
    """The client's file name made safe to show: basename only, no control characters.

    Both ``/`` and ``\\`` count as separators; ``.`` and ``..`` are no name; the result is at
    most :data:`FILENAME_MAX` characters, or :data:`DEFAULT_FILENAME` if nothing is left.
    It is for display only: files are never stored under it.
    """
    text = "".join(
        ch for ch in (raw or "") if unicodedata.category(ch) not in _UNPRINTABLE
    )
    base = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        return DEFAULT_FILENAME
    return base[:FILENAME_MAX]


def _upload(row: tuple[Any, ...]) -> Upload:
    (id_, filename, stored_name, status, size, sha256, content_type, error, created_at,
     processed_at, workflow_id, step_jobs, thumbnail_type, text_excerpt, notes) = row
    return Upload(
        id=uuid.UUID(id_), filename=filename, stored_name=stored_name, status=status,
        size=size, sha256=sha256, content_type=content_type, error=error,
        created_at=float(created_at),
        processed_at=None if processed_at is None else float(processed_at),
        workflow_id=workflow_id, step_jobs=json.loads(step_jobs) if step_jobs else {},
        thumbnail_type=thumbnail_type, text_excerpt=text_excerpt,
        notes=tuple(json.loads(notes)) if notes else (),
    )


def new_upload(
    store: AppStore, *, upload_id: uuid.UUID, filename: str, stored_name: str
) -> Upload:
    """A ``pending`` upload not yet recorded, stamped with the store's current time."""
    return Upload(
        id=upload_id, filename=filename, stored_name=stored_name, status="pending", size=None,
        sha256=None, content_type=None, error=None, created_at=store.clock.now(),
        processed_at=None,
    )


async def insert_upload(tx: AppTransaction, upload: Upload) -> None:
    """Record ``upload`` as ``pending`` inside the open transaction ``tx``."""
    await tx.execute(
        "INSERT INTO uploads (id, filename, stored_name, status, created_at)"
        " VALUES (?, ?, ?, 'pending', ?)",
        (str(upload.id), upload.filename, upload.stored_name, upload.created_at),
    )


async def set_workflow(
    tx: AppTransaction, upload_id: uuid.UUID, workflow_id: int, step_jobs: dict[str, int]
) -> None:
    """Record, inside ``tx``, the workflow that processes the upload and its steps' job ids."""
    await tx.execute(
        "UPDATE uploads SET workflow_id = ?, step_jobs = ? WHERE id = ?",
        (workflow_id, json.dumps(step_jobs), str(upload_id)),
    )


async def get_upload(store: AppStore, upload_id: uuid.UUID) -> Upload | None:
    """The upload with ``upload_id``, or None."""
    rows = await store.query(f"SELECT {_COLUMNS} FROM uploads WHERE id = ?", (str(upload_id),))
    return _upload(rows[0]) if rows else None


async def mark_processed(
    store: AppStore, upload_id: uuid.UUID, facts: FileFacts, processed_at: float,
    derived: Derived | None = None,
) -> bool:
    """Store what the bytes are and what was made of them, and set ``processed``; False
    unless the upload was pending."""
    made = derived or Derived()
    async with store.transaction() as tx:
        rows = await tx.execute(
            "UPDATE uploads SET status = 'processed', size = ?, sha256 = ?, content_type = ?,"
            " thumbnail_type = ?, text_excerpt = ?, notes = ?,"
            " error = NULL, processed_at = ? WHERE id = ? AND status = 'pending' RETURNING id",
            (facts.size, facts.sha256, facts.content_type, made.thumbnail_type,
             made.text_excerpt, json.dumps(list(made.notes)) if made.notes else None,
             processed_at, str(upload_id)),
        )
    return bool(rows)


async def mark_failed(
    store: AppStore, upload_id: uuid.UUID, error: str, processed_at: float
) -> bool:
    """Set ``failed`` with ``error``; False unless the upload was pending."""
    async with store.transaction() as tx:
        rows = await tx.execute(
            "UPDATE uploads SET status = 'failed', error = ?, processed_at = ?"
            " WHERE id = ? AND status = 'pending' RETURNING id",
            (error, processed_at, str(upload_id)),
        )
    return bool(rows)


async def reopen_failed(tx: AppTransaction, upload_id: uuid.UUID) -> bool:
    """Set a ``failed`` upload ``pending`` again inside ``tx`` (its processing starts anew);
    False unless it was failed."""
    rows = await tx.execute(
        "UPDATE uploads SET status = 'pending', error = NULL, processed_at = NULL"
        " WHERE id = ? AND status = 'failed' RETURNING id",
        (str(upload_id),),
    )
    return bool(rows)


async def fail_pending_by_stored_name(
    store: AppStore, stored_name: str, error: str, processed_at: float
) -> bool:
    """Set the ``pending`` upload stored as ``stored_name`` ``failed`` with ``error``; False if
    there is none (an upload is recorded only once its file is complete)."""
    async with store.transaction() as tx:
        rows = await tx.execute(
            "UPDATE uploads SET status = 'failed', error = ?, processed_at = ?"
            " WHERE stored_name = ? AND status = 'pending' RETURNING id",
            (error, processed_at, stored_name),
        )
    return bool(rows)
