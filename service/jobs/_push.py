"""Turning task instances into rows to insert: the ``push``, ``push_many`` and ``push_result``
API every store and transaction offers."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import math
from typing import TYPE_CHECKING, Any

import trio

from ._clock import Clock, to_timestamp
from ._payload_check import encode_task
from ._states import JobState
from ._store import InsertResult, JobInsert, Push, PushResult
from ._task import Task, check_priority, key_of, task_options

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = ["MAX_ATTEMPTS_LIMIT", "Push", "Pusher", "build_insert"]

MAX_ATTEMPTS_LIMIT = 10_000
#: ``push_many`` lets the event loop run after each this many rows it builds or unpacks (about
#: 1 ms of work).
BUILD_CHUNK = 128
#: From this many rows on, ``push_many`` pauses CPython's cyclic garbage collector (see
#: :func:`collector_paused`).
GC_PAUSE_ROWS = 4096

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


def build_insert(request: Push, now: float) -> JobInsert:
    """The row for one push; ``ValueError`` naming the option if an option is invalid, and
    :class:`PayloadError` (a ``ValueError``) naming the field if the task's payload would not
    decode back into its class -- before anything is written."""
    options = task_options(request.task)
    if request.delay is not None and request.run_at is not None:
        raise ValueError("give delay or run_at, not both")
    run_at = now
    if request.delay is not None:
        if isinstance(request.delay, bool) or not (
            isinstance(request.delay, int | float) and math.isfinite(request.delay)
        ):
            raise ValueError(f"delay must be a finite number of seconds, got {request.delay!r}")
        if request.delay < 0:
            raise ValueError(f"delay must be >= 0, got {request.delay!r}")
        run_at = now + request.delay
        if not 0 <= run_at <= LATEST_RUN_AT:
            raise ValueError(f"delay must end before the year 10000, got {request.delay!r}")
    elif request.run_at is not None:
        if isinstance(request.run_at, dt.datetime):
            run_at = to_timestamp(request.run_at)
        elif isinstance(request.run_at, int | float) and not isinstance(request.run_at, bool):
            run_at = float(request.run_at)
        else:
            raise ValueError(f"run_at must be a datetime or epoch seconds, got {request.run_at!r}")
        if not math.isfinite(run_at):
            raise ValueError(f"run_at must be finite, got {request.run_at!r}")
        if not 0 <= run_at <= LATEST_RUN_AT:
            raise ValueError(f"run_at must be from 1970 to 9999, got {request.run_at!r}")
    priority = check_priority(options.priority if request.priority is None else request.priority)
    max_attempts = options.max_attempts if request.max_attempts is None else request.max_attempts
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if max_attempts > MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"max_attempts must be <= {MAX_ATTEMPTS_LIMIT}, got {max_attempts!r}")
    key = request.unique_key
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 255):
        raise ValueError("unique_key must be a string of 1 to 255 characters")
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
        concurrency_key=concurrency_key,
    )


def _plain_insert(task: Task, now: float) -> JobInsert:
    """``build_insert(Push(task=task), now)`` without the options to check: a due job with the
    task type's own priority and attempts (checked when its ``TaskOptions`` were made)."""
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

    def _insert(self, task: Task, **options: Any) -> JobInsert:
        """The checked row for one push of ``task`` with ``options`` (see :class:`Push`)."""
        return build_insert(Push(task=task, **options), self.clock.now())

    async def push(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
    ) -> int:
        """Store one job durably and return its id (an existing job's id on a unique-key hit)."""
        row = self._insert(task, delay=delay, run_at=run_at, priority=priority,
                           unique_key=unique_key, max_attempts=max_attempts,
                           concurrency_key=concurrency_key)
        [result] = await self.job_insert_many([row])
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
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted it."""
        row = self._insert(task, delay=delay, run_at=run_at, priority=priority,
                           unique_key=unique_key, max_attempts=max_attempts,
                           concurrency_key=concurrency_key)
        return await self.job_insert_returning(row)

    async def push_many(self, requests: Iterable[Task | Push]) -> list[int]:
        """Store many jobs in one transaction; ids in the order given.

        Every task is checked before anything is written: one that is refused (``ValueError``,
        ``PayloadError``) refuses the whole batch.
        """
        now = self.clock.now()
        rows: list[JobInsert] = []
        with contextlib.ExitStack() as big_batch:
            for r in requests:
                rows.append(build_insert(r, now) if isinstance(r, Push) else _plain_insert(r, now))
                if len(rows) % BUILD_CHUNK == 0:
                    if len(rows) == GC_PAUSE_ROWS:
                        big_batch.enter_context(collector_paused())
                    # Checking and encoding takes ~5 µs a task: let the event loop run in
                    # between, so a batch of 100,000 does not hold it for half a second.
                    await trio.lowlevel.checkpoint()
            if not rows:
                return []
            if len(rows) <= BUILD_CHUNK:
                return [result.id for result in await self.job_insert_many(rows)]
            results = await self.job_insert_many(rows)
            # The jobs are committed: from here on, yield without taking a cancellation.
            await _drop(rows)
            ids: list[int] = []
            for start in range(0, len(results), BUILD_CHUNK):
                ids += [result.id for result in results[start:start + BUILD_CHUNK]]
                await trio.lowlevel.cancel_shielded_checkpoint()
            await _drop(results)  # freed while the collector is still paused
        return ids


async def _drop(items: list[Any]) -> None:
    """Empty a big list a slice at a time: freeing 100,000 rows at once holds the loop ~10 ms."""
    while items:
        del items[-BUILD_CHUNK:]
        await trio.lowlevel.cancel_shielded_checkpoint()
