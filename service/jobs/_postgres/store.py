"""The PostgreSQL :class:`~service.jobs._store.JobStore`: many processes on many hosts.

Same protocol and semantics as the SQLite store. Driver calls run in worker threads on pooled
connections (:mod:`.pool`); wake-ups travel by LISTEN/NOTIFY (:mod:`.notify`).
"""

from __future__ import annotations

import functools
import secrets
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from .._clock import Clock, SystemClock
from .._errors import StoreError
from .._limits import LimitedClaim, Limits, QueueLimitsRow
from .._listeners import Listeners
from .._paging import list_in_pages
from .._push import InsertStream, Pusher, free_in_slices
from .._states import FINISHED, JobState
from .._store import (
    BulkBatch,
    CancelListener,
    ClaimedJob,
    InsertResult,
    JobFilter,
    JobInsert,
    JobRow,
    JobStats,
    JobStore,
    PushListener,
    PushResult,
    Rescued,
    ScheduleDefinition,
    ScheduleRow,
    SetStateIfRunning,
    TickInsert,
    Wake,
    WorkerBeat,
    WorkerRow,
    wake_for,
    wake_of_jobs,
)
from .._waiting import OutcomeSignal, wait_final
from . import bulk, graph, inserts, queries, schedules
from . import limits as flow
from .connection import channel_name, check_schema, conninfo, migrate
from .copy import CopyStream
from .notify import DUE, FINAL_PAYLOAD, NotifyListener, cancelled_in, earliest_by_task
from .placeholders import to_psycopg
from .pool import PoolDriver
from .schema import MIGRATIONS
from .transaction import PostgresTransaction, app_query, begin, commit, rollback

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

    from .._dependency import Dependency
    from .._migrations import Migration
    from .._progress import ProgressUpdate
    from .._runner import Pending
    from .._store import WorkflowInsert, WorkflowInserted
    from .connection import Conn

T = TypeVar("T")


def _abort_copy(copy: CopyStream, conn: Conn) -> None:
    copy.abort()
    rollback(conn)


class _InsertStream:
    """``PostgresStore.job_insert_stream``: each chunk is copied in a worker thread while the
    caller builds the next one; one chunk in flight at a time."""

    def __init__(self, store: PostgresStore, driver: PoolDriver, conn: Conn,
                 copy: CopyStream) -> None:
        self._store = store
        self._driver = driver
        self._conn = conn
        self._copy = copy
        self._announced = inserts.Announcement()
        self._pending: Pending[None] | None = None
        #: Set once the connection is given back (committed, or failed and rolled back).
        self.released = False
        self.ids: list[int] = []
        self.wake: Wake | None = None

    async def send(self, rows: list[JobInsert]) -> None:
        await self.settle()
        self._pending = self._driver.start_on(self._conn, inserts.stream_write, self._copy,
                                              self._announced, rows)

    async def settle(self) -> None:
        """Wait for the chunk being copied, if any (its error is raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending.result()

    async def commit(self) -> list[int]:
        """End the copy, settle the keyed rows, NOTIFY and commit: one thread call, which
        gives the connection back to the pool whatever happens."""
        await self.settle()
        await trio.lowlevel.checkpoint_if_cancelled()  # nothing is committed yet
        self.released = True
        with trio.CancelScope(shield=True):
            await self._driver.release(self._conn, self._finish_and_commit)
        # The copy keeps every row it wrote (100,000 of them freed at once held the loop for
        # ~10 ms): a slice at a time, while the collector is still paused.
        await free_in_slices(self._copy.jobs)
        return self.ids

    def _finish_and_commit(self, conn: Conn) -> None:  # in the worker thread
        store = self._store
        self.ids, self.wake = inserts.stream_finish(conn, self._copy, self._announced,
                                                    store.channel, store.origin)
        commit(conn)


class PostgresStore(Pusher):
    """Jobs in a PostgreSQL database, shared by every process that opens the same URL and schema.

    ``url``: a libpq URL or conninfo (``postgresql://user@host:5432/db``). ``schema``: the
    schema holding the tables (created if missing, and put on the ``search_path`` of every
    connection); None uses the server's default ``search_path``. ``migrations`` adds the
    application's own steps (their ``statements["postgresql"]``) to the engine's, applied by
    :meth:`open`. ``min_size``/``max_size`` bound the connection pool, ``acquire_timeout`` how
    long a call waits for a connection before ``StoreUnavailable``. ``listen=False`` skips the
    LISTEN connection (a process that only pushes needs none).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        migrations: Iterable[Migration] = (),
        min_size: int = 1,
        max_size: int = 8,
        acquire_timeout: float = 5.0,
        listen: bool = True,
        application_name: str = "service",
    ) -> None:
        if not 1 <= min_size <= max_size:
            raise ValueError(f"need 1 <= min_size <= max_size, got {min_size} and {max_size}")
        self.schema = check_schema(schema)
        self.clock: Clock = clock or SystemClock()
        self._info = conninfo(url, self.schema, application_name)
        self._migrations = [*MIGRATIONS, *migrations]
        self._pool_options: dict[str, Any] = {
            "min_size": min_size, "max_size": max_size, "acquire_timeout": acquire_timeout,
            "name": f"service-jobs-{self.schema or 'default'}",
        }
        self._driver: PoolDriver | None = None
        self.channel = channel_name(self.schema)
        #: Names this store in its NOTIFY payloads, so it skips its own.
        self.origin = secrets.token_hex(8)
        self._listen = listen
        self._listener: NotifyListener | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._open = False
        self._tx_tasks: set[trio.lowlevel.Task] = set()
        self._listeners = Listeners()
        self._outcomes = OutcomeSignal()
        self.applied_migrations: list[str] = []

    # -- plumbing ---------------------------------------------------------------------------

    def _usable_driver(self) -> PoolDriver:
        if not self._open or self._driver is None:
            raise StoreError("the store is not open")
        if trio.lowlevel.current_task() in self._tx_tasks:
            raise StoreError(
                "this task has a store.transaction() open: use the transaction's own methods"
                " (tx.execute, tx.push) inside it"
            )
        return self._driver

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` on a pooled connection, in a worker thread."""
        return await self._usable_driver().run(fn, *args)

    def _notify(self, wake: Wake | None) -> None:
        self._listeners.tell_wake(wake)

    def _notify_task(self, task: str, run_at: float) -> None:
        self._listeners.tell_tasks([task], run_at)

    def _notify_released(self, tasks: set[str]) -> None:
        """Wake ``job_wait`` callers, and local listeners for dependents an outcome released."""
        self._outcomes.set()
        self._listeners.tell_tasks(tasks, self.clock.now())

    def _notify_cancelled(self, job_ids: Sequence[int], released: set[str]) -> None:
        """After an operator's cancel committed: stop those jobs where they run here (the
        cancel's NOTIFY tells the other processes)."""
        self._listeners.tell_cancelled(frozenset(job_ids))
        self._notify_released(released)

    def _remote_cancel(self, job_ids: frozenset[int] | None) -> None:
        if self._open:
            self._listeners.tell_cancelled(job_ids)

    def _remote(self, earliest: dict[str, float]) -> None:
        """On the trio thread: tell local listeners of pushes other stores made."""
        if self._open:
            for task, run_at in earliest.items():
                self._notify_task(task, self.clock.now() if run_at == DUE else run_at)

    def _from_listener(self, payloads: list[str]) -> None:
        """In the listener's thread: hand other stores' pushes to the trio thread."""
        earliest = earliest_by_task(payloads, self.origin)
        token = self._token
        if FINAL_PAYLOAD in payloads and token is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(self._outcomes.set)
        if earliest and token is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(self._remote, earliest)
        cancelled = cancelled_in(payloads, self.origin)
        if (cancelled is None or cancelled) and token is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(self._remote_cancel, cancelled)

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, bring the schema up to date and start listening (idempotent)."""
        if self._open:
            return
        self._token = trio.lowlevel.current_trio_token()
        driver = self._driver = PoolDriver(self._info, **self._pool_options)
        await driver.open()
        self._open = True
        try:
            self.applied_migrations = await self._call(
                migrate, self._migrations, self.schema, self.clock.now()
            )
            if self._listen:
                listener = NotifyListener(self._info, self.channel, self._from_listener)
                await driver.blocking(listener.start)
                self._listener = listener
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop listening and close every connection (shielded)."""
        self._open = False
        listener, self._listener = self._listener, None
        driver, self._driver = self._driver, None
        if driver is None:
            return
        with trio.CancelScope(shield=True):
            if listener is not None:
                await driver.blocking(listener.stop)
            await driver.aclose()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def add_push_listener(
        self, listener: PushListener, tasks: Iterable[str] | None = None
    ) -> None:
        """Call ``listener`` after each committed insert, here or in another process (every
        task's: a NOTIFY reaches every listener of the channel)."""
        self._listeners.add_push(listener, tasks)

    def remove_push_listener(self, listener: PushListener) -> None:
        """Stop calling ``listener`` (a no-op if it was never added)."""
        self._listeners.remove_push(listener)

    def add_cancel_listener(self, listener: CancelListener) -> None:
        """Call ``listener`` after an operator's cancel, here or in another process."""
        self._listeners.add_cancel(listener)

    def remove_cancel_listener(self, listener: CancelListener) -> None:
        self._listeners.remove_cancel(listener)

    # -- app SQL ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        """One transaction, on one connection held for its whole span, for app rows and pushes.

        Commits when the block exits normally, rolls back on any exception (cancellation
        included, shielded). Jobs pushed through it wake workers only after the commit: local
        listeners are called then, and PostgreSQL delivers the NOTIFY to other processes then.
        """
        driver = self._usable_driver()
        task = trio.lowlevel.current_task()
        async with driver.slots:
            self._tx_tasks.add(task)
            try:
                conn = await driver.acquire(begin)
                tx = PostgresTransaction(self, driver, conn)
                try:
                    yield tx
                except BaseException:
                    tx.open = False
                    with trio.CancelScope(shield=True):
                        await driver.release(conn, rollback)
                    raise
                tx.open = False
                with trio.CancelScope(shield=True):
                    await driver.release(conn, commit)
            finally:
                self._tx_tasks.discard(task)
        self._notify(tx.wake)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement of the app's own SQL (``?`` placeholders)."""
        return await self._call(app_query, to_psycopg(sql), tuple(params))

    # -- JobStore ---------------------------------------------------------------------------

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        if not jobs:
            return []
        results, wake = await self._call(inserts.insert_many_committed_and_wake, jobs,
                                         self.channel, self.origin)
        self._notify(wake)
        return results

    def job_insert_stream(self, expected: int | None
                          ) -> AbstractAsyncContextManager[InsertStream]:
        return self._insert_stream(expected)

    @asynccontextmanager
    async def _insert_stream(self, expected: int | None) -> AsyncIterator[InsertStream]:
        """A transaction on a held connection whose ``COPY`` takes ``push_many``'s rows while
        it builds the next ones (the server inserts them meanwhile); rolled back unless
        committed."""
        driver = self._usable_driver()
        async with driver.slots:
            conn = await driver.acquire(begin)
            copy = CopyStream(conn, expected)
            stream = _InsertStream(self, driver, conn, copy)
            try:
                yield stream
                if not stream.released:
                    raise StoreError("the push's rows were not all written")
            except BaseException:
                if not stream.released:
                    with trio.CancelScope(shield=True):
                        with suppress(Exception):  # the first error is the news
                            await stream.settle()
                        await driver.release(conn, functools.partial(_abort_copy, copy))
                raise
        self._notify(stream.wake)

    async def job_insert_returning(self, job: JobInsert) -> PushResult:
        result = await self._call(inserts.insert_returning_committed, job, self.channel,
                                  self.origin)
        if result.inserted or result.replaced:
            self._notify(wake_for(job))
        return result

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        inserted, wake = await self._call(graph.insert_workflow_committed, plan, self.channel,
                                          self.origin)
        self._notify(wake)
        return inserted

    async def workflow_cancel(self, workflow_id: int, now: float, reason: str) -> list[int]:
        ids, released = await self._call(graph.cancel_workflow, workflow_id, now, reason,
                                         self.channel, self.origin)
        self._notify_cancelled(ids, released)
        return ids

    async def job_dependencies(self, job_id: int) -> list[Dependency]:
        return await self._call(graph.dependencies, job_id)

    async def job_get(self, job_id: int) -> JobRow:
        return await self._call(queries.get, job_id)

    async def job_wait(self, job_id: int, timeout: float) -> JobRow:  # noqa: ASYNC109 (the contract)
        """The job once final, or as it is after ``timeout`` s.

        Woken at once by this store's outcomes, and by the NOTIFY a trigger sends from any
        other connection's outcome transaction; with ``listen=False`` it polls instead.
        """
        return await wait_final(self.job_get, self._outcomes, job_id, timeout,
                                poll=not self._listen)

    async def job_list(self, where: JobFilter) -> list[JobRow]:
        return await list_in_pages(functools.partial(self._call, queries.list_jobs), where)

    async def job_claim(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float
    ) -> list[ClaimedJob]:
        if limit <= 0:
            return []
        return await self._call(queries.claim, task, owner, limit, now, lease_expires_at)

    async def job_promote_due(self, now: float) -> list[str]:
        return await self._call(graph.promote_due_and_settle, now, self.channel, self.origin)

    async def job_next_run_at(self) -> float | None:
        return await self._call(queries.next_run_at)

    async def job_discard_expired(self, now: float, limit: int = 1000) -> list[Rescued]:
        found, released = await self._call(graph.discard_expired_and_settle, now, limit,
                                           self.channel, self.origin)
        self._notify_released(released)
        return found

    async def job_renew_leases(
        self, owner: str, job_ids: Sequence[int], lease_expires_at: float,
        progress: Mapping[int, ProgressUpdate] | None = None,
    ) -> list[int]:
        if not job_ids:
            return []
        return await self._call(queries.renew_leases, owner, job_ids, lease_expires_at,
                            progress)

    async def job_rescue_expired(
        self, now: float, max_rescues: int, limit: int = 1000
    ) -> list[Rescued]:
        rescued, released = await self._call(graph.rescue_and_settle, now, max_rescues, limit,
                                             self.channel, self.origin)
        self._notify_released(released)
        return rescued

    async def job_discard_unknown(
        self, known: Sequence[str], available_before: float, now: float, limit: int = 1000
    ) -> list[Rescued]:
        found, released = await self._call(graph.discard_unknown_and_settle, known,
                                           available_before, now, limit, self.channel,
                                           self.origin)
        self._notify_released(released)
        return found

    async def job_set_state_if_running_many(
        self, outcomes: Sequence[SetStateIfRunning]
    ) -> list[bool]:
        if not outcomes:
            return []
        params = queries.set_state_params(outcomes)
        matched, released = await self._call(graph.set_state_and_settle, params, self.channel,
                                             self.origin)
        self._notify_released(released)
        return matched

    async def job_retry(self, job_id: int, now: float) -> JobRow:
        row = await self._call(queries.retry, job_id, now, self.channel, self.origin)
        self._notify_task(row.task, row.run_at)
        return row

    async def job_cancel(self, job_id: int, now: float, reason: str) -> JobRow:
        row, released = await self._call(graph.cancel_and_settle, job_id, now, reason,
                                         self.channel, self.origin)
        self._notify_cancelled([row.id], released)
        return row

    async def job_delete_finished(
        self, state: JobState, finished_before: float, limit: int
    ) -> int:
        if state not in FINISHED:
            raise ValueError(f"only finished jobs are pruned, not {state}")
        return await self._call(queries.delete_finished, state, finished_before, limit)

    async def job_count_by_state(self) -> dict[tuple[str, JobState], int]:
        return await self._call(queries.count_by_state)

    async def job_stats_by_state(self) -> dict[tuple[str, JobState], JobStats]:
        return await self._call(queries.stats_by_state)

    async def queue_set_paused(self, task: str, paused: bool) -> None:
        now = self.clock.now()
        await self._call(queries.queue_set_paused, task, paused, now, self.channel, self.origin)
        if not paused:
            self._notify_task(task, now)

    async def queue_paused(self) -> set[str]:
        return await self._call(queries.queue_paused)

    async def job_claim_limited(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float,
        limits: Limits, ended: Sequence[tuple[int, int]] = (),
    ) -> LimitedClaim:
        if limit <= 0:
            return LimitedClaim(jobs=[])
        return await self._call(flow.claim_limited, task, owner, limit, now, lease_expires_at,
                                limits, ended)

    async def queue_block(self, task: str, key: str | None, until: float) -> None:
        await self._call(flow.block, task, key, until, self.clock.now())

    async def queue_set_limits(self, task: str, override: str | None) -> None:
        now = self.clock.now()
        await self._call(flow.set_limits, task, override, now, self.channel, self.origin)
        self._notify_task(task, now)

    async def queue_limits(self) -> list[QueueLimitsRow]:
        return await self._call(flow.limit_rows)

    async def job_keyed_tasks(self) -> list[str]:
        return await self._call(flow.keyed_tasks)

    async def schedule_register(
        self, definitions: Sequence[ScheduleDefinition], now: float
    ) -> None:
        if definitions:
            await self._call(schedules.register, definitions, now)

    async def schedule_list(self) -> list[ScheduleRow]:
        return await self._call(schedules.list_all)

    async def schedule_get(self, name: str) -> ScheduleRow | None:
        return await self._call(schedules.get, name)

    async def schedule_enqueue(
        self, name: str, expected_last_tick: float | None, last_tick: float,
        jobs: Sequence[TickInsert], now: float,
    ) -> list[int] | None:
        ids = await self._call(schedules.enqueue, name, expected_last_tick, last_tick, jobs,
                               now, self.channel, self.origin)
        if ids:
            self._notify(wake_of_jobs(j.job for j in jobs))
        return ids

    async def schedule_set_paused(self, name: str, paused: bool, now: float) -> ScheduleRow:
        return await self._call(schedules.set_paused, name, paused, now)

    async def job_count(self, where: JobFilter) -> int:
        return await self._call(bulk.count, where)

    async def job_retry_many(self, where: JobFilter, now: float) -> BulkBatch:
        batch = await self._call(bulk.retry_many, where, now, self.channel, self.origin)
        for task in batch.tasks:
            self._notify_task(task, now)
        return batch

    async def job_cancel_many(self, where: JobFilter, now: float, reason: str) -> BulkBatch:
        batch, released = await self._call(graph.cancel_many_and_settle, where, now, reason,
                                           self.channel, self.origin)
        self._notify_cancelled(batch.ids, released)
        return batch

    async def job_delete_many(self, where: JobFilter) -> BulkBatch:
        batch, released = await self._call(graph.delete_many_and_settle, where,
                                           self.clock.now(), self.channel, self.origin)
        self._notify_released(released)
        return batch

    async def job_finished_per_minute(
        self, since: float, until: float
    ) -> dict[tuple[float, JobState], int]:
        return await self._call(queries.finished_per_minute, since, until)

    async def worker_beat(self, beat: WorkerBeat) -> None:
        await self._call(queries.worker_beat, beat)

    async def worker_stopped(self, owner: str, now: float) -> None:
        await self._call(queries.worker_stopped, owner, now)

    async def worker_list(self) -> list[WorkerRow]:
        return await self._call(queries.worker_list)

    async def worker_delete_seen_before(self, before: float) -> int:
        return await self._call(queries.worker_delete_seen_before, before)


def _is_a_job_store(store: PostgresStore) -> JobStore:
    """Never called: mypy checks here that the store fits the protocol."""
    return store
