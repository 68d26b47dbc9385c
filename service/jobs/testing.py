"""Helpers for testing your own tasks, in the spirit of Oban.Testing and rivertest.

::

    async def test_welcome_email_is_sent(autojump_clock, tmp_path):
        async with sqlite_test_store(tmp_path / "jobs.db") as store:
            await store.push(SendWelcomeEmail(user_id=uid))
            await assert_pushed(store, SendWelcomeEmail, user_id=uid)
            result = await drain(store, [SendWelcomeEmail], state=app_state)
            assert result.completed == 1

**Virtual time.** Run these under ``trio.testing.MockClock(autojump_threshold=0)``: with
pytest-trio, ask for its ``autojump_clock`` fixture (as above); without pytest-trio, use
``trio.run(main, clock=MockClock(autojump_threshold=0))``. ``drain`` then moves virtual time
straight through delays, backoff and snoozes. pytest-trio's ``mock_clock`` fixture is a MockClock
that does *not* autojump (time stands still until the test calls ``jump``): rather than wait for
it forever, ``drain`` and ``run_task`` raise :class:`VirtualTimeRequired` once every task is
stuck waiting for that clock, and ``drain`` raises it at once under any clock that does not
autojump (trio's real clock too) when the next job is in the future. Due jobs drain under any
clock.

**Timestamps.** ``sqlite_test_store`` gives the store a :class:`TrioClock`: every timestamp the
store writes (``run_at``, ``created_at``, ``finished_at``; the app's own ``store.clock.now()``)
is the clock's start -- the wall-clock time of its first reading, when the store opens, or a
fixed one with ``clock=TrioClock(1_800_000_000.0)`` -- plus the trio time elapsed since. So a
job pushed with ``delay=60`` has ``run_at == store.clock.now() + 60`` and runs once
``trio.current_time()`` has moved 60 s on; :func:`store_time` turns a ``trio.current_time()``
reading into the store's timestamp for it.

**A worker of your own.** ``TaskWorker(store, [MyTask], config=TEST_CONFIG)`` runs inside your
test's nursery like the real one, but its safety-net polls and upkeep run about once a virtual
hour instead of every second (the default :class:`WorkerConfig` costs a second or more of real
time per virtual hour under MockClock). Pushes through the same store object wake it at once either
way. ``drain`` uses :data:`DRAIN_CONFIG`, the same but leaving other task types' jobs alone.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import outcome
import trio
from trio.testing import MockClock, wait_all_tasks_blocked

from . import _codec as codec
from ._config import WorkerConfig
from ._dependency import Dependency
from ._errors import Cancel, ServiceError, Snooze
from ._outcomes import timeout_message
from ._progress import ProgressBuffer, ProgressReport
from ._run_in import run_sync_in_thread
from ._runner import InlineRunner, autojump_threshold, thread_call_in_flight
from ._sqlite import SQLiteStore
from ._states import UNFINISHED, JobState
from ._store import JobFilter, JobStore, SetStateIfRunning
from ._task import JobContext, Task, TaskRegistry, task_options
from ._trio_clock import TrioClock
from ._wakeup import Wakeup
from ._worker import TaskWorker

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping

    from ._clock import Clock

__all__ = [
    "DRAIN_CONFIG",
    "TEST_CONFIG",
    "DrainResult",
    "TaskResult",
    "VirtualTimeRequired",
    "assert_not_pushed",
    "assert_pushed",
    "clock_autojumps",
    "drain",
    "pushed",
    "run_task",
    "sqlite_test_store",
    "store_time",
]

T = TypeVar("T", bound=Task)
R = TypeVar("R")

#: A worker for tests: leases, safety-net polls, promotion, rescues and pruning wake about once
#: a virtual hour (the defaults wake every second or few), so under MockClock a day of virtual
#: time costs milliseconds. Pushes through the worker's own store still wake it at once.
TEST_CONFIG = WorkerConfig(
    lease_ttl=3600.0,
    lease_renew_interval=1200.0,
    poll_max=3600.0,
    schedule_interval=3600.0,
    rescue_interval=3600.0,
    prune_interval=86_400.0,
    limits_refresh=3600.0,
)
#: What ``drain`` runs its worker with: :data:`TEST_CONFIG`, and jobs of task types the drain
#: was not given stay where they are (not discarded as unknown).
DRAIN_CONFIG = attrs.evolve(TEST_CONFIG, discard_unknown_tasks=False)
#: While jobs are running or due, ``drain`` waits for their outcomes; it looks at the store
#: anyway after this many seconds without one (e.g. a job a lease rescue discarded).
DRAIN_CHECK_INTERVAL = 60.0
#: A MockClock whose ``autojump_threshold`` is at most this (real seconds) counts as autojumping.
AUTOJUMP_THRESHOLD_LIMIT = 0.1
#: Real seconds every task must have been blocked on a clock that never moves by itself before
#: ``drain`` or ``run_task`` gives up with :class:`VirtualTimeRequired`.
STALL_SECONDS = 0.25
#: A job due within this many seconds is due (timestamps are floats), as in the worker.
_DUE_WITHIN = 1e-3


class VirtualTimeRequired(ServiceError, RuntimeError):
    """Raised by :func:`drain` or :func:`run_task` instead of waiting for a trio clock that
    does not autojump: at once by ``drain`` when the next job is in the future, and by either
    once every task has waited :data:`STALL_SECONDS` for a ``MockClock`` that never moves by
    itself (pytest-trio's ``mock_clock`` fixture)."""


_REMEDY = (
    "run the test under trio.testing.MockClock(autojump_threshold=0): pytest-trio's "
    "autojump_clock fixture (not mock_clock), "
    "or trio.run(..., clock=MockClock(autojump_threshold=0))"
)


def _describe_clock() -> str:
    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, MockClock):
        return "trio's clock is the real one"
    threshold = autojump_threshold(clock)
    described = (
        f"trio's clock is a MockClock(rate={clock.rate:g}, autojump_threshold={threshold:g})"
    )
    if clock.rate == 0 and math.isinf(threshold):
        described += ", like pytest-trio's mock_clock fixture, which never moves by itself"
    return described


def clock_autojumps() -> bool:
    """Whether trio's current clock is a ``MockClock`` that jumps to the next deadline as soon
    as every task is blocked (``autojump_threshold`` at most :data:`AUTOJUMP_THRESHOLD_LIMIT`)."""
    clock = trio.lowlevel.current_clock()
    return isinstance(clock, MockClock) and autojump_threshold(clock) <= AUTOJUMP_THRESHOLD_LIMIT


def _frozen_clock() -> MockClock | None:
    """The current clock if it is a MockClock that never moves unless someone calls ``jump``."""
    clock = trio.lowlevel.current_clock()
    if isinstance(clock, MockClock) and clock.rate == 0 and not clock_autojumps():
        return clock
    return None


async def _stalled(clock: MockClock) -> float:
    """Return once every task has been blocked for :data:`STALL_SECONDS` while one of them waits
    for a deadline of ``clock``, which will never come; the seconds to that deadline."""
    while True:
        await wait_all_tasks_blocked(STALL_SECONDS)
        ahead = trio.lowlevel.current_statistics().seconds_to_next_deadline
        if 0 < ahead < math.inf and not thread_call_in_flight(clock) and _frozen_clock():
            return ahead


async def _unless_stalled(what: str, fn: Callable[[], Awaitable[R]]) -> R:
    """``await fn()``; but under a clock that never moves by itself, :class:`VirtualTimeRequired`
    once everything is blocked waiting for it."""
    clock = _frozen_clock()
    if clock is None:
        return await fn()
    stalled_for: float | None = None

    async def watch(scope: trio.CancelScope) -> None:
        nonlocal stalled_for
        stalled_for = await _stalled(clock)
        scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, nursery.cancel_scope)
        result = await outcome.acapture(fn)
        nursery.cancel_scope.cancel()
    if stalled_for is not None:
        raise VirtualTimeRequired(
            f"{what} is waiting for trio's clock to move {stalled_for:g} s on, but "
            f"{_describe_clock()}: it would wait forever; {_REMEDY}"
        )
    return result.unwrap()


@asynccontextmanager
async def sqlite_test_store(
    path: str | os.PathLike[str], *, clock: Clock | None = None, **kwargs: Any
) -> AsyncIterator[SQLiteStore]:
    """A real SQLite store whose statements run inline and whose timestamps follow trio's clock
    (a :class:`TrioClock` unless ``clock`` is given); ``kwargs`` go to :class:`SQLiteStore`
    (``migrations=`` for the app's own tables)."""
    store = SQLiteStore(path, clock=clock or TrioClock(), runner=InlineRunner(), **kwargs)
    async with store:
        yield store


def store_time(store: JobStore, trio_time: float | None = None) -> float:
    """The timestamp ``store`` writes at trio time ``trio_time`` (default: now).

    Exact for a store whose clock moves with trio's (:class:`TrioClock`, as in
    :func:`sqlite_test_store`): ``store_time(store, t) - store_time(store, s) == t - s``.
    """
    now = store.clock.now()
    return now if trio_time is None else now + (trio_time - trio.current_time())


@attrs.frozen(kw_only=True)
class TaskResult:
    """What one in-process run of a task did.

    ``outcome`` is ``completed``, ``snoozed``, ``cancelled``, ``failed`` or ``timed_out``.
    ``error`` is what the task raised (``Snooze``, ``Cancel`` or its exception); for
    ``timed_out`` a ``TimeoutError`` whose message is what the worker records, e.g.
    ``"timed out after 30 s"``.
    """

    outcome: str
    value: Any = None
    error: BaseException | None = None
    snooze_seconds: float | None = None
    #: Every ``ctx.progress`` call the task made, in order.
    progress: tuple[ProgressReport, ...] = ()
    #: The checkpoint a next attempt would read as ``ctx.checkpoint`` (decoded JSON): the last
    #: one the task reported, else the one it was started with.
    checkpoint: Any = None


async def run_task(
    task: Task,
    *,
    state: Any = None,
    job_id: int = 0,
    attempt: int = 1,
    dependency_results: Mapping[int, Any] | None = None,
    failed_dependencies: Iterable[int] = (),
    checkpoint: Any = None,
) -> TaskResult:
    """Run ``task`` once, as a worker would, without a store; ``state`` becomes ``ctx.state``.

    For a workflow member, ``dependency_results`` ({job id: result}, as JSON data) is what
    ``ctx.dependency_results()`` returns, and ``failed_dependencies`` what
    ``ctx.failed_dependencies`` lists. ``checkpoint`` is what ``ctx.checkpoint`` starts as
    (an earlier attempt's, as the converter stores it); the result lists the task's
    ``ctx.progress`` reports (``progress``) and the checkpoint it leaves (``checkpoint``).

    The task first makes the round trip through the payload converter, so a field that would not
    survive storage fails here too (``PayloadError``). The task's timeout applies. A task with
    ``run_in="thread"`` or ``"process"`` has its ``run_sync`` called in a thread (no process
    pool in a unit test; ``ctx.state`` is None for a process task, as in the worker); ``value``
    is what it returned. Under a
    MockClock that does not autojump, a task that waits for the clock raises
    :class:`VirtualTimeRequired` instead of hanging.
    """
    options = task_options(task)
    stored = codec.decode(codec.encode(task, name=options.name), type(task), name=options.name)
    reports: list[ProgressReport] = []
    buffer = ProgressBuffer(now=TrioClock().now, history=reports)
    if checkpoint is not None:
        buffer.start_from(codec.encode(checkpoint, name=options.name))
    ctx: JobContext[Any] = JobContext(
        job_id=job_id,
        task=options.name,
        attempt=attempt,
        max_attempts=options.max_attempts,
        state=state,
        dependencies=_dependencies(dependency_results or {}, failed_dependencies),
        progress_buffer=buffer,
    )

    async def attempt_once() -> TaskResult:
        with trio.move_on_after(options.timeout or math.inf) as scope:
            try:
                if options.run_in == "loop":
                    value = await stored.run(ctx)
                else:
                    value = await run_sync_in_thread(stored, ctx)
            except Snooze as exc:
                return TaskResult(outcome="snoozed", error=exc, snooze_seconds=exc.seconds)
            except Cancel as exc:
                return TaskResult(outcome="cancelled", error=exc)
            except Exception as exc:
                return TaskResult(outcome="failed", error=exc)
        if scope.cancelled_caught:
            error = TimeoutError(timeout_message(options.timeout or 0,
                                                 killed=options.run_in == "process"))
            return TaskResult(outcome="timed_out", error=error)
        if value is not None:
            codec.encode(value, name=options.name)  # a result that cannot be stored fails here
        return TaskResult(outcome="completed", value=value)

    result = await _unless_stalled(f"run_task({options.name})", attempt_once)
    return attrs.evolve(result, progress=tuple(reports), checkpoint=buffer.checkpoint)


def _dependencies(
    results: Mapping[int, Any], failed: Iterable[int]
) -> tuple[Dependency, ...]:
    """What a worker reads of a member's dependencies, made from plain data."""
    done = [Dependency(id=job_id, state=JobState.COMPLETED, result=json.dumps(value))
            for job_id, value in results.items()]
    gone = [Dependency(id=job_id, state=JobState.DISCARDED, result=None) for job_id in failed]
    return tuple(sorted([*done, *gone], key=lambda d: d.id))


@attrs.frozen(kw_only=True)
class DrainResult:
    """How many jobs of the drained task types ended in each finished state during the drain."""

    completed: int
    cancelled: int
    discarded: int


async def _counts(store: JobStore, names: set[str]) -> Counter[JobState]:
    counts: Counter[JobState] = Counter()
    for (task, state), n in (await store.job_count_by_state()).items():
        if task in names:
            counts[state] += n
    return counts


async def _until_drained(
    store: JobStore, worker: TaskWorker, names: set[str], outcomes: Wakeup
) -> None:
    """Return once no job of ``names`` is unfinished. Looks at the store only when the worker
    has nothing in flight, and sleeps until the next job is due when only future ones are left."""
    while True:
        outcomes.clear()
        if worker.in_flight:
            # Nothing can be finished while our jobs run: wait for their outcomes, not the clock.
            await outcomes.wait(DRAIN_CHECK_INTERVAL)
            continue
        counts = await _counts(store, names)
        if not any(counts[s] for s in UNFINISHED):
            return
        wait = DRAIN_CHECK_INTERVAL
        if not (counts[JobState.AVAILABLE] or counts[JobState.RUNNING]):
            next_at = await store.job_next_run_at()
            ahead = None if next_at is None else next_at - store.clock.now()
            if ahead is not None and ahead > _DUE_WITHIN:
                if not clock_autojumps():
                    raise VirtualTimeRequired(
                        f"drain: the next job is due in {ahead:g} s and {_describe_clock()}, "
                        f"so drain would wait for it in real time; {_REMEDY}"
                    )
                wait = ahead
        await outcomes.wait(wait)


async def drain(
    store: JobStore,
    tasks: TaskRegistry | Iterable[type[Task]],
    *,
    state: Any = None,
    max_seconds: float = 7 * 86_400.0,
    config: WorkerConfig | None = None,
) -> DrainResult:
    """Run a real :class:`TaskWorker` until no job of ``tasks`` is unfinished.

    Scheduled jobs and retries are waited for, so under an autojumping ``MockClock`` the drain
    jumps through virtual time to each one; under any other clock it raises
    :class:`VirtualTimeRequired` rather than wait for a job in the future. The worker runs with
    ``config`` (default :data:`DRAIN_CONFIG`) and hands ``state`` to each task as ``ctx.state``.
    Raises ``trio.TooSlowError`` if work remains after ``max_seconds`` (of virtual time, under
    MockClock), e.g. a task that keeps snoozing.
    """
    registry = tasks if isinstance(tasks, TaskRegistry) else TaskRegistry(tasks)
    names = set(registry.names())
    before = await _counts(store, names)
    outcomes = Wakeup()

    def on_attempt(_task: str, _seconds: float, _outcome: SetStateIfRunning) -> None:
        outcomes.set()

    worker = TaskWorker(
        store, registry, state=state, config=config or DRAIN_CONFIG, on_attempt=on_attempt
    )

    async def run_worker() -> VirtualTimeRequired | None:
        # Errors of our own leave the nursery bare, not in an ExceptionGroup.
        problem: VirtualTimeRequired | None = None
        with trio.fail_after(max_seconds):
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                try:
                    await _until_drained(store, worker, names, outcomes)
                except VirtualTimeRequired as exc:
                    problem = exc
                    nursery.cancel_scope.cancel()
                else:
                    await worker.shutdown()
        return problem

    problem = await _unless_stalled("drain", run_worker)
    if problem is not None:
        raise problem
    after = await _counts(store, names)
    return DrainResult(
        completed=after[JobState.COMPLETED] - before[JobState.COMPLETED],
        cancelled=after[JobState.CANCELLED] - before[JobState.CANCELLED],
        discarded=after[JobState.DISCARDED] - before[JobState.DISCARDED],
    )


async def pushed(
    store: JobStore, cls: type[T], *, state: JobState | None = None, limit: int = 10_000
) -> list[T]:
    """The tasks of type ``cls`` in the store (optionally in ``state``), oldest first."""
    name = task_options(cls).name
    rows = await store.job_list(JobFilter(task=name, state=state, limit=limit))
    return [codec.decode(row.args, cls, name=name) for row in reversed(rows)]


async def assert_pushed(store: JobStore, cls: type[T], **fields: Any) -> T:
    """Assert a job of ``cls`` whose fields include ``fields`` was pushed; return its task."""
    found = await pushed(store, cls)
    for task in found:
        if all(getattr(task, key) == value for key, value in fields.items()):
            return task
    raise AssertionError(
        f"no {cls.__qualname__} pushed with {fields!r}; pushed: {found!r}"
    )


async def assert_not_pushed(store: JobStore, cls: type[Task], **fields: Any) -> None:
    """Assert no job of ``cls`` matching ``fields`` was pushed."""
    for task in await pushed(store, cls):
        if all(getattr(task, key) == value for key, value in fields.items()):
            raise AssertionError(f"{task!r} was pushed")
