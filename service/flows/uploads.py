"""Accepting an upload: its row and its ``ProcessUpload`` job commit together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.uploads import Upload, insert_upload, new_upload
from ..tasks.process_upload import ProcessUpload

if TYPE_CHECKING:
    import uuid

    from ..domain.db import AppStore


async def create_upload(
    store: AppStore, *, upload_id: uuid.UUID, filename: str, stored_name: str
) -> Upload:
    """Record a stored file as ``pending`` and push its ``ProcessUpload`` job, atomically."""
    upload = new_upload(store, upload_id=upload_id, filename=filename, stored_name=stored_name)
    async with store.transaction() as tx:
        await insert_upload(tx, upload)
        await tx.push(ProcessUpload(upload_id=upload.id))
    return upload
