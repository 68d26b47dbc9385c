"""Limits held by real TaskWorkers racing on one store, on every backend: a tracker inside the
task counts what runs at once."""

from __future__ import annotations

import inspect
import random
from collections import Counter
from typing import Any

import attrs
import trio
import trio.testing
from support.workers import running

from service.jobs import JobContext, JobState, JobStore, Task, TaskOptions, TaskWorker
from service.jobs.testing import TEST_CONFIG

#: Workers that look again for free slots within a virtual second, as in production.
CONFIG = attrs.evolve(TEST_CONFIG, poll_max=1.0)


@attrs.define
class Tracker:
    """What runs at once: overall and by key, with the peaks seen."""

    running: Counter[str] = attrs.field(factory=Counter)
    peak: int = 0
    peak_per_key: int = 0
    finished: int = 0
    done: trio.Event = attrs.field(factory=trio.Event)
    total: int = 0

    async def run(self, key: str, seconds: float) -> None:
        self.running[key] += 1
        self.peak = max(self.peak, sum(self.running.values()))
        self.peak_per_key = max(self.peak_per_key, self.running[key])
        try:
            await trio.sleep(seconds)
        finally:
            self.running[key] -= 1
        self.finished += 1
        if self.finished == self.total:
            self.done.set()


@attrs.frozen(kw_only=True)
class Limited(Task):
    options = TaskOptions(name="conf.limited", concurrency=4, global_concurrency=5)

    n: int
    seconds: float

    async def run(self, ctx: JobContext[Tracker]) -> None:
        await ctx.state.run("all", self.seconds)


@attrs.frozen(kw_only=True)
class PerCustomer(Task):
    options = TaskOptions(name="conf.per_customer", concurrency=6,
                          concurrency_key=lambda t: t.customer, per_key=2)

    customer: str
    seconds: float

    async def run(self, ctx: JobContext[Tracker]) -> None:
        await ctx.state.run(self.customer, self.seconds)


async def _race(backend: JobStore, tasks: list[Task], cls: type[Task], workers: int) -> Tracker:
    tracker = Tracker(total=len(tasks))
    await backend.push_many(tasks)
    fleet = [TaskWorker(backend, [cls], state=tracker, config=CONFIG, owner=f"w{n}")
             for n in range(workers)]
    async with running(fleet[0]), running(fleet[1]), running(fleet[2]):
        with trio.fail_after(24 * 3600):
            await tracker.done.wait()
    counts = await backend.job_count_by_state()
    assert counts.get((cls.options.name, JobState.COMPLETED)) == len(tasks)
    return tracker


#: Jobs per race: the issue's 2,000, except on PostgreSQL, where each of the ~3,500 claims and
#: outcome writes is a real commit (2,000 jobs took 43 s and 31 s on the shared 2-core machine,
#: 2026-12-03): it races 600.
JOBS = {"postgresql": 600}


async def test_racing_workers_never_run_more_than_the_global_limit(
    backend: JobStore, backend_name: str, autojump_clock: trio.testing.MockClock
) -> None:
    rng = random.Random(13)
    tasks: list[Task] = [Limited(n=n, seconds=rng.choice([0.5, 1.0, 2.0]))
                         for n in range(JOBS.get(backend_name, 2000))]

    tracker = await _race(backend, tasks, Limited, workers=3)

    assert tracker.peak == 5  # three workers could run 12 at once: the limit held them to 5


async def test_racing_workers_never_run_more_than_the_per_key_limit(
    backend: JobStore, backend_name: str, autojump_clock: trio.testing.MockClock
) -> None:
    rng = random.Random(7)
    tasks: list[Task] = [PerCustomer(customer=f"c{n % 5}", seconds=rng.choice([0.5, 1.0, 2.0]))
                         for n in range(JOBS.get(backend_name, 2000))]

    tracker = await _race(backend, tasks, PerCustomer, workers=3)

    assert tracker.peak_per_key == 2
    assert tracker.peak == 10  # 5 customers x 2, under the 18 slots of the three workers


class HeldOutcomes:
    """Forwards to a store; outcome writes wait until ``release`` is set."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self.release = trio.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name != "job_set_state_if_running_many" or not inspect.iscoroutinefunction(attr):
            return attr

        async def held(*args: Any, **kwargs: Any) -> Any:
            await self.release.wait()
            return await attr(*args, **kwargs)

        return held


@attrs.frozen(kw_only=True)
class Quick(Task):
    options = TaskOptions(name="conf.quick", concurrency=5, global_concurrency=5)

    n: int

    async def run(self, ctx: JobContext[Tracker]) -> None:
        await ctx.state.run("all", 1.0)


async def test_a_worker_reuses_its_slots_while_their_outcomes_are_being_written(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    """The limit equals the worker's slots: once its first five jobs return, it starts five
    more without waiting for the first five's outcomes to commit -- and never runs more than
    five at once."""
    tracker = Tracker(total=10)
    await backend.push_many([Quick(n=n) for n in range(10)])
    store = HeldOutcomes(backend)
    worker = TaskWorker(store, [Quick], state=tracker, config=CONFIG)  # type: ignore[arg-type]
    async with running(worker):
        with trio.fail_after(60):
            while tracker.finished < 10:
                await trio.sleep(0.1)
        assert not store.release.is_set()  # every outcome is still unwritten
        assert tracker.peak == 5
        store.release.set()
    counts = await backend.job_count_by_state()
    assert counts.get(("conf.quick", JobState.COMPLETED)) == 10
