"""Copying the write-ahead log back into the database file, on a thread of its own.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold (1,000 pages):
it copies the pages and fsyncs the database file -- 7-9 ms on our machines. The store's short
writes commit on the event loop's thread, so that would stall every task of the process a few
times a second under load. Instead the store turns the automatic checkpoint into a backstop
(:data:`BACKSTOP_PAGES`, for when this thread cannot keep up) and asks this thread for a
passive checkpoint after every :data:`CHECKPOINT_ROWS` changed rows. A passive checkpoint takes
no write lock: writers go on while it copies.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

from ..log import emit

logger = logging.getLogger("service.jobs")

#: Rows changed by the store between two checkpoint requests.
CHECKPOINT_ROWS = 2000
#: The store connection's own ``wal_autocheckpoint`` while a checkpointer runs (~40 MiB of WAL).
BACKSTOP_PAGES = 10_000


class Checkpointer:
    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Checkpoints completed (whether or not they could copy every frame), and the last
        #: one's (busy, frames in the log, frames copied).
        self.done = 0
        self.last: tuple[int, int, int] | None = None
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="service-db-checkpoint",
                                        daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint soon (returns at once; requests made meanwhile merge)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread and wait for it (blocking: call from a worker thread)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._path, isolation_level=None,
                                               check_same_thread=False)
                    [row] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.last = (int(row[0]), int(row[1]), int(row[2]))
                    self.done += 1
                    if self._failing:
                        self._failing = False
                        emit(logger, logging.INFO, "store.checkpoint_recovered")
                except sqlite3.Error as exc:
                    # A full disk or a read-only file: the store's own writes report it; the
                    # backstop checkpoint takes over if this keeps failing. Said once.
                    if not self._failing:
                        self._failing = True
                        emit(logger, logging.WARNING, "store.checkpoint_failed", error=str(exc))
                    if conn is not None:
                        with contextlib.suppress(sqlite3.Error):
                            conn.close()
                    conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
