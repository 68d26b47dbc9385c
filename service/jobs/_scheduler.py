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
    from ._clock import Clock
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
        config: WorkerConfig, clock: Clock,
    ) -> None:
        self.store = store
        self.schedules = schedules
        self.config = config
        self.clock = clock

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            for schedule, ticks in self.schedules.values():
                nursery.start_soon(self._run_one, schedule, ticks,
                                   name=f"schedule {schedule.name}")

    async def _run_one(self, schedule: Schedule, ticks: CronTicks) -> None:
        while True:
            try:
                wait = await self._step(schedule, ticks)
            except StoreError as exc:
                log.event(logging.WARNING, "schedule.failed", schedule=schedule.name,
                          error=str(exc))
                wait = self.config.schedule_interval
            # Asleep until the next tick: no poll, so a virtual week costs 2,016 wake-ups of a
            # */5 schedule and nothing in between.
            await trio.sleep(max(0.0, wait))

    async def _step(self, schedule: Schedule, ticks: CronTicks) -> float:
        """Push what is due now; how long to sleep before looking again."""
        now = self.clock.now()
        row = await self.store.schedule_get(schedule.name)
        if row is None:
            await self.store.schedule_register([definition(schedule)], now)
            return 0.0
        upcoming = ticks.next_after(now + EPSILON)
        until_next = math.inf if upcoming is None else upcoming - self.clock.now()
        if row.paused:
            # A resume may come from any process: look again now and then while paused.
            return min(until_next, self.config.schedule_interval)
        since = row.created_at if row.last_tick is None else row.last_tick
        to_push, latest = due_ticks(schedule, ticks, since, now + EPSILON)
        if latest is not None:
            jobs = [TickInsert(job=build_insert(Push(task=schedule.task), now), tick=tick)
                    for tick in to_push]
            ids = await self.store.schedule_enqueue(schedule.name, row.last_tick, latest, jobs,
                                                    now)
            if ids is None:  # another worker handled it first, or it was paused meanwhile
                return 0.0
            log.event(logging.INFO, "schedule.tick", schedule=schedule.name,
                      tick=_iso(latest), jobs=",".join(map(str, ids)))
        return until_next


def _iso(timestamp: float) -> str:
    moment = to_datetime(timestamp)
    return "" if moment is None else moment.isoformat()
