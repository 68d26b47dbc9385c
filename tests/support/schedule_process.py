"""A worker process running one every-minute schedule on a clock sped up ``RATE`` times.

    python -m support.schedule_process URL START T0 RATE SECONDS OUT

``URL`` is ``sqlite:///path`` or ``postgresql-schema:NAME`` (a schema on the test server). Every
process given the same ``START``, ``T0`` and ``RATE`` reads the same store time: ``START`` plus
``RATE`` times the wall-clock seconds since ``T0``; trio's clock runs ``RATE`` times fast too, so
the schedule loop sleeps to each tick. Each job appends ``<tick> <pid>`` to ``OUT``. Runs for
``SECONDS`` real seconds, then shuts down and exits 0.
"""

from __future__ import annotations

import os
import sys

import attrs
import trio
from trio.testing import MockClock

from service.jobs import (
    JobContext,
    JobStore,
    PostgresStore,
    Schedule,
    SQLiteStore,
    SystemClock,
    Task,
    TaskOptions,
    TaskWorker,
    TrioClock,
    WorkerConfig,
)

from .postgres import require_postgres


@attrs.frozen(kw_only=True)
class RecordTick(Task):
    options = TaskOptions(name="sched.record_tick", concurrency=4)

    async def run(self, ctx: JobContext) -> None:
        assert ctx.tick is not None
        line = f"{ctx.tick.timestamp():.0f} {os.getpid()}\n"
        fd = os.open(ctx.state, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


EVERY_MINUTE = Schedule(name="every-minute", cron="* * * * *", task=RecordTick())


def open_url(url: str, clock: TrioClock) -> JobStore:
    if url.startswith("postgresql-schema:"):
        return PostgresStore(require_postgres(), schema=url.partition(":")[2], clock=clock)
    return SQLiteStore(url.removeprefix("sqlite:///"), clock=clock)


async def main(url: str, start: float, t0: float, rate: float, seconds: float, out: str) -> None:
    clock = TrioClock(start + (SystemClock().now() - t0) * rate)
    clock.now()  # pin the clock to trio's now
    # The clock runs `rate` times fast: every interval of the config is in its seconds.
    config = WorkerConfig(poll_max=rate, schedule_interval=rate, shutdown_grace=rate)
    async with open_url(url, clock) as store:
        worker = TaskWorker(store, [RecordTick], state=out, config=config,
                            schedules=[EVERY_MINUTE])
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            print("ready", flush=True)
            await trio.sleep(seconds * rate)
            await worker.shutdown()


if __name__ == "__main__":
    url, start, t0, rate, seconds, out = sys.argv[1:7]
    trio.run(main, url, float(start), float(t0), float(rate), float(seconds), out,
             clock=MockClock(rate=float(rate)))
