"""A worker process for the workflow chaos test, killed and restarted by the test.

    python -m support.workflow_process STORE_URL OUT

Prints ``ready`` once its worker runs, then runs :class:`ChaosStep` jobs until killed. Each
attempt appends ``start <id>`` when it begins and ``done <id>`` just before it returns to
``OUT`` (one ``O_APPEND`` write each, so the lines of every process land in the order they
happened), and ``bad <id>`` if a dependency's result was missing. Short leases: the jobs of a
killed process are rescued within about 1.5 s.
"""

from __future__ import annotations

import os
import sys

import attrs
import trio

from service.jobs import JobContext, Task, TaskOptions, TaskWorker, WorkerConfig, open_store

CONFIG = WorkerConfig(lease_ttl=1.0, lease_renew_interval=0.3, rescue_interval=0.2,
                      max_rescues=100, poll_max=0.2, shutdown_grace=0.5)


def record(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@attrs.frozen(kw_only=True)
class ChaosStep(Task):
    options = TaskOptions(name="chaos_step", concurrency=4, max_attempts=100)
    n: int
    pause: float
    #: How many dependencies it must see completed.
    deps: int = 0

    async def run(self, ctx: JobContext) -> int:
        out: str = ctx.state
        record(out, f"start {ctx.job_id}\n")
        results = await ctx.dependency_results()
        if len(results) != self.deps or ctx.failed_dependencies:
            record(out, f"bad {ctx.job_id}\n")
        await trio.sleep(self.pause)
        record(out, f"done {ctx.job_id}\n")
        return self.n


async def work(url: str, out: str) -> None:
    async with open_store(url) as store:
        worker = TaskWorker(store, [ChaosStep], state=out, config=CONFIG)
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            print("ready", flush=True)


if __name__ == "__main__":
    trio.run(work, sys.argv[1], sys.argv[2])
