"""Turning task instances into rows to insert: the ``push``, ``push_many`` and ``push_result``
API every store and transaction offers."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import math
from collections.abc import Sized
from typing import TYPE_CHECKING, Any, Protocol

import trio

from ._clock import Clock, to_timestamp
from ._errors import JobNotFound
from ._payload_check import encode_task
from ._states import JobState
from ._store import (
    InsertResult,
    JobInsert,
    OnConflict,
    Push,
    PushResult,
    WorkflowInsert,
    WorkflowInserted,
    WorkflowSource,
)
from ._task import Task, check_priority, key_of, task_options
from ._tracing import PushTrace, job_tracer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence


__all__ = ["MAX_ATTEMPTS_LIMIT", "InsertStream", "Push", "Pusher", "build_insert", "free_in_slices",
           "plain_insert"]

MAX_ATTEMPTS_LIMIT = 10_000
#: ``push_many`` lets the event loop run after each this many rows it builds or unpacks (about
#: 1 ms of work).
BUILD_CHUNK = 128
#: From this many rows on, ``push_many`` writes rows while it builds the next ones, on a store
#: that can (:meth:`Pusher.job_insert_stream`). Smaller batches are built first, then written in
#: one call (which SQLite makes on the event loop up to 256 rows, cheaper than thread switches).
STREAM_FROM = 3 * BUILD_CHUNK
#: How many rows a streaming ``push_many`` hands the store at a time after the first
#: :data:`STREAM_FROM` (fewer thread switches than one slice per :data:`BUILD_CHUNK`).
STREAM_SLICE = 2 * BUILD_CHUNK
#: From this many rows on, ``push_many`` pauses CPython's cyclic garbage collector (see
#: :func:`collector_paused`): from its first chunk on. At 4,096 a batch of 10,000 on PostgreSQL
#: still met a full collection while its first rows were built (31 ms of a 33 ms stall,
#: ``bench.stall_ops --quick``): rows that live until the commit are what triggers them.
GC_PAUSE_ROWS = BUILD_CHUNK

_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep CPython's cyclic garbage collector off for the block (nested holds count).

    A big batch keeps two objects a row alive (its ``JobInsert`` and its ``InsertResult``).
    Their allocation triggers full collections that walk the whole heap while holding the GIL:
    with 100,000 rows, several of them at 100-300 ms each, which stall the event loop whichever
    thread triggers them. The rows hold no cycles, so reference counting frees them all; the
    collector is back when the last big batch is done, with nothing of theirs left to walk.
    """
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


#: The last instant a job may be scheduled for: stored times must stay readable as dates.
LATEST_RUN_AT = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()


#: The longest ``traceparent`` a push stores (a W3C one is 55 characters; the engine does not
#: parse it).
TRACEPARENT_LIMIT = 512


def _moment(name: str, value: object, *, aware: bool = False) -> float:
    """A datetime or epoch seconds as a stored timestamp; ``ValueError`` naming ``name``.
    ``aware``: refuse a datetime without a timezone (else it is taken as UTC)."""
    if isinstance(value, dt.datetime):
        if aware and value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime (with a timezone) or epoch"
                             f" seconds, got {value.isoformat()}")
        moment = to_timestamp(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = float(value)
    else:
        raise ValueError(f"{name} must be a datetime or epoch seconds, got {value!r}")
    if not math.isfinite(moment):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not 0 <= moment <= LATEST_RUN_AT:
        given = value.isoformat() if isinstance(value, dt.datetime) else repr(value)
        # As the client wrote it, never a Python repr.
        raise ValueError(f"{name} must be from 1970 to 9999 (UTC), got {given}")
    return moment


def _seconds(name: str, value: object, now: float) -> float:
    """A finite number of seconds >= 0 that ends before the year 10000; ``ValueError``."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if not now + value <= LATEST_RUN_AT:
        raise ValueError(f"{name} must end before the year 10000, got {value!r}")
    return float(value)


def _expiry(request: Push, now: float) -> float | None:
    if request.expires_at is not None and request.expire_after is not None:
        raise ValueError("give expires_at or expire_after, not both")
    if request.expire_after is not None:
        return now + _seconds("expire_after", request.expire_after, now)
    if request.expires_at is not None:
        return _moment("expires_at", request.expires_at, aware=True)
    return None


def _uniqueness(request: Push, now: float) -> tuple[float | None, bool]:
    """``unique_for`` in seconds and whether the push replaces; ``ValueError`` naming the
    option."""
    if request.on_conflict not in ("keep", "replace"):
        raise ValueError(f"on_conflict must be 'keep' or 'replace', got {request.on_conflict!r}")
    unique_for = None
    if request.unique_for is not None:
        unique_for = _seconds("unique_for", request.unique_for, now)
        if unique_for <= 0:
            raise ValueError(f"unique_for must be > 0, got {request.unique_for!r}")
    if request.unique_key is None:
        if unique_for is not None:
            raise ValueError("unique_for needs a unique_key")
        if request.on_conflict == "replace":
            raise ValueError("on_conflict='replace' needs a unique_key")
    return unique_for, request.on_conflict == "replace"


def build_insert(request: Push, now: float, traceparent: str | None = None) -> JobInsert:
    """The row for one push; ``ValueError`` naming the option if an option is invalid, and
    :class:`PayloadError` (a ``ValueError``) naming the field if the task's payload would not
    decode back into its class -- before anything is written.

    ``traceparent`` is stored when the push gives none of its own (the tracer's).
    """
    options = task_options(request.task)
    if request.delay is not None and request.run_at is not None:
        raise ValueError("give delay or run_at, not both")
    run_at = now
    if request.delay is not None:
        run_at = now + _seconds("delay", request.delay, now)
    elif request.run_at is not None:
        run_at = _moment("run_at", request.run_at)
    priority = check_priority(options.priority if request.priority is None else request.priority)
    max_attempts = options.max_attempts if request.max_attempts is None else request.max_attempts
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if max_attempts > MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"max_attempts must be <= {MAX_ATTEMPTS_LIMIT}, got {max_attempts!r}")
    key = request.unique_key
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 255):
        raise ValueError("unique_key must be a string of 1 to 255 characters")
    if request.traceparent is not None:
        traceparent = request.traceparent
        if not isinstance(traceparent, str) or not 1 <= len(traceparent) <= TRACEPARENT_LIMIT:
            raise ValueError(
                f"traceparent must be a string of 1 to {TRACEPARENT_LIMIT} characters"
            )
    expires_at = _expiry(request, now)
    unique_for, replace = _uniqueness(request, now)
    concurrency_key = request.concurrency_key
    if concurrency_key is None:
        concurrency_key = key_of(request.task, options)
    elif not isinstance(concurrency_key, str) or not 1 <= len(concurrency_key) <= 255:
        raise ValueError("concurrency_key must be a string of 1 to 255 characters")
    return JobInsert(
        task=options.name,
        args=encode_task(request.task, name=options.name),
        state=JobState.SCHEDULED if run_at > now else JobState.AVAILABLE,
        priority=priority,
        max_attempts=max_attempts,
        run_at=run_at,
        created_at=now,
        unique_key=key,
        traceparent=traceparent,
        expires_at=expires_at,
        unique_for=unique_for,
        replace=replace,
        concurrency_key=concurrency_key,
    )


def plain_insert(task: Task, now: float, traceparent: str | None = None) -> JobInsert:
    """``build_insert(Push(task=task), now, traceparent)`` without the options to check: a due
    job with the task type's own priority and attempts (checked when its ``TaskOptions`` were
    made)."""
    options = task_options(task)
    if options.max_attempts > MAX_ATTEMPTS_LIMIT:
        return build_insert(Push(task=task), now)  # refused there, with the reason
    return JobInsert(
        task=options.name,
        args=encode_task(task, name=options.name),
        state=JobState.AVAILABLE,
        priority=options.priority,
        max_attempts=options.max_attempts,
        run_at=now,
        created_at=now,
        unique_key=None,
        traceparent=traceparent,
        concurrency_key=key_of(task, options),
    )


class Pusher:
    """``push``/``push_many``/``push_result`` for anything with a clock, ``job_insert_many``
    and ``job_insert_returning``."""

    clock: Clock

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        raise NotImplementedError

    async def job_insert_returning(self, job: JobInsert) -> PushResult:
        """Insert one row and read it back in the same write (the holder's on a unique hit)."""
        raise NotImplementedError

    def job_insert_stream(self, expected: int | None
                          ) -> contextlib.AbstractAsyncContextManager[InsertStream] | None:
        """A write that takes a big ``push_many``'s rows while they are being built, or None
        (the default): then every row is built first and :meth:`job_insert_many` writes them.
        ``expected``: how many rows the batch has, when known ahead. Leaving it without
        :meth:`InsertStream.commit` rolls everything back."""
        return None

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        """Store a workflow's members and edges in one transaction (``push_workflow``)."""
        raise NotImplementedError

    async def push_workflow(self, workflow: WorkflowSource) -> list[int]:
        """Store every member of ``workflow`` and its dependencies in one transaction; the
        members' job ids in the order of ``Workflow.add``. Sets ``workflow.id``.

        ``InvalidWorkflow`` naming the member, before anything is written, when the graph, an
        option or a payload is invalid or an ``after=`` id names no job.
        """
        if job_tracer() is None:
            return await self._push_workflow(workflow, None, None)
        with _traced() as (trace, current):
            return await self._push_workflow(workflow, trace, current)

    async def _push_workflow(self, workflow: WorkflowSource, trace: PushTrace | None,
                             traceparent: str | None) -> list[int]:
        now = self.clock.now()
        members = []
        for member in workflow.member_rows(now, traceparent):
            members.append(member)
            if len(members) % BUILD_CHUNK == 0:
                await trio.lowlevel.checkpoint()  # ~5 µs a member: let the loop run
        plan = WorkflowInsert(name=workflow.name, created_at=now, members=members)
        if trace is not None:
            _describe(trace, [m.row for m in members])
        try:
            inserted = await self.workflow_insert(plan)
        except JobNotFound as exc:
            raise workflow.unknown_job(exc.job_id) from None
        workflow.pushed(inserted)
        if trace is not None:
            trace.ids = list(inserted.job_ids)
        return list(inserted.job_ids)

    def _insert(self, task: Task, tracer_parent: str | None, **options: Any) -> JobInsert:
        """The checked row for one push of ``task`` with ``options`` (see :class:`Push`);
        ``tracer_parent`` is the tracer's traceparent, stored unless the push gives its own."""
        return build_insert(Push(task=task, **options), self.clock.now(), tracer_parent)

    async def push(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> int:
        """Store one job durably and return its id (the holder's id on a unique-key hit)."""
        options = dict(delay=delay, run_at=run_at, priority=priority, unique_key=unique_key,
                       max_attempts=max_attempts, traceparent=traceparent,
                       expires_at=expires_at, expire_after=expire_after,
                       unique_for=unique_for, on_conflict=on_conflict,
                       concurrency_key=concurrency_key)
        if job_tracer() is None:
            [result] = await self.job_insert_many([self._insert(task, None, **options)])
            return result.id
        with _traced() as (trace, current):
            row = self._insert(task, current, **options)
            _describe(trace, [row])
            [result] = await self.job_insert_many([row])
            trace.ids = [result.id]
        return result.id

    async def push_result(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted, kept or
        replaced it."""
        options = dict(delay=delay, run_at=run_at, priority=priority, unique_key=unique_key,
                       max_attempts=max_attempts, traceparent=traceparent,
                       expires_at=expires_at, expire_after=expire_after,
                       unique_for=unique_for, on_conflict=on_conflict,
                       concurrency_key=concurrency_key)
        if job_tracer() is None:
            return await self.job_insert_returning(self._insert(task, None, **options))
        with _traced() as (trace, current):
            row = self._insert(task, current, **options)
            _describe(trace, [row])
            result = await self.job_insert_returning(row)
            trace.ids = [result.row.id]
        return result

    async def push_many(self, requests: Iterable[Task | Push]) -> list[int]:
        """Store many jobs in one transaction; ids in the order given.

        Every task is checked before anything is written: one that is refused (``ValueError``,
        ``PayloadError``) refuses the whole batch.
        """
        if job_tracer() is None:
            return await self._push_many(requests, None, None)
        with _traced() as (trace, current):
            return await self._push_many(requests, trace, current)

    async def _push_many(self, requests: Iterable[Task | Push], trace: PushTrace | None,
                         traceparent: str | None) -> list[int]:
        now = self.clock.now()
        rows: list[JobInsert] = []
        chunks = _built(requests, now, traceparent)
        with contextlib.ExitStack() as big_batch:
            for chunk in chunks:
                rows += chunk
                if len(rows) == STREAM_FROM and (stream := self.job_insert_stream(
                        len(requests) if isinstance(requests, Sized) else None)) is not None:
                    return await _streamed(stream, rows, chunks, trace)
                if len(rows) == GC_PAUSE_ROWS:
                    big_batch.enter_context(collector_paused())
                # Checking and encoding takes a few µs a task: let the event loop run in
                # between, so a batch of 100,000 does not hold it for half a second.
                await trio.lowlevel.checkpoint()
            if trace is not None:
                _describe(trace, rows)
            if not rows:
                return []
            if len(rows) <= BUILD_CHUNK:
                ids = [result.id for result in await self.job_insert_many(rows)]
                if trace is not None:
                    trace.ids = ids
                return ids
            results = await self.job_insert_many(rows)
            # The jobs are committed: from here on, yield without taking a cancellation.
            await free_in_slices(rows)
            ids = await _ids_of(results)
        if trace is not None:
            trace.ids = ids
        return ids


class InsertStream(Protocol):
    """One write transaction that takes a ``push_many``'s rows while they are being built."""

    async def send(self, rows: list[JobInsert]) -> None:
        """Write ``rows`` after those sent before. It may return before they are written (the
        next rows are built meanwhile); an error of theirs may be raised by a later call."""

    async def commit(self) -> list[int]:
        """Write what is left and commit: each row's id (the holder's on a unique-key hit),
        in the order sent."""


def _built(requests: Iterable[Task | Push], now: float, traceparent: str | None
           ) -> Iterator[list[JobInsert]]:
    """The checked rows of ``requests``, :data:`BUILD_CHUNK` at a time."""
    chunk: list[JobInsert] = []
    for r in requests:
        chunk.append(build_insert(r, now, traceparent) if isinstance(r, Push)
                     else plain_insert(r, now, traceparent))
        if len(chunk) == BUILD_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _streamed(stream: contextlib.AbstractAsyncContextManager[InsertStream],
                    first: list[JobInsert], chunks: Iterator[list[JobInsert]],
                    trace: PushTrace | None) -> list[int]:
    """The rest of ``push_many`` on a store that writes rows as they are built: each chunk is
    sent as soon as it is built, and the next one is built while it is written. A refused task
    (or a cancellation) before the commit leaves the transaction rolled back: nothing written.
    """
    tasks = {row.task for row in first}
    count = len(first)
    paused = False
    try:
        with contextlib.ExitStack() as big_batch:
            async with stream as writing:
                await writing.send(first)
                rows: list[JobInsert] = []
                for chunk in chunks:
                    tasks.update(row.task for row in chunk)
                    count += len(chunk)
                    if count >= GC_PAUSE_ROWS and not paused:  # results pile up meanwhile
                        big_batch.enter_context(collector_paused())
                        paused = True
                    rows += chunk
                    if len(rows) >= STREAM_SLICE:
                        await writing.send(rows)
                        rows = []
                    await trio.lowlevel.checkpoint()
                if rows:
                    await writing.send(rows)
                ids = await writing.commit()
    finally:
        if trace is not None:
            trace.tasks = frozenset(tasks)
            trace.count = count
    if trace is not None:
        trace.ids = ids
    return ids


async def _ids_of(results: list[InsertResult]) -> list[int]:
    """The ids of ``results``, emptying it, a slice at a time (the jobs are committed: it takes
    no cancellation)."""
    ids: list[int] = []
    for start in range(0, len(results), BUILD_CHUNK):
        ids += [result.id for result in results[start:start + BUILD_CHUNK]]
        await trio.lowlevel.cancel_shielded_checkpoint()
    await free_in_slices(results)  # freed while the collector is still paused
    return ids


@contextlib.contextmanager
def _traced() -> Iterator[tuple[PushTrace, str | None]]:
    """Inside the installed tracer's context for one push: its trace (filled in by the caller)
    and the traceparent it gives the push's jobs."""
    tracer = job_tracer()
    trace = PushTrace(tasks=frozenset(), count=0)
    if tracer is None:  # removed meanwhile
        yield trace, None
        return
    with tracer.push(trace) as traceparent:
        yield trace, traceparent


def _describe(trace: PushTrace, rows: Sequence[JobInsert]) -> None:
    trace.tasks = frozenset(row.task for row in rows)
    trace.count = len(rows)


async def free_in_slices(items: list[Any]) -> None:
    """Empty a big list a slice at a time: freeing 100,000 rows at once holds the loop ~10 ms.
    It takes no cancellation (for rows already committed)."""
    while items:
        del items[-BUILD_CHUNK:]
        await trio.lowlevel.cancel_shielded_checkpoint()
