"""Copying the write-ahead log back into the database file, on a thread of its own.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold (1,000 pages):
it copies the pages and fsyncs the database file -- 7-9 ms on our machines. The store's short
writes commit on the event loop's thread, so that would stall every task of the process a few
times a second under load. Instead the store turns the automatic checkpoint into a backstop
(:data:`BACKSTOP_PAGES`, for when this thread cannot keep up) and asks this thread for a
passive checkpoint after every :data:`CHECKPOINT_ROWS` changed rows. A passive checkpoint takes
no write lock: writers go on while it copies.

Under steady writes a passive checkpoint never leaves the log fully copied when the next
transaction starts, and SQLite only rewinds the log then: it would grow to the backstop. So
once the log passes :data:`RESTART_FRAMES` and the passive checkpoint copied all of it, a
``RESTART`` checkpoint follows. It holds the write lock while it copies the few frames written
since; the store's writes find the lock taken and wait on the store's thread, not on the event
loop's. The log then stays around 4,000-7,000 frames under sustained load, not 10,000.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from .._log import emit

logger = logging.getLogger("service.jobs")

#: Rows changed by the store between two checkpoint requests.
CHECKPOINT_ROWS = 2000
#: The store connection's own ``wal_autocheckpoint`` while a checkpointer runs (~40 MiB of WAL).
BACKSTOP_PAGES = 10_000
#: A log longer than this (frames) is restarted after the passive checkpoint has copied it.
RESTART_FRAMES = 4_000
#: How long the restart may wait for the write lock (ms); it tries again next time if it can't.
RESTART_WAIT_MS = 50


class Checkpointer:
    def __init__(self, path: str) -> None:
        self._uri = Path(path).as_uri() + "?mode=rw"  # the file as opened: never create one
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
                        conn = sqlite3.connect(self._uri, isolation_level=None, uri=True,
                                               check_same_thread=False)
                        conn.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")
                    [row] = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if int(row[1]) > RESTART_FRAMES and int(row[1]) == int(row[2]):
                        [row] = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
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
