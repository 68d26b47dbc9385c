"""Schedule storage on every backend: definitions, the last-tick CAS with its jobs, pause."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
from support.conformance import EMAIL, Email, claim

from service.jobs import (
    JobContext,
    JobFilter,
    JobStore,
    Retention,
    Schedule,
    ScheduleNotFound,
    Task,
    TaskOptions,
    TaskWorker,
)
from service.jobs._push import build_insert
from service.jobs._store import Push, ScheduleDefinition, TickInsert
from service.jobs.testing import TEST_CONFIG

if TYPE_CHECKING:
    from collections.abc import Sequence

NIGHTLY = ScheduleDefinition(name="nightly", cron="0 3 * * *", timezone="Europe/Paris",
                             task=EMAIL, catch_up="latest")


def tick_jobs(store: JobStore, *ticks: float) -> Sequence[TickInsert]:
    now = store.clock.now()
    return [TickInsert(job=build_insert(Push(task=Email(to=f"{t}@x")), now), tick=t)
            for t in ticks]


async def test_a_registered_schedule_starts_unpaused_with_no_tick(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    row = await backend.schedule_get("nightly")
    assert row is not None
    assert (row.cron, row.timezone, row.task, row.catch_up) == (
        "0 3 * * *", "Europe/Paris", EMAIL, "latest")
    assert row.paused is False
    assert row.last_tick is None
    assert row.last_job_id is None
    assert row.created_at == now
    assert await backend.schedule_get("other") is None


async def test_registering_again_updates_the_definition_and_keeps_the_state(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    await backend.schedule_enqueue("nightly", None, now - 10, tick_jobs(backend, now - 10), now)
    await backend.schedule_set_paused("nightly", True, now)
    changed = ScheduleDefinition(name="nightly", cron="0 4 * * *", timezone="UTC", task=EMAIL,
                                 catch_up="all")
    await backend.schedule_register([changed], now + 100)
    [row] = await backend.schedule_list()
    assert (row.cron, row.timezone, row.catch_up) == ("0 4 * * *", "UTC", "all")
    assert row.paused is True
    assert row.last_tick == now - 10
    assert row.created_at == now


async def test_enqueue_inserts_the_jobs_with_their_tick_once_per_expected_last_tick(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    ids = await backend.schedule_enqueue("nightly", None, 1000.0,
                                         tick_jobs(backend, 900.0, 1000.0), now)
    assert ids is not None
    assert len(ids) == 2
    # A second worker that read the same state finds the CAS taken, and writes nothing.
    assert await backend.schedule_enqueue("nightly", None, 1000.0,
                                          tick_jobs(backend, 1000.0), now) is None
    assert len(await backend.job_list(JobFilter())) == 2
    row = await backend.schedule_get("nightly")
    assert row is not None
    assert row.last_tick == 1000.0
    assert row.last_job_id == ids[-1]
    claimed = await claim(backend, limit=5)
    assert sorted(job.tick for job in claimed if job.tick is not None) == [900.0, 1000.0]
    # The next tick moves on from the recorded one.
    assert await backend.schedule_enqueue("nightly", 1000.0, 1100.0,
                                          tick_jobs(backend, 1100.0), now) is not None


async def test_a_skipped_tick_moves_last_tick_without_jobs(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    assert await backend.schedule_enqueue("nightly", None, 500.0, [], now) == []
    row = await backend.schedule_get("nightly")
    assert row is not None
    assert row.last_tick == 500.0
    assert row.last_job_id is None


async def test_a_paused_schedule_enqueues_nothing_until_resumed(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    paused = await backend.schedule_set_paused("nightly", True, now)
    assert paused.paused is True
    assert await backend.schedule_enqueue("nightly", None, 1.0, tick_jobs(backend, 1.0),
                                          now) is None
    assert await backend.job_list(JobFilter()) == []
    await backend.schedule_set_paused("nightly", False, now)
    assert await backend.schedule_enqueue("nightly", None, 1.0, tick_jobs(backend, 1.0),
                                          now) is not None


async def test_pausing_an_unknown_schedule_raises(backend: JobStore) -> None:
    with pytest.raises(ScheduleNotFound, match="'ghost'"):
        await backend.schedule_set_paused("ghost", True, backend.clock.now())


async def test_racing_enqueues_of_one_tick_insert_its_job_once(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.schedule_register([NIGHTLY], now)
    results: list[list[int] | None] = []

    async def enqueue() -> None:
        results.append(await backend.schedule_enqueue("nightly", None, 1000.0,
                                                      tick_jobs(backend, 1000.0), now))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(enqueue)
    assert sum(r is not None for r in results) == 1
    assert len(await backend.job_list(JobFilter())) == 1


@attrs.frozen(kw_only=True)
class Ticked(Task):
    options = TaskOptions(name="conf.ticked")

    async def run(self, ctx: JobContext) -> float:
        assert ctx.tick is not None
        return ctx.tick.timestamp()


async def test_a_worker_pushes_every_tick_once_with_its_tick(
    backend: JobStore, autojump_clock: trio.testing.MockClock,
) -> None:
    # catch_up="all": on a backend whose calls run in threads, autojumping virtual time may pass
    # a tick while a call is out; the tick is then pushed late, but pushed.
    schedule = Schedule(name="every-5", cron="*/5 * * * *", task=Ticked(), catch_up="all")
    config = attrs.evolve(TEST_CONFIG, retention=Retention(completed=7 * 86_400))
    worker = TaskWorker(backend, [Ticked], config=config, schedules=[schedule])
    first_seen = backend.clock.now()
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await trio.sleep(6 * 3600 + 60)
        await worker.shutdown()
    rows = await backend.job_list(JobFilter(limit=1000))
    results = sorted(json.loads(row.result or "null") for row in rows)
    first = (first_seen // 300 + 1) * 300
    assert len(rows) == 72
    assert results == [first + 300 * n for n in range(72)]
