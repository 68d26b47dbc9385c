"""The app's transaction on PostgreSQL: one pooled connection held from BEGIN to COMMIT.

App SQL is written once with ``?`` placeholders (see :mod:`.placeholders`), so the app's
repositories run unchanged on SQLite and PostgreSQL.

One difference from SQLite, by PostgreSQL's design: after a statement fails inside a
transaction, the whole transaction is aborted. Later statements raise ``StoreError``, and a block
that swallowed the error and exits normally is rolled back and raises ``StoreError`` rather than
pretending to commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import psycopg
import trio
from psycopg.pq import TransactionStatus

from .._errors import StoreError
from .._push import Pusher
from .._store import InsertResult, JobInsert, PushResult, Transaction, Wake, wake_for
from . import inserts
from .placeholders import to_psycopg

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._clock import Clock
    from .connection import Conn
    from .pool import PoolDriver


class NotifyingStore(Protocol):
    """What a transaction needs of its store: the clock, and where its pushes are announced."""

    @property
    def clock(self) -> Clock: ...

    @property
    def channel(self) -> str: ...

    @property
    def origin(self) -> str: ...


def app_query(conn: Conn, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run one statement of the app's (already translated) SQL; the rows it returns, if any."""
    cursor = conn.execute(sql, params)
    return list(cursor.fetchall()) if cursor.description is not None else []


def begin(conn: Conn) -> None:
    """Open the transaction (the connection is otherwise in autocommit)."""
    conn.execute("BEGIN")


def commit(conn: Conn) -> None:
    """COMMIT, unless a failed statement aborted the transaction: then roll back and say so."""
    if conn.info.transaction_status == TransactionStatus.INERROR:
        conn.execute("ROLLBACK")
        raise StoreError(
            "the transaction was rolled back: a statement in it failed (see the error raised"
            " inside the block)"
        )
    conn.execute("COMMIT")


def rollback(conn: Conn) -> None:
    """ROLLBACK if a transaction is open; a connection that broke is the pool's to replace."""
    if conn.broken or conn.closed:
        return
    if conn.info.transaction_status != TransactionStatus.IDLE:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()  # the pool replaces it; the block's own error is what matters


class PostgresTransaction(Pusher):
    """An open transaction (``PostgresStore.transaction``): app SQL and pushes, committed together.

    Statements run one at a time even if several tasks share the object.
    """

    def __init__(self, store: NotifyingStore, driver: PoolDriver, conn: Conn) -> None:
        self._store = store
        self._driver = driver
        self._conn = conn
        self._lock = trio.Lock()
        self.clock = store.clock
        self.wake: Wake | None = None  # whom the pushes wake once committed
        self.open = True

    def _check_open(self) -> None:
        if not self.open:
            raise StoreError("this transaction is already committed or rolled back")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement of the app's own SQL (``?`` placeholders) inside the transaction."""
        self._check_open()
        async with self._lock:
            self._check_open()
            return await self._driver.run_on(
                self._conn, app_query, to_psycopg(sql), tuple(params)
            )

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement inside the transaction; it sees the transaction's writes."""
        return await self.execute(sql, params)

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        """Insert jobs in this transaction; workers hear of them when it commits."""
        self._check_open()
        if not jobs:
            return []
        async with self._lock:
            self._check_open()
            results, wake = await self._driver.run_on(
                self._conn, inserts.insert_many_and_wake, jobs, self._store.channel,
                self._store.origin,
            )
        if wake is not None:
            self.wake = wake.merged(self.wake)
        return results

    async def job_insert_returning(self, job: JobInsert) -> PushResult:
        """Insert one job in this transaction and read its row back (``push_result``)."""
        self._check_open()
        async with self._lock:
            self._check_open()
            result = await self._driver.run_on(
                self._conn, inserts.insert_returning, job, self._store.channel,
                self._store.origin,
            )
        if result.inserted or result.replaced:
            self.wake = wake_for(job).merged(self.wake)
        return result


def _is_a_transaction(tx: PostgresTransaction) -> Transaction:
    """Never called: mypy checks here that the transaction fits the protocol."""
    return tx
