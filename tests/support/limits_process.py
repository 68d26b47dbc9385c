"""Worker processes for the limits test: a task under a global limit that logs what runs.

    python -m support.limits_process DB OUT [SCHEMA]
        run a TaskWorker for Slot until SIGTERM; prints "ready" once claiming. DB is a SQLite
        path or a postgresql:// URL (then SCHEMA is the schema to use).

Each run appends ``start JOB T`` and ``end JOB T`` lines to ``OUT/<pid>.log``, where T is
``time.monotonic()`` -- one clock for every process of the host.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import attrs
import trio

from service.jobs import (
    JobContext,
    JobStore,
    PostgresStore,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerConfig,
)

#: Short leases: a killed process's slot comes back within about 4.5 s. (With 2 s, the 1.5 s
#: in which the others must run jobs on the free slots was once missed on a loaded machine.)
CONFIG = WorkerConfig(lease_ttl=4.0, lease_renew_interval=0.5, rescue_interval=0.5,
                      poll_min=0.02, poll_max=0.2, shutdown_grace=2.0)
GLOBAL = 3


@attrs.frozen(kw_only=True)
class Slot(Task):
    """Runs ``seconds``; four may run in each process, three in all of them."""

    options = TaskOptions(name="slot", concurrency=4, global_concurrency=GLOBAL,
                          max_attempts=5)
    seconds: float

    async def run(self, ctx: JobContext[str]) -> None:
        log = Path(ctx.state) / f"{os.getpid()}.log"
        with log.open("a") as out:
            out.write(f"start {ctx.job_id} {time.monotonic()}\n")
        await trio.sleep(self.seconds)
        with log.open("a") as out:
            out.write(f"end {ctx.job_id} {time.monotonic()}\n")


def open_jobs_store(db: str, schema: str | None) -> JobStore:
    if db.startswith("postgresql://"):
        return PostgresStore(db, schema=schema)
    return SQLiteStore(db)


async def work(db: str, out: str, schema: str | None) -> None:
    async with open_jobs_store(db, schema) as store:
        worker = TaskWorker(store, [Slot], state=out, config=CONFIG)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                print("ready", flush=True)
                async for _ in signals:
                    break
                await worker.shutdown()


def main() -> None:
    trio.run(work, sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)


if __name__ == "__main__":
    main()
