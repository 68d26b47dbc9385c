"""A second connection for long reads, so they never hold up the store's writes.

Counting jobs by state or listing them walks the table: hundreds of milliseconds on a
million-row history. On the store's one connection that would hold every push and claim back
for as long. WAL lets a reader see the last committed state while the writer goes on, so these
reads run here instead: on their own connection (opened on first use), in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import trio

from .._errors import StoreError
from .._runner import autojump_suspended
from .connection import connect, guarded_at

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

T = TypeVar("T")

#: The reader's page cache: its reads stream through the table once; a big cache buys nothing.
READER_CACHE_BYTES = 2 * 1024 * 1024


class ReadConnection:
    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = trio.Lock()  # one statement at a time on the connection
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        conn = connect(self._path, READER_CACHE_BYTES, create=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            self._conn = guarded_at(self._path, self._open)
        return guarded_at(self._path, fn, self._conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` on the reader connection, in a worker thread."""
        async with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            with autojump_suspended():
                return await trio.to_thread.run_sync(self._call, fn, *args,
                                                     abandon_on_cancel=False)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            async with self._lock:
                self._closed = True
                conn, self._conn = self._conn, None
                if conn is not None:
                    await trio.to_thread.run_sync(conn.close)
