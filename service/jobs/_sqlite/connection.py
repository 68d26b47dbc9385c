"""Opening a SQLite connection the way the engine needs it, and translating driver errors.

Everything here is synchronous and runs on the runner's thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConstraintViolation, StoreBusy, StoreError, StoreUnavailable
from .._migrations import Migration, pending

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")

BUSY_TIMEOUT_S = 10.0
_SQLITE_BUSY = 5
#: What :func:`try_transaction` returns when another connection holds the write lock.
BUSY = object()
#: Page cache and memory-mapped I/O by default. Claims walk a partial index of due jobs only,
#: so they stay as fast on a million-row table with this cache as with 128 MiB (bench/).
CACHE_BYTES = 8 * 1024 * 1024
MMAP_BYTES = 0


def connect(
    path: str,
    cache_bytes: int = CACHE_BYTES,
    mmap_bytes: int = MMAP_BYTES,
    wal_autocheckpoint: int | None = None,
    *,
    create: bool = True,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and our pragmas.

    ``wal_autocheckpoint``: pages of WAL after which a commit checkpoints (None: SQLite's 1,000).
    ``create=False`` opens only an existing file (``path`` should then be absolute).
    """
    target = path if create or path == ":memory:" else Path(path).as_uri() + "?mode=rw"
    conn = sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
        uri=not create,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _switch_to_wal(conn)
        if path != ":memory:" and str(mode).lower() != "wal":
            raise StoreUnavailable(f"could not switch {path} to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{max(1, int(cache_bytes) // 1024)}")
        conn.execute(f"PRAGMA mmap_size = {max(0, int(mmap_bytes))}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        if wal_autocheckpoint is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(wal_autocheckpoint)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``; the journal mode it reports.

    Switching a new file to WAL needs an exclusive lock, and SQLite asks for it without calling
    the busy handler: when several processes open a brand-new file at once, one of them can get
    "database is locked" straight away. So it is retried here, within the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # on the runner's thread, only while another process creates the file
        pause = min(pause * 2, 0.1)


def translate(exc: sqlite3.Error, path: str | None = None) -> StoreError:
    """The project's exception for a driver error (its message names SQLite's error code).

    With ``path``, a failure of the file itself (locked, read-only, unreadable, full, corrupt)
    names it: "unable to open database file" alone does not say which file.
    """
    name = getattr(exc, "sqlite_errorname", None)
    text = f"{exc} ({name})" if name else str(exc)
    lowered = text.lower()
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(text)
    where = f"SQLite database {path}: " if path and path != ":memory:" else ""
    if "locked" in lowered or "busy" in lowered:
        return StoreBusy(f"{where}database is locked by another writer: {text}")
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        word in lowered
        for word in ("readonly", "read-only", "disk i/o", "database or disk is full",
                     "unable to open", "disk image is malformed", "not a database")
    ):
        return StoreUnavailable(f"{where}{text}")
    return StoreError(text)


def guarded_at(path: str | None, fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` translating sqlite3 errors into the project's own; failures of the file
    itself name ``path``."""
    try:
        return fn(*args)
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc


def in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``BEGIN IMMEDIATE``; ``fn(conn, *args)``; ``COMMIT`` -- or ``ROLLBACK`` on any error.

    On a full disk or an I/O error SQLite may already have rolled the transaction back by
    itself; the error raised is then still the one that failed, not the ROLLBACK's "no
    transaction is active".
    """
    conn.execute("BEGIN IMMEDIATE")
    return _commit_after(conn, fn, *args)


def _commit_after(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """In an open transaction: ``fn(conn, *args)``, then ``COMMIT``; ``ROLLBACK`` on error."""
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        rollback_if_open(conn)
        raise
    return result


def try_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T | object:
    """:func:`in_transaction` that never waits: :data:`BUSY` at once if another connection
    (another process) holds the write lock, with nothing done."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except BaseException as exc:
        _restore_busy_timeout(conn)
        if isinstance(exc, sqlite3.OperationalError) and (
            getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY
        ):
            return BUSY
        raise

    def restored_then(c: sqlite3.Connection, *a: Any) -> T:
        _restore_busy_timeout(c)  # inside the transaction: a failure here rolls it back
        return fn(c, *a)

    return _commit_after(conn, restored_then, *args)


def set_busy_timeout(conn: sqlite3.Connection, milliseconds: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")


def begin_or_busy(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T | object:
    """:func:`try_transaction` on a connection whose ``busy_timeout`` is already 0 (the store
    keeps it there between short writes): the same result, two statements fewer."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY:
            return BUSY
        raise
    return _commit_after(conn, fn, *args)


def _restore_busy_timeout(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


def rollback_if_open(conn: sqlite3.Connection) -> None:
    """``ROLLBACK`` if a transaction is still open; a failure to do so is not the news."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection, migrations: Iterable[Migration], now: float) -> list[str]:
    """Apply pending steps (call inside a write transaction); the names of those applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
        " applied_at REAL NOT NULL, PRIMARY KEY (component, version))"
    )
    applied = {
        (str(c), int(v))
        for c, v in conn.execute("SELECT component, version FROM schema_migrations")
    }
    done = []
    for step in pending(migrations, applied, "sqlite"):
        for statement in step.statements["sqlite"]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (component, version, description, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (step.component, step.version, step.description, now),
        )
        done.append(f"{step.component}:{step.version}")
    return done
