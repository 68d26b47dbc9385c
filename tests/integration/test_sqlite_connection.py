"""The SQLite boundary: write transactions, waiting for other writers, translating errors."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing
from support.conformance import Email
from support.waiting import wait_until

from service.jobs import JobFilter, JobState, SQLiteStore, StoreError, StoreUnavailable
from service.jobs._sqlite.checkpointer import BACKSTOP_PAGES, CHECKPOINT_ROWS
from service.jobs._sqlite.connection import (
    BUSY,
    BUSY_TIMEOUT_S,
    connect,
    guarded_at,
    in_transaction,
    try_transaction,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(str(tmp_path / "x.db"))
    yield connection
    connection.close()


def test_a_transaction_sqlite_rolled_back_by_itself_reports_the_error_that_failed_it(
    conn: sqlite3.Connection,
) -> None:
    # On a full disk or an I/O error SQLite may roll the transaction back itself before the
    # error reaches us; the ROLLBACK that follows must not replace it with "no transaction".
    conn.execute("CREATE TABLE t (x)")

    def fails_like_a_full_disk(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        c.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreUnavailable, match="database or disk is full"):
        guarded_at(None, in_transaction, conn, fails_like_a_full_disk)
    assert not conn.in_transaction
    guarded_at(None, in_transaction, conn, lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]


def test_a_translated_error_names_sqlites_error_code(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (x UNIQUE)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(Exception, match=r"UNIQUE constraint failed: t\.x \(SQLITE_CONSTRAINT"):
        guarded_at(None, conn.execute, "INSERT INTO t VALUES (1)")


def test_a_write_that_would_wait_for_another_writer_is_reported_busy_with_nothing_done(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    conn.execute("CREATE TABLE t (x)")
    other = sqlite3.connect(str(tmp_path / "x.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert try_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES (1)")) is BUSY
        assert not conn.in_transaction
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert try_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount) == 1
    assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)


async def test_a_push_while_another_process_writes_waits_off_the_event_loop(
    tmp_path: Path,
) -> None:
    # Pushes normally run on the event loop's thread (the store's thread is idle then); when
    # another process holds the write lock the push must wait on the store's thread instead,
    # leaving the event loop free, and land once the lock is released.
    async with SQLiteStore(tmp_path / "jobs.db") as store:
        other = sqlite3.connect(str(tmp_path / "jobs.db"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        pushed: list[int] = []
        try:
            async with trio.open_nursery() as nursery:

                async def push() -> None:
                    pushed.append(await store.push(Email(to="a@example.com")))

                nursery.start_soon(push)
                await trio.testing.wait_all_tasks_blocked()
                assert pushed == [], "the push waits for the other writer"
                other.execute("COMMIT")
        finally:
            other.close()
        [job] = await store.job_list(JobFilter())
        assert pushed == [job.id]


async def test_a_push_after_a_call_on_the_store_thread_still_never_waits_on_the_event_loop(
    tmp_path: Path,
) -> None:
    # The write connection waits for other processes' locks only on the store's thread: its
    # busy_timeout is switched to 0 for a push on the event loop and back for a thread call,
    # once per switch rather than around every write.
    async with SQLiteStore(tmp_path / "jobs.db") as store:
        conn = store._conn  # type: ignore[attr-defined]
        first = await store.push(Email(to="a@example.com"))
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (0,)
        await store.job_get(first)  # a call on the store's thread
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)
        other = sqlite3.connect(str(tmp_path / "jobs.db"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        pushed: list[int] = []
        started = time.monotonic()
        try:
            async with trio.open_nursery() as nursery:

                async def push() -> None:
                    pushed.append(await store.push(Email(to="b@example.com")))

                nursery.start_soon(push)
                await trio.testing.wait_all_tasks_blocked()
                # Had the push waited for the lock on the event loop, this would come only
                # after busy_timeout (10 s), with the push already failed over to the thread.
                assert time.monotonic() - started < BUSY_TIMEOUT_S / 2
                assert pushed == [], "the push waits for the other writer, off the event loop"
                other.execute("COMMIT")
        finally:
            other.close()
        assert len(await store.job_list(JobFilter())) == 2


async def test_a_long_read_does_not_hold_up_pushes(tmp_path: Path) -> None:
    # Counting or listing a big history walks the table; it runs on the store's second (read)
    # connection, so pushes go on meanwhile. The read is held open here by a gate.
    gate = threading.Event()

    def slow_count(conn: sqlite3.Connection) -> int:
        gate.wait(timeout=30)
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])

    async with SQLiteStore(tmp_path / "jobs.db") as store:
        await store.push(Email(to="before@example.com"))
        counted: list[int] = []
        async with trio.open_nursery() as nursery:

            async def count() -> None:
                counted.append(await store._long_read(slow_count))

            nursery.start_soon(count)
            await trio.testing.wait_all_tasks_blocked()
            ids = [await store.push(Email(to=f"u{n}@example.com")) for n in range(20)]
            assert (await store.job_get(ids[-1])).state == JobState.AVAILABLE
            assert counted == [], "the read is still going"
            gate.set()
        assert len(ids) == 20
        assert counted[0] in range(1, 22)
        assert sum((await store.job_count_by_state()).values()) == 21


async def test_the_write_ahead_log_is_checkpointed_off_the_event_loop(tmp_path: Path) -> None:
    # SQLite's own automatic checkpoint (copy + fsync, milliseconds) would run inside a commit
    # on the event loop's thread; the store's checkpointer thread does it instead, and the
    # automatic one is only a distant backstop.
    path = tmp_path / "jobs.db"
    async with SQLiteStore(path) as store:
        [(backstop,)] = await store.query("PRAGMA wal_autocheckpoint")
        assert backstop == BACKSTOP_PAGES
        checkpointer = store._checkpointer
        assert checkpointer is not None
        for _ in range(3):
            await store.push_many([Email(to=f"u{n}@example.com") for n in range(CHECKPOINT_ROWS)])
        await wait_until("two checkpoints", lambda: checkpointer.done, lambda done: done >= 2,
                         within=30, poll=0.01)
        assert checkpointer.last is not None
        _busy, log, copied = checkpointer.last
        assert copied > 0, "the log's pages were copied into the database"
        assert log > 0, "the log had pages"
    assert checkpointer._thread is not None
    assert not checkpointer._thread.is_alive()


async def test_an_open_cancelled_midway_leaves_a_store_that_opens_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.open)
        await trio.testing.wait_all_tasks_blocked()  # opening: a call on the store's thread
        nursery.cancel_scope.cancel()
    async with store:
        await store.push(Email(to="a@example.com"))
        assert len(await store.job_list(JobFilter())) == 1


async def test_long_reads_inside_the_tasks_own_transaction_are_refused(tmp_path: Path) -> None:
    # They would run on the other connection and miss the transaction's own rows.
    async with SQLiteStore(tmp_path / "jobs.db") as store, store.transaction() as tx:
        await tx.push(Email(to="a@example.com"))
        with pytest.raises(StoreError, match="transaction"):
            await store.job_list(JobFilter())
        with pytest.raises(StoreError, match="transaction"):
            await store.job_count_by_state()


async def test_the_read_connection_never_creates_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with SQLiteStore(path) as store:
        for suffix in ("", "-wal", "-shm"):
            await trio.Path(f"{path}{suffix}").unlink()
        with pytest.raises(StoreError):
            await store.job_count_by_state()
        assert not await trio.Path(path).exists(), "no empty database appeared in its place"
