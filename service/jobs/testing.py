"""Helpers for testing your own tasks, in the spirit of Oban.Testing and rivertest.

::

    async def test_welcome_email_is_sent(tmp_path):
        async with sqlite_test_store(tmp_path / "jobs.db") as store:
            await store.push(SendWelcomeEmail(user_id=uid))
            await assert_pushed(store, SendWelcomeEmail, user_id=uid)
            result = await drain(store, [SendWelcomeEmail])
            assert result.completed == 1

Run these under ``trio.testing.MockClock(autojump_threshold=0)`` (pytest-trio:
``@pytest.mark.trio`` with a ``mock_clock`` fixture, or ``trio.run(..., clock=...)``): ``drain``
then moves virtual time straight through delays, backoff and snoozes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from . import _codec as codec
from ._clock import Clock, TrioClock
from ._config import WorkerConfig
from ._errors import Cancel, Snooze
from ._runner import InlineRunner
from ._sqlite import SQLiteStore
from ._states import UNFINISHED, JobState
from ._store import JobFilter, JobStore
from ._task import JobContext, Task, TaskRegistry, task_options
from ._worker import TaskWorker

T = TypeVar("T", bound=Task)

#: How often ``drain`` counts unfinished jobs while some are due or running.
DRAIN_CHECK_INTERVAL = 0.5
#: In a drain every push is in-process and wakes the worker at once, so its safety-net polls
#: can be rare; that keeps a drain through days of virtual time quick.
DRAIN_CONFIG = WorkerConfig(
    poll_max=60.0, schedule_interval=60.0, rescue_interval=60.0, prune_interval=3600.0
)


@asynccontextmanager
async def sqlite_test_store(
    path: str | os.PathLike[str], *, clock: Clock | None = None, **kwargs: Any
) -> AsyncIterator[SQLiteStore]:
    """A real SQLite store whose statements run inline and whose timestamps follow trio's clock."""
    store = SQLiteStore(path, clock=clock or TrioClock(), runner=InlineRunner(), **kwargs)
    async with store:
        yield store


@attrs.frozen(kw_only=True)
class TaskResult:
    """What one in-process run of a task did.

    ``outcome`` is ``completed``, ``snoozed``, ``cancelled``, ``failed`` or ``timed_out``.
    """

    outcome: str
    value: Any = None
    error: BaseException | None = None
    snooze_seconds: float | None = None


async def run_task(
    task: Task, *, state: Any = None, job_id: int = 0, attempt: int = 1
) -> TaskResult:
    """Run ``task`` once, as a worker would, without a store.

    The task first makes the round trip through the payload converter, so a field that would not
    survive storage fails here too (``PayloadError``). The task's timeout applies.
    """
    options = task_options(task)
    stored = codec.decode(codec.encode(task, name=options.name), type(task), name=options.name)
    ctx = JobContext(
        job_id=job_id,
        task=options.name,
        attempt=attempt,
        max_attempts=options.max_attempts,
        state=state,
    )
    with trio.move_on_after(options.timeout or float("inf")) as scope:
        try:
            value = await stored.run(ctx)
        except Snooze as exc:
            return TaskResult(outcome="snoozed", error=exc, snooze_seconds=exc.seconds)
        except Cancel as exc:
            return TaskResult(outcome="cancelled", error=exc)
        except Exception as exc:
            return TaskResult(outcome="failed", error=exc)
    if scope.cancelled_caught:
        return TaskResult(outcome="timed_out")
    if value is not None:
        codec.encode(value, name=options.name)  # a result that cannot be stored fails here
    return TaskResult(outcome="completed", value=value)


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


async def drain(
    store: JobStore,
    tasks: TaskRegistry | Iterable[type[Task]],
    *,
    state: Any = None,
    max_seconds: float = 7 * 86_400.0,
    config: WorkerConfig | None = None,
) -> DrainResult:
    """Run a real :class:`TaskWorker` until no job of ``tasks`` is unfinished.

    Scheduled jobs and retries are waited for, so under ``MockClock`` the drain jumps through
    virtual time to each one. Raises ``trio.TooSlowError`` if work remains after ``max_seconds``
    (of virtual time, under MockClock), e.g. a task that keeps snoozing.
    """
    registry = tasks if isinstance(tasks, TaskRegistry) else TaskRegistry(tasks)
    names = set(registry.names())
    before = await _counts(store, names)
    worker = TaskWorker(store, registry, state=state, config=config or DRAIN_CONFIG)
    with trio.fail_after(max_seconds):
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            while True:
                counts = await _counts(store, names)
                if not any(counts[s] for s in UNFINISHED):
                    break
                wait = DRAIN_CHECK_INTERVAL
                if not (worker.in_flight or counts[JobState.AVAILABLE] or counts[JobState.RUNNING]):
                    # Only waiting jobs are left: sleep until the first of them is due.
                    next_at = await store.job_next_run_at()
                    if next_at is not None:
                        wait = max(wait, next_at - store.clock.now())
                await trio.sleep(wait)
            await worker.shutdown()
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
