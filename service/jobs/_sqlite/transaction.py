"""The app's transaction on SQLite: ``BEGIN IMMEDIATE`` on the store's one connection, held by
the store's lock from BEGIN to COMMIT (``SQLiteStore.transaction``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .._errors import StoreError
from .._push import Pusher
from .._store import InsertResult, JobInsert, PushResult, Transaction, Wake, wake_for, wake_of
from . import graph, inserts

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Awaitable, Callable, Sequence

    from .._clock import Clock
    from .._store import WorkflowInsert, WorkflowInserted

T = TypeVar("T")


class Call(Protocol):
    """How a transaction runs ``fn(conn, *args)`` on the store's connection (the store's own
    ``_call``: on its runner, the transaction holding the store's lock)."""

    def __call__(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]: ...


def app_query(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def execute(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql)


def _insert_and_wake(
    conn: sqlite3.Connection, jobs: Sequence[JobInsert]
) -> tuple[list[InsertResult], Wake | None]:
    results = inserts.insert_many(conn, jobs)
    return results, wake_of(jobs, results)


class SQLiteTransaction(Pusher):
    """A ``BEGIN IMMEDIATE`` transaction on the store's connection (``SQLiteStore.transaction``)."""

    def __init__(self, clock: Clock, call: Call) -> None:
        self._call = call
        self.clock = clock
        self.wake: Wake | None = None  # whom the pushes wake once committed
        self.open = True

    def _check_open(self) -> None:
        if not self.open:
            raise StoreError("this transaction is already committed or rolled back")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement of the app's own SQL inside the transaction."""
        self._check_open()
        return await self._call(app_query, sql, params)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement inside the transaction; it sees the transaction's writes."""
        return await self.execute(sql, params)

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        self._check_open()
        results, wake = await self._call(_insert_and_wake, jobs)
        if wake is not None:
            self.wake = wake.merged(self.wake)
        return results

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        self._check_open()
        inserted, wake = await self._call(graph.insert_workflow, plan)
        if wake is not None:
            self.wake = wake.merged(self.wake)
        return inserted

    async def job_insert_returning(self, job: JobInsert) -> PushResult:
        self._check_open()
        result = await self._call(inserts.insert_returning, job)
        if result.inserted or result.replaced:
            self.wake = wake_for(job).merged(self.wake)
        return result


def _is_a_transaction(tx: SQLiteTransaction) -> Transaction:
    """Never called: see :func:`.store._is_a_job_store`."""
    return tx
