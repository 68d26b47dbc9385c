"""The schedule loop every worker runs: push each tick's job exactly once, with no leader.

Each schedule has a task that sleeps until its next tick on trio's clock (so ``MockClock`` drives
it), then reads the stored schedule and hands the store the tick's jobs together with a
compare-and-set of its ``last_tick``: of any number of workers that wake for the tick, one
inserts the jobs and the others' CAS matches nothing.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import trio

from . import _log as log
from ._clock import to_datetime
from ._errors import StoreError
from ._push import build_insert
from ._schedule import due_ticks
from ._store import Push, ScheduleDefinition, TickInsert

if TYPE_CHECKING:
    from ._config import WorkerConfig
    from ._schedule import CronTicks, Schedule
    from ._store import JobStore

#: A tick due within this many seconds counts as due: timestamps are floats, and trio's clock
#: and the store's may round differently.
EPSILON = 1e-3


def definition(schedule: Schedule) -> ScheduleDefinition:
    """What is stored of a schedule's definition, for operators."""
    return ScheduleDefinition(name=schedule.name, cron=schedule.cron,
                              timezone=schedule.timezone, task=schedule.task_name,
                              catch_up=schedule.catch_up)


class Scheduler:
    """Runs every schedule of one worker (``TaskWorker(schedules=...)`` starts it)."""

    def __init__(
        self, store: JobStore, schedules: dict[str, tuple[Schedule, CronTicks]],
        config: WorkerConfig,
    ) -> None:
        self.store = store
        self.schedules = schedules
        self.config = config

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for schedule, ticks in self.schedules.values():
                nursery.start_soon(self._run_one, schedule, ticks,
                                   name=f"schedule {schedule.name}")

    async def _run_one(self, schedule: Schedule, ticks: CronTicks) -> None:
        while True:
            try:
                wait = await step(self.store, schedule, ticks, self.config.schedule_interval)
            except StoreError as exc:
                log.event(logging.WARNING, "schedule.failed", schedule=schedule.name,
                          error=str(exc))
                wait = self.config.schedule_interval
            # Asleep until the next tick: no poll, so a virtual week costs 2,016 wake-ups of a
            # */5 schedule and nothing in between.
            await trio.sleep(max(0.0, wait))


async def step(store: JobStore, schedule: Schedule, ticks: CronTicks, paused_poll: float) -> float:
    """Push what is due now for ``schedule``, by its ``catch_up`` policy; how long to sleep
    before looking again (at most ``paused_poll`` while it is paused: a resume may come from
    any process). Safe to run anywhere at any time: the CAS pushes each tick once."""
    clock = store.clock
    now = clock.now()
    row = await store.schedule_get(schedule.name)
    if row is None:
        await store.schedule_register([definition(schedule)], now)
        return 0.0
    since = row.created_at if row.last_tick is None else row.last_tick
    due = due_ticks(schedule, ticks, since, now + EPSILON)
    until_next = math.inf if due.upcoming is None else due.upcoming - clock.now()
    if row.paused:
        return min(until_next, paused_poll)
    if due.latest is not None:
        jobs = [
            TickInsert(job=build_insert(Push(task=schedule.task, expire_after=schedule.expiry_for(
                tick, ticks.next_after(tick))), now), tick=tick)
            for tick in due.push
        ]
        ids = await store.schedule_enqueue(schedule.name, row.last_tick, due.latest, jobs, now)
        if ids is None:  # another worker handled it first, or it was paused meanwhile
            return 0.0
        log.event(logging.INFO, "schedule.tick", schedule=schedule.name,
                  tick=_iso(due.latest), jobs=",".join(map(str, ids)))
    return until_next


def _iso(timestamp: float) -> str:
    moment = to_datetime(timestamp)
    return "" if moment is None else moment.isoformat()
