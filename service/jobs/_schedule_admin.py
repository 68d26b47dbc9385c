"""What an operator sees and does with schedules: the code's schedules merged with the stored
ones (a stored schedule the code no longer has is *orphaned*), pause and resume.

``JobAdmin`` exposes these; the CLI, the JSON API and the dashboard render what they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._errors import ScheduleNotFound
from ._scheduler import definition, step

if TYPE_CHECKING:
    from ._schedule import CronTicks, Schedule
    from ._store import JobStore, ScheduleRow


@attrs.frozen(kw_only=True)
class ScheduleSummary:
    """One schedule as an operator sees it (``GET /api/schedules``).

    ``next_run_at`` is the next tick (None while paused, for an orphaned schedule, or for one
    that never fires again); ``last_tick`` the last tick handled (pushed, or skipped by its
    catch-up policy) and ``last_job_id`` the last job it pushed. ``orphaned``: stored, but no
    longer in the code, so it never runs; its state is kept.
    """

    name: str
    cron: str
    timezone: str
    task: str
    catch_up: str
    next_run_at: float | None
    last_tick: float | None
    last_job_id: int | None
    paused: bool
    orphaned: bool


def summarize(
    code: dict[str, tuple[Schedule, CronTicks]], stored: list[ScheduleRow], now: float
) -> list[ScheduleSummary]:
    """Every schedule, in the code or stored, by name."""
    rows = {row.name: row for row in stored}
    summaries = []
    for name in sorted({*code, *rows}):
        row = rows.get(name)
        paused = row is not None and row.paused
        if name in code:
            schedule, ticks = code[name]
            summaries.append(ScheduleSummary(
                name=name, cron=schedule.cron, timezone=schedule.timezone,
                task=schedule.task_name, catch_up=schedule.catch_up,
                next_run_at=None if paused else ticks.next_after(now),
                last_tick=None if row is None else row.last_tick,
                last_job_id=None if row is None else row.last_job_id,
                paused=paused, orphaned=False,
            ))
        elif row is not None:
            summaries.append(ScheduleSummary(
                name=name, cron=row.cron, timezone=row.timezone, task=row.task,
                catch_up=row.catch_up, next_run_at=None, last_tick=row.last_tick,
                last_job_id=row.last_job_id, paused=paused, orphaned=True,
            ))
    return summaries


async def list_schedules(
    store: JobStore, code: dict[str, tuple[Schedule, CronTicks]]
) -> list[ScheduleSummary]:
    return summarize(code, await store.schedule_list(), store.clock.now())


async def get_schedule(
    store: JobStore, code: dict[str, tuple[Schedule, CronTicks]], name: str
) -> ScheduleSummary:
    row = await store.schedule_get(name)
    found = summarize({name: code[name]} if name in code else {},
                      [] if row is None else [row], store.clock.now())
    if not found:
        raise ScheduleNotFound(name)
    return found[0]


async def set_paused(
    store: JobStore, code: dict[str, tuple[Schedule, CronTicks]], name: str, paused: bool
) -> ScheduleSummary:
    """Pause or resume ``name`` in every process. A schedule of the code that no worker has
    stored yet is stored first (its first tick is the next one). Resumed, it follows its
    ``catch_up`` policy for the ticks it missed while paused."""
    now = store.clock.now()
    if name in code:
        await store.schedule_register([definition(code[name][0])], now)
    await store.schedule_set_paused(name, paused, now)
    if not paused and name in code:
        # The ticks missed while paused are pushed now, by its catch_up policy, rather than
        # when a worker next looks (the CAS keeps that from pushing them twice).
        schedule, ticks = code[name]
        await step(store, schedule, ticks, paused_poll=0.0)
    return await get_schedule(store, code, name)

