"""Four workers in one process, each with its own store handle, on one SQLite file (the
production thread runner) and on one PostgreSQL schema: every tick is pushed once.

Real threads and connections, so the clocks run in real time, sped up 120 times (an
every-minute schedule ticks every half second): autojumping virtual time would jump while the
database works in its threads.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest
import trio
from support.postgres import require_postgres, schema_store
from support.schedule_process import EVERY_MINUTE, RecordTick
from trio.testing import MockClock

from service.jobs import JobStore, PostgresStore, SQLiteStore, TaskWorker, TrioClock, WorkerConfig

if TYPE_CHECKING:
    from pathlib import Path

RATE = 120.0
REAL_SECONDS = 4.0
START = 1_800_000_000.0 - 30.0  # 30 s before a minute boundary


async def four_workers(open_store: list[JobStore], out: str) -> None:
    config = WorkerConfig(poll_max=RATE, schedule_interval=RATE, shutdown_grace=RATE)
    workers = [TaskWorker(store, [RecordTick], state=out, config=config,
                          schedules=[EVERY_MINUTE]) for store in open_store]
    async with trio.open_nursery() as nursery:
        for worker in workers:
            await nursery.start(worker.run)
        await trio.sleep(REAL_SECONDS * RATE)
        for worker in workers:
            await worker.shutdown()


async def on_sqlite(path: Path, out: str) -> None:
    clock = TrioClock(START)
    async with AsyncExitStack() as stack:
        stores: list[JobStore] = [
            await stack.enter_async_context(SQLiteStore(path, clock=clock)) for _ in range(4)]
        await four_workers(stores, out)


async def on_postgres(out: str) -> None:
    clock = TrioClock(START)
    async with schema_store(clock=clock) as first, AsyncExitStack() as stack:
        stores: list[JobStore] = [first] + [
            await stack.enter_async_context(
                PostgresStore(require_postgres(), schema=first.schema, clock=clock))
            for _ in range(3)]
        await four_workers(stores, out)


def ticks_in(out: Path) -> Counter[int]:
    return Counter(int(line.split()[0]) for line in out.read_text().splitlines())


def assert_each_tick_once(ticks: Counter[int]) -> None:
    assert max(ticks.values()) == 1, f"pushed twice: {ticks.most_common(3)}"
    first, last = min(ticks), max(ticks)
    assert sorted(ticks) == list(range(first, last + 60, 60)), "a tick was lost"
    # The first tick after the schedule was first stored (opening four PostgreSQL stores may
    # take longer than the 30 virtual seconds to the first boundary).
    assert first in (START + 30, START + 90)
    assert len(ticks) >= 5


def test_four_stores_on_one_sqlite_file_push_each_tick_once(tmp_path: Path) -> None:
    out = tmp_path / "ticks.txt"
    trio.run(on_sqlite, tmp_path / "jobs.db", str(out), clock=MockClock(rate=RATE))
    assert_each_tick_once(ticks_in(out))


@pytest.mark.usefixtures("pg_url")
def test_four_stores_on_one_postgresql_schema_push_each_tick_once(tmp_path: Path) -> None:
    out = tmp_path / "ticks.txt"
    trio.run(on_postgres, str(out), clock=MockClock(rate=RATE))
    assert_each_tick_once(ticks_in(out))
