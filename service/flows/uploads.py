"""Accepting an upload: its row and the workflow that processes it commit together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.uploads import Upload, insert_upload, new_upload
from ..tasks.process_upload import start_processing

if TYPE_CHECKING:
    import uuid

    from ..domain.db import AppStore


async def create_upload(
    store: AppStore, *, upload_id: uuid.UUID, filename: str, stored_name: str
) -> Upload:
    """Record a stored file as ``pending`` and push the workflow that processes it
    (``service.tasks.process_upload``), atomically."""
    upload = new_upload(store, upload_id=upload_id, filename=filename, stored_name=stored_name)
    async with store.transaction() as tx:
        await insert_upload(tx, upload)
        await start_processing(tx, upload)
    return upload
