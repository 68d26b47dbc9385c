"""Cancel latency across processes (issue 14): an operator's cancel -> the task sees Cancelled.

A worker process runs jobs that sleep until cancelled and notes the wall-clock time at which
each sees ``trio.Cancelled``; an operator process pushes one such job at a time, waits until it
is running, notes the time and cancels it (``JobAdmin.cancel``, what the API, CLI and dashboard
call). The latency is the difference, over ``CANCELS`` cancels (p50/p95/p99), for SQLite (the
wake channel's datagram) and PostgreSQL (NOTIFY). Before issue 14 the cancel reached the task
at the worker's next lease renewal: up to 5 s, about 2.5 s on average.

    .venv/bin/python -m bench.cancel_latency            # prints the table, SQLite and PostgreSQL
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from service.jobs import JobAdmin, JobContext, JobState, Task, TaskOptions, TaskRegistry

from . import pg, stores
from .common import Context, Results, percentiles
from .ours import TrioTally, opened, work_until_done
from .proc import Child, ChildFailed, run_child
from .run_all import parse

if TYPE_CHECKING:
    from collections.abc import Callable

CANCELS = 50
POINTS = ("p50", "p95", "p99")


class Seen(TrioTally):
    """The worker's state: when each job saw Cancelled; ``done`` once ``target`` have."""

    def __init__(self, target: int) -> None:
        super().__init__(target)
        self.cancelled_at: dict[int, float] = {}


@attrs.frozen(kw_only=True)
class Hang(Task):
    options = TaskOptions(name="bench.hang", concurrency=10, max_attempts=1)
    n: int

    async def run(self, ctx: JobContext[Seen]) -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            ctx.state.cancelled_at[ctx.job_id] = time.time()
            ctx.state.hit()
            raise


def child_worker(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    seen = Seen(args["cancels"])

    async def main() -> None:
        async with opened(args["spec"]) as store:
            await work_until_done(store, Hang, seen, args["within"], started=ready)

    trio.run(main)
    return {"cancelled_at": {str(k): v for k, v in seen.cancelled_at.items()}}


def child_operator(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    async def main() -> dict[str, float]:
        asked: dict[str, float] = {}
        async with opened(args["spec"]) as store:
            admin = JobAdmin(store, TaskRegistry([Hang]))
            for n in range(args["cancels"]):
                job_id = await store.push(Hang(n=n))
                with trio.fail_after(30):
                    # Polling the row: the running state lives in another process's database.
                    while (await store.job_get(job_id)).state is not JobState.RUNNING:  # noqa: ASYNC110
                        await trio.sleep(0.001)
                await trio.sleep(0.005)  # let the task reach its sleep
                asked[str(job_id)] = time.time()
                await admin.cancel(job_id, "bench")
                await trio.sleep(0.02)
        return asked

    return {"asked": trio.run(main)}


def measure(spec: dict[str, Any], cancels: int) -> list[float]:
    """Seconds from each cancel call to its task seeing Cancelled (worker in another process)."""
    with Child("bench.cancel_latency:child_worker",
               {"spec": spec, "cancels": cancels, "within": 60 + cancels}) as worker:
        worker.ready()
        asked = run_child("bench.cancel_latency:child_operator",
                          {"spec": spec, "cancels": cancels})["asked"]
        seen = worker.result()["cancelled_at"]
    return [seen[job_id] - at for job_id, at in asked.items()]


def run(ctx: Context, results: Results) -> None:
    cancels = 10 if ctx.quick else CANCELS
    for variant, spec in stores.variants(ctx, ("sqlite", "pg")).items():
        key = f"cancel.{variant}"
        with spec() as store:
            try:
                latencies = measure(store, cancels)
            except ChildFailed as exc:
                results.skip(key, f"failed: {str(exc).strip().splitlines()[-1][:300]}")
                continue
        label = f"{stores.LABELS[variant]}, across processes ({cancels} cancels)"
        for point, value in zip(POINTS, percentiles(latencies), strict=True):
            results.add(f"{key}.{point}", value * 1000, f"{label} {point}", "ms",
                        higher_is_better=False)


def main() -> int:
    args = parse(["--only", "cancel_latency", *sys.argv[1:]])
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pg_url = None if args.no_postgres or pg.unreachable(args.pg_url) else args.pg_url
        ctx = Context(jobs=500, runs=1, quick=args.quick, workdir=Path(tmp), pg_url=pg_url,
                      peers=set(), log=print)
        run(ctx, results)
    for key, metric in sorted(results.metrics.items()):
        print(f"{metric.label}: {metric.median:.2f} ms  ({key})")
    for key, why in results.skipped.items():
        print(f"skipped {key}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
