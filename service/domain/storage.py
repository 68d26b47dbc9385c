"""Upload files on disk: written in chunks under a server-chosen name, size-limited as they go.

A file is written to ``.<name>.partial`` and renamed to ``<name>`` only when complete, so the
upload directory never shows a half-written file under a final name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import trio

from ..jobs import ServiceError

if TYPE_CHECKING:
    from types import TracebackType


class TooLarge(ServiceError, ValueError):
    """Raised by :meth:`UploadWriter.write` when the file would pass its size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


PARTIAL_SUFFIX = ".partial"


def stale_partials(upload_dir: Path, modified_before: float) -> list[tuple[Path, str]]:
    """The partial files in ``upload_dir`` last written before ``modified_before`` (epoch
    seconds), each with the stored name it was to get: uploads that never completed (their
    process died mid-stream). Blocking: call on a thread."""
    found = []
    try:
        entries = list(os.scandir(upload_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)) or not entry.is_file():
            continue
        try:
            modified = entry.stat().st_mtime
        except FileNotFoundError:  # completed or removed meanwhile
            continue
        if modified < modified_before:
            found.append((Path(entry.path), name[1:-len(PARTIAL_SUFFIX)]))
    return found


def remove_file(path: Path) -> None:
    """Delete ``path`` if it is still there. Blocking: call on a thread."""
    path.unlink(missing_ok=True)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "xb")


def _remove(file: BinaryIO | None, *paths: Path) -> None:
    if file is not None:
        file.close()
    for path in paths:
        path.unlink(missing_ok=True)


class UploadWriter:
    """Streams one file into ``upload_dir`` as ``stored_name`` (which must be a plain name).

    Use as ``async with``: leaving the block without :meth:`commit` (an error, a cancellation,
    a :class:`TooLarge`) deletes the partial file.
    """

    def __init__(self, upload_dir: Path, stored_name: str, *, max_bytes: int) -> None:
        if not stored_name or Path(stored_name).name != stored_name or stored_name[0] == ".":
            raise ValueError(f"stored_name must be a plain file name, got {stored_name!r}")
        self.path = upload_dir / stored_name
        self.partial_path = upload_dir / f".{stored_name}{PARTIAL_SUFFIX}"
        self.max_bytes = max_bytes
        self.size = 0
        self._file: BinaryIO | None = None
        self._committed = False

    async def __aenter__(self) -> UploadWriter:
        self._file = await trio.to_thread.run_sync(_create, self.partial_path)
        return self

    async def write(self, data: bytes) -> None:
        """Append ``data``; :class:`TooLarge` (nothing written) if the limit would be passed."""
        if self.size + len(data) > self.max_bytes:
            raise TooLarge(self.max_bytes)
        if data and self._file is not None:
            await trio.to_thread.run_sync(self._file.write, data)
            self.size += len(data)

    async def commit(self) -> Path:
        """Flush, close and move the file to its final name; the final path."""
        file, self._file = self._file, None
        if file is not None:
            await trio.to_thread.run_sync(file.close)
        await trio.to_thread.run_sync(os.replace, self.partial_path, self.path)
        self._committed = True
        return self.path

    async def discard(self) -> None:
        """Delete the file, partial or final (e.g. when recording it failed)."""
        file, self._file = self._file, None
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_remove, file, self.partial_path, self.path)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or not self._committed:
            await self.discard()
