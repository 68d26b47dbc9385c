"""The SQLite :class:`~service.jobs._store.JobStore`: one file, one connection, one runner."""

from __future__ import annotations

import contextlib
import functools
import math
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import trio

from .._clock import Clock, SystemClock
from .._errors import DatabaseNotFound, StoreError
from .._group_commit import GroupCommit
from .._limits import LimitedClaim, Limits, QueueLimitsRow
from .._listeners import Listeners
from .._owner_lock import OwnerLock
from .._paging import list_in_pages
from .._push import InsertStream, Pusher
from .._runner import InlineRunner, Pending, Runner, ThreadRunner
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
    wake_of,
    wake_of_jobs,
)
from .._waiting import CHANNEL_POLL_DELAYS, POLL_DELAYS, OutcomeSignal, wait_final
from . import bulk, graph, inserts, queries, schedules
from . import limits as flow
from .checkpointer import BACKSTOP_PAGES, CHECKPOINT_ROWS, Checkpointer
from .connection import (
    BUSY,
    BUSY_TIMEOUT_S,
    CACHE_BYTES,
    MMAP_BYTES,
    begin_or_busy,
    connect,
    guarded_at,
    in_transaction,
    migrate,
    rollback_if_open,
    set_busy_timeout,
)
from .peers import News, PeerChannel
from .reader import ReadConnection
from .schema import MIGRATIONS
from .transaction import SQLiteTransaction, app_query, execute

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence

    from .._dependency import Dependency
    from .._migrations import Migration
    from .._progress import ProgressUpdate
    from .._store import WorkflowInsert, WorkflowInserted

T = TypeVar("T")

#: Pushes of up to this many jobs (after group commit) count as short writes: at ~5 µs a row
#: they hold the event loop well under 2 ms. Bigger batches are written on the store's thread
#: (``_insert_group``), which waits for the write lock there too.
INLINE_ROWS = 256


WAIT_MS = int(BUSY_TIMEOUT_S * 1000)


def _waiting(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    """``fn(conn, *args)`` with the connection waiting up to :data:`BUSY_TIMEOUT_S` for another
    process's write lock (on the store's thread, where waiting blocks no one)."""
    set_busy_timeout(conn, WAIT_MS)
    return fn(conn, *args)


class _InsertStream:
    """A ``push_many``'s rows written while the next ones are built: each chunk goes to the
    store's thread at once, and the caller builds the next chunk while the thread writes it
    (``SQLiteStore.job_insert_stream``: inside the store's lock and one transaction)."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self._pending: Pending[tuple[list[int], Wake | None]] | None = None
        self.ids: list[int] = []
        self.wake: Wake | None = None
        self.committed = False

    async def send(self, rows: list[JobInsert]) -> None:
        await self.settle()
        store = self._store
        self._pending = store._runner.start(store._guarded, inserts.insert_ids, self._conn,
                                            rows)

    async def settle(self) -> None:
        """Wait for the chunk being written, if any (its error is raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            ids, wake = await pending.result()
            self.ids += ids
            if wake is not None:
                self.wake = wake.merged(self.wake)

    async def commit(self) -> list[int]:
        await self.settle()
        await self._store._call(execute, "COMMIT")
        self.committed = True
        return self.ids


class SQLiteStore(Pusher):
    """Jobs in one SQLite file.

    ``migrations`` adds the application's own schema steps to the engine's, applied by
    :meth:`open`. Use ``InlineRunner`` in MockClock tests; the default runner is a dedicated thread.
    ``cache_bytes`` and ``mmap_bytes`` size SQLite's page cache and memory-mapped I/O.
    ``create=False`` opens only an existing database: :meth:`open` raises
    :class:`DatabaseNotFound` rather than create the file or its directory (operator tools).
    Errors met while opening name the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        runner: Runner | None = None,
        migrations: Iterable[Migration] = (),
        cache_bytes: int = CACHE_BYTES,
        mmap_bytes: int = MMAP_BYTES,
        create: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        self.create = create
        self._absolute_path = os.path.abspath(self.path)
        #: ``guarded_at`` this file: named in the errors of the file itself.
        self._guarded = functools.partial(
            guarded_at, None if self.path == ":memory:" else self._absolute_path
        )
        self._cache_bytes = cache_bytes
        self._mmap_bytes = mmap_bytes
        self.clock: Clock = clock or SystemClock()
        self._runner: Runner = runner or ThreadRunner()
        self._migrations = [*MIGRATIONS, *migrations]
        self._conn: sqlite3.Connection | None = None
        self._lock = OwnerLock()
        self._listeners = Listeners(on_change=self._interest_changed)
        #: Wake-ups to and from the other processes on this file (None: in memory, or closed).
        self._peers: PeerChannel | None = None
        self._outcomes = OutcomeSignal()
        self.applied_migrations: list[str] = []
        self._inserts: GroupCommit[JobInsert, InsertResult] = GroupCommit(self._insert_group)
        #: Single pushes that read their row back (``push_result``: the HTTP API's pushes)
        #: share a transaction too when they arrive together: one commit for many requests.
        self._returning: GroupCommit[JobInsert, PushResult] = GroupCommit(
            self._insert_returning_group)
        self._reader: ReadConnection | None = None  # opened with the store, unless inline
        self._checkpointer: Checkpointer | None = None  # likewise
        self._changes_checkpointed = 0
        #: The write connection's ``busy_timeout`` (ms) when known, else None. Short writes on
        #: the event loop want 0 (never wait for another process's lock there), the store's
        #: thread wants :data:`BUSY_TIMEOUT_S`; it is switched only when the other one ran,
        #: not twice per write (two statements were a fifth of a lone push's SQLite time).
        self._busy_ms: int | None = None

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            raise StoreError("the store is not open")
        if self._busy_ms == WAIT_MS:
            return await self._runner.run(self._guarded, fn, self._conn, *args)
        self._busy_ms = None  # unknown until the call below has set it
        result: T = await self._runner.run(self._guarded, _waiting, fn, self._conn, *args)
        self._busy_ms = WAIT_MS
        return result

    def _check_not_in_own_transaction(self) -> None:
        if self._lock.owner is trio.lowlevel.current_task():
            raise StoreError(
                "this task has a store.transaction() open: use the transaction's own methods"
                " (tx.execute, tx.push) inside it"
            )

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` in its own ``BEGIN IMMEDIATE`` transaction."""
        self._check_not_in_own_transaction()
        async with self._lock:
            result: T = await self._call(in_transaction, fn, *args)
            self._wrote()
            return result

    def _wrote(self) -> None:
        """After a commit: wake ``job_wait`` callers; ask for a checkpoint every so many rows."""
        self._outcomes.set()
        if self._checkpointer is None or self._conn is None:
            return
        changes = self._conn.total_changes
        if changes < self._changes_checkpointed:  # Python's counter is a C int: it wraps
            self._changes_checkpointed = changes
        if changes - self._changes_checkpointed >= CHECKPOINT_ROWS:
            self._changes_checkpointed = changes
            self._checkpointer.request()

    async def _short_write(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`_write` for a write bounded to a few rows (a push, a claim, outcomes).

        Holding the lock means the runner's thread is idle, so the write runs right here on the
        trio thread -- tens of microseconds, cheaper than the two thread switches of a runner
        call. Only if another process holds the write lock does it go to the runner, which
        waits for the lock there without blocking the event loop.
        """
        self._check_not_in_own_transaction()
        async with self._lock:
            if self._conn is None:
                raise StoreError("the store is not open")
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                if self._busy_ms != 0:
                    self._busy_ms = None
                    self._guarded(set_busy_timeout, self._conn, 0)
                    self._busy_ms = 0
                result = self._guarded(begin_or_busy, self._conn, fn, *args)
            finally:
                await trio.lowlevel.cancel_shielded_checkpoint()
            if result is BUSY:
                result = await self._call(in_transaction, fn, *args)
            self._wrote()
            return cast("T", result)

    async def _long_read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read that may walk many rows: on the reader connection, off the write path.

        With an ``InlineRunner`` (deterministic tests) it runs inline on the store's connection.
        """
        self._check_not_in_own_transaction()
        if self._reader is None:
            return await self._read(fn, *args)
        if self._conn is None:
            raise StoreError("the store is not open")
        return await self._reader.run(fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_not_in_own_transaction()
        async with self._lock:
            return await self._call(fn, *args)

    def _notify(self, wake: Wake | None) -> None:
        """After a commit that added jobs: wake workers here and in the other processes."""
        if wake is None:
            return
        self._listeners.tell_wake(wake)
        if self._peers is not None:
            self._peers.tell_tasks(wake.tasks, wake.earliest, wake.expiry)

    def _notify_tasks(self, tasks: Collection[str], *, final: bool = False) -> None:
        """After a commit that made jobs of ``tasks`` due now (released dependents, a retry, a
        resume) and, if ``final``, recorded outcomes: tell listeners here and elsewhere."""
        if tasks:
            now = self.clock.now()
            self._listeners.tell_tasks(tasks, now)
            if self._peers is not None:
                self._peers.tell_tasks(tasks, now)
        if final and self._peers is not None:
            self._peers.tell_final()

    def _notify_cancelled(self, job_ids: Sequence[int], released: set[str]) -> None:
        """After an operator's cancel committed: stop those jobs where they run."""
        self._listeners.tell_cancelled(frozenset(job_ids))
        self._notify_tasks(released, final=bool(job_ids))
        if self._peers is not None and job_ids:
            self._peers.tell_cancelled(job_ids)

    def _heard(self, news: News) -> None:
        """Another process on this file committed ``news`` (on the trio thread)."""
        for task, run_at in news.tasks.items():
            self._listeners.tell_tasks([task], run_at)
        if news.expiry != math.inf:
            for listener in list(self._listeners.push):
                listener(frozenset(), news.expiry)
        if news.final:
            self._outcomes.set()
        if news.cancelled_all:
            self._listeners.tell_cancelled(None)
        elif news.cancelled:
            self._listeners.tell_cancelled(frozenset(news.cancelled))

    def _interest_changed(self) -> None:
        if self._peers is not None:
            self._peers.set_interest(*self._listeners.interest())

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        in_memory = self.path == ":memory:"
        background = not in_memory and not isinstance(self._runner, InlineRunner)
        if not in_memory and self.create:
            os.makedirs(os.path.dirname(self._absolute_path), exist_ok=True)
        try:
            self._conn = await self._runner.run(
                self._guarded, functools.partial(connect, create=self.create or in_memory),
                self.path if self.create else self._absolute_path,
                self._cache_bytes, self._mmap_bytes, BACKSTOP_PAGES if background else None,
            )
        except StoreError as exc:
            with trio.CancelScope(shield=True):
                await self._runner.aclose()
            raise self._naming_the_file(exc) from exc
        try:
            try:
                self.applied_migrations = await self._write(
                    migrate, self._migrations, self.clock.now()
                )
            except StoreError as exc:
                raise self._naming_the_file(exc) from exc
            if not in_memory:
                self._peers = PeerChannel(self._absolute_path, self._heard)
                self._peers.set_interest(*self._listeners.interest())
                self._peers.open()
            if background:
                # Both open the file by its absolute path and never create one.
                self._reader = ReadConnection(self._absolute_path)
                self._checkpointer = Checkpointer(self._absolute_path)
                self._checkpointer.start()
                self._changes_checkpointed = 0 if self._conn is None else self._conn.total_changes
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.aclose()
            raise

    def _naming_the_file(self, exc: StoreError) -> StoreError:
        """``exc`` (met while opening) as :class:`DatabaseNotFound` if the file is missing and
        may not be created, else the same error with the file's path in its message."""
        if not self.create and not os.path.exists(self._absolute_path):
            return DatabaseNotFound(self._absolute_path)
        if self._absolute_path in str(exc) or self.path == ":memory:":
            return exc
        try:
            return type(exc)(f"SQLite database {self._absolute_path}: {exc}")
        except TypeError:  # a subclass with its own constructor: keep it as it is
            return exc

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        self._busy_ms = None
        reader, self._reader = self._reader, None
        checkpointer, self._checkpointer = self._checkpointer, None
        peers, self._peers = self._peers, None
        if peers is not None:
            peers.close()
        with trio.CancelScope(shield=True):
            try:
                if conn is not None:
                    async with self._lock:
                        await self._runner.run(conn.close)
                await self._runner.aclose()
            finally:
                try:
                    if reader is not None:
                        await reader.aclose()
                finally:
                    if checkpointer is not None:
                        await trio.to_thread.run_sync(checkpointer.stop)

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def add_push_listener(
        self, listener: PushListener, tasks: Iterable[str] | None = None
    ) -> None:
        self._listeners.add_push(listener, tasks)

    def remove_push_listener(self, listener: PushListener) -> None:
        self._listeners.remove_push(listener)

    def add_cancel_listener(self, listener: CancelListener) -> None:
        self._listeners.add_cancel(listener)

    def remove_cancel_listener(self, listener: CancelListener) -> None:
        self._listeners.remove_cancel(listener)

    # -- app SQL ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteTransaction]:
        """One ``BEGIN IMMEDIATE`` transaction for app rows and pushed jobs together.

        Commits when the block exits normally, rolls back on any exception (cancellation
        included). Jobs pushed through it wake workers only after the commit.
        """
        self._check_not_in_own_transaction()
        async with self._lock:
            await self._call(execute, "BEGIN IMMEDIATE")
            tx = SQLiteTransaction(self.clock, self._call)
            try:
                yield tx
            except BaseException:
                tx.open = False
                with trio.CancelScope(shield=True):
                    await self._call(_rollback_if_open)
                raise
            tx.open = False
            with trio.CancelScope(shield=True):
                try:
                    await self._call(execute, "COMMIT")
                except BaseException:
                    await self._call(_rollback_if_open)
                    raise
            self._wrote()
        self._notify(tx.wake)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement of the app's own SQL outside any transaction."""
        return await self._read(app_query, sql, params)

    # -- JobStore ---------------------------------------------------------------------------

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        self._check_not_in_own_transaction()
        results = await self._inserts.run(jobs)
        if self._listeners.push or (self._peers is not None and self._peers.active):
            if len(jobs) > INLINE_ROWS:  # a pass over every row: off the event loop
                # wake_of touches no connection, so it may use the runner's thread without
                # the store's lock (the runner runs one call at a time either way).
                with trio.CancelScope(shield=True):  # the jobs are committed: wake for them
                    wake = await self._runner.run(wake_of, jobs, results)
            else:
                wake = wake_of(jobs, results)
            self._notify(wake)
        return results

    def job_insert_stream(self, expected: int | None
                          ) -> contextlib.AbstractAsyncContextManager[InsertStream]:
        return self._insert_stream()

    @asynccontextmanager
    async def _insert_stream(self) -> AsyncIterator[InsertStream]:
        """A ``BEGIN IMMEDIATE`` transaction that ``push_many`` writes chunks of rows into while
        it builds the next ones; rolled back unless committed."""
        self._check_not_in_own_transaction()
        async with self._lock:
            if self._conn is None:
                raise StoreError("the store is not open")
            conn = self._conn
            await self._call(execute, "BEGIN IMMEDIATE")
            stream = _InsertStream(self, conn)
            try:
                yield stream
            finally:
                if not stream.committed:
                    with trio.CancelScope(shield=True):
                        with contextlib.suppress(Exception):  # the first error is the news
                            await stream.settle()
                        await self._call(rollback_if_open)
            if not stream.committed:
                raise StoreError("the push's rows were not all written")
            self._wrote()
        self._notify(stream.wake)

    async def _insert_group(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        if len(jobs) > INLINE_ROWS:  # a big batch would hold the event loop: the thread writes
            return await self._write(inserts.insert_many, jobs)
        return await self._short_write(inserts.insert_many, jobs)

    async def job_insert_returning(self, job: JobInsert) -> PushResult:
        self._check_not_in_own_transaction()
        [result] = await self._returning.run([job])
        if result.inserted or result.replaced:
            self._notify(wake_for(job))
        return result

    async def _insert_returning_group(self, jobs: Sequence[JobInsert]) -> list[PushResult]:
        write = self._write if len(jobs) > INLINE_ROWS else self._short_write
        return await write(inserts.insert_returning_many, jobs)

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        write = self._write if len(plan.members) > INLINE_ROWS else self._short_write
        inserted, wake = await write(graph.insert_workflow, plan)
        self._notify(wake)
        return inserted

    async def workflow_cancel(self, workflow_id: int, now: float, reason: str) -> list[int]:
        ids, released = await self._write(graph.cancel_workflow, workflow_id, now, reason)
        self._notify_cancelled(ids, released)
        return ids

    async def job_dependencies(self, job_id: int) -> list[Dependency]:
        return await self._read(graph.dependencies, job_id)

    async def job_get(self, job_id: int) -> JobRow:
        return await self._read(queries.get, job_id)

    async def job_wait(self, job_id: int, timeout: float) -> JobRow:  # noqa: ASYNC109 (the contract)
        """The job once final, or as it is after ``timeout`` s; woken by this store's writes.

        Another process's outcome wakes it through the file's wake channel; polling (50 ms,
        doubling up to 1 s; 1 s up to 5 s while the channel is up) covers a lost datagram.
        """
        delays = CHANNEL_POLL_DELAYS if self._peers is not None and self._peers.active \
            else POLL_DELAYS
        return await wait_final(self.job_get, self._outcomes, job_id, timeout, poll=True,
                                delays=delays)

    async def job_list(self, where: JobFilter) -> list[JobRow]:
        return await list_in_pages(functools.partial(self._long_read, queries.list_jobs), where)

    async def job_claim(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float
    ) -> list[ClaimedJob]:
        if limit <= 0:
            return []
        return await self._short_write(queries.claim, task, owner, limit, now, lease_expires_at)

    async def job_promote_due(self, now: float) -> list[str]:
        promoted = await self._write(graph.promote_due_and_settle, now)
        if promoted and self._peers is not None:  # the caller wakes this process's workers
            self._peers.tell_tasks(promoted, now)
        return promoted

    async def job_next_run_at(self) -> float | None:
        return await self._read(queries.next_run_at)

    async def job_renew_leases(
        self, owner: str, job_ids: Sequence[int], lease_expires_at: float,
        progress: Mapping[int, ProgressUpdate] | None = None,
    ) -> list[int]:
        if not job_ids:
            return []
        return await self._short_write(queries.renew_leases, owner, job_ids, lease_expires_at,
                            progress)

    async def job_rescue_expired(
        self, now: float, max_rescues: int, limit: int = 1000
    ) -> list[Rescued]:
        rescued, released = await self._write(graph.rescue_and_settle, now, max_rescues, limit)
        self._notify_tasks(released, final=_any_final(rescued))
        return rescued

    async def job_discard_expired(self, now: float, limit: int = 1000) -> list[Rescued]:
        found, released = await self._write(graph.discard_expired_and_settle, now, limit)
        self._notify_tasks(released, final=_any_final(found))
        return found

    async def job_discard_unknown(
        self, known: Sequence[str], available_before: float, now: float, limit: int = 1000
    ) -> list[Rescued]:
        found, released = await self._write(
            graph.discard_unknown_and_settle, known, available_before, now, limit
        )
        self._notify_tasks(released, final=_any_final(found))
        return found

    async def job_set_state_if_running_many(
        self, outcomes: Sequence[SetStateIfRunning]
    ) -> list[bool]:
        if not outcomes:
            return []
        matched, released = await self._short_write(graph.set_state_and_settle, outcomes)
        self._notify_tasks(released, final=any(
            hit and o.state in FINISHED for o, hit in zip(outcomes, matched, strict=True)))
        return matched

    async def job_retry(self, job_id: int, now: float) -> JobRow:
        row = await self._write(queries.retry, job_id, now)
        self._notify(Wake(frozenset([row.task]), row.run_at))
        return row

    async def job_cancel(self, job_id: int, now: float, reason: str) -> JobRow:
        row, released = await self._write(graph.cancel_and_settle, job_id, now, reason)
        self._notify_cancelled([row.id], released)
        return row

    async def job_delete_finished(
        self, state: JobState, finished_before: float, limit: int
    ) -> int:
        if state not in FINISHED:
            raise ValueError(f"only finished jobs are pruned, not {state}")
        return await self._write(queries.delete_finished, state, finished_before, limit)

    async def job_count_by_state(self) -> dict[tuple[str, JobState], int]:
        return await self._long_read(queries.count_by_state)

    async def job_stats_by_state(self) -> dict[tuple[str, JobState], JobStats]:
        return await self._long_read(queries.stats_by_state)

    async def queue_set_paused(self, task: str, paused: bool) -> None:
        await self._write(queries.queue_set_paused, task, paused, self.clock.now())
        if not paused:
            self._notify_tasks([task])

    async def queue_paused(self) -> set[str]:
        return await self._read(queries.queue_paused)

    async def job_claim_limited(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float,
        limits: Limits, ended: Sequence[tuple[int, int]] = (),
    ) -> LimitedClaim:
        if limit <= 0:
            return LimitedClaim(jobs=[])
        # A keyed claim seeks once per key: the store's thread, not the event loop.
        write = self._write if limits.keyed else self._short_write
        return await write(flow.claim_limited, task, owner, limit, now, lease_expires_at,
                           limits, ended)

    async def queue_block(self, task: str, key: str | None, until: float) -> None:
        await self._short_write(flow.block, task, key, until, self.clock.now())

    async def queue_set_limits(self, task: str, override: str | None) -> None:
        await self._write(flow.set_limits, task, override, self.clock.now())
        self._notify_tasks([task])

    async def queue_limits(self) -> list[QueueLimitsRow]:
        return await self._read(flow.limit_rows)

    async def job_keyed_tasks(self) -> list[str]:
        return await self._long_read(flow.keyed_tasks)
    async def schedule_register(
        self, definitions: Sequence[ScheduleDefinition], now: float
    ) -> None:
        if definitions:
            await self._short_write(schedules.register, definitions, now)

    async def schedule_list(self) -> list[ScheduleRow]:
        return await self._read(schedules.list_all)

    async def schedule_get(self, name: str) -> ScheduleRow | None:
        return await self._read(schedules.get, name)

    async def schedule_enqueue(
        self, name: str, expected_last_tick: float | None, last_tick: float,
        jobs: Sequence[TickInsert], now: float,
    ) -> list[int] | None:
        # One short write: the CAS and a catch-up's jobs (at most max_catch_up rows) never
        # hold the write lock across an await, so other handles on the file never wait on it.
        write = self._write if len(jobs) > INLINE_ROWS else self._short_write
        ids = await write(schedules.enqueue, name, expected_last_tick, last_tick, jobs, now)
        if ids:
            self._notify(wake_of_jobs(j.job for j in jobs))
        return ids

    async def schedule_set_paused(self, name: str, paused: bool, now: float) -> ScheduleRow:
        return await self._write(schedules.set_paused, name, paused, now)

    async def job_count(self, where: JobFilter) -> int:
        return await self._long_read(bulk.count, where)

    async def job_retry_many(self, where: JobFilter, now: float) -> BulkBatch:
        batch = await self._write(bulk.retry_many, where, now)
        self._notify_tasks(batch.tasks)
        return batch

    async def job_cancel_many(self, where: JobFilter, now: float, reason: str) -> BulkBatch:
        batch, released = await self._write(graph.cancel_many_and_settle, where, now, reason)
        self._notify_cancelled(batch.ids, released)
        return batch

    async def job_delete_many(self, where: JobFilter) -> BulkBatch:
        batch, released = await self._write(graph.delete_many_and_settle, where,
                                            self.clock.now())
        self._notify_tasks(released, final=bool(batch.ids))  # waiters learn of the deletion
        return batch

    async def job_finished_per_minute(
        self, since: float, until: float
    ) -> dict[tuple[float, JobState], int]:
        return await self._long_read(queries.finished_per_minute, since, until)

    async def worker_beat(self, beat: WorkerBeat) -> None:
        await self._short_write(queries.worker_beat, beat)

    async def worker_stopped(self, owner: str, now: float) -> None:
        await self._short_write(queries.worker_stopped, owner, now)

    async def worker_list(self) -> list[WorkerRow]:
        return await self._read(queries.worker_list)

    async def worker_delete_seen_before(self, before: float) -> int:
        return await self._write(queries.worker_delete_seen_before, before)



def _any_final(jobs: Iterable[Rescued]) -> bool:
    return any(job.state in FINISHED for job in jobs)


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _is_a_job_store(store: SQLiteStore) -> JobStore:
    """Never called: mypy checks here that the store and its transaction fit the protocol."""
    return store
