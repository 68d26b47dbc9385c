"""Scenario 3 (and the burn-down half of 8): N pre-inserted no-op jobs drained by one worker.

Ours: the jobs are pushed first (``push_many``, untimed), then a fresh worker process opens the
store and runs a ``TaskWorker`` (default ``WorkerConfig``) whose one task type has 1, 10 or 100
slots; the clock runs from the worker's start until the last job has started and its outcome is
recorded (the worker's shutdown waits for outcomes). PostgreSQL tables are ``ANALYZE``d after
the fill, as Procrastinate's are. Peers: Huey's consumer with 1, 4 and 10 worker threads;
Procrastinate's worker at concurrency 10 (it stops when the queue is empty: ``wait=False``).
Concurrency-1 drains and Procrastinate's use N = 5,000 (they run at ~0.5-2k jobs/s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from . import pg, stores
from .common import Context, Results, plural, rate
from .ours import TrioTally, opened, prefill, task_class, work_until_done
from .proc import ChildFailed, measure, run_child

if TYPE_CHECKING:
    from collections.abc import Callable

PROCRASTINATE_CONCURRENCY = 10
TIMEOUT = 600.0


def child_ours(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Drain ``jobs`` pre-inserted no-op jobs with ``concurrency`` slots; jobs/s."""
    jobs = args["jobs"]
    cls = task_class("noop", args["concurrency"])

    async def main() -> float:
        async with opened(args["spec"]) as store:
            seconds = await work_until_done(store, cls, TrioTally(jobs), TIMEOUT)
            if args.get("drains_all", True):  # (a count of a 1M-row table would be profiled)
                counts = await store.job_count_by_state()
                by_state = {state.value: n for (_, state), n in counts.items()}
                assert by_state.get("completed") == jobs + args.get("completed_before", 0), by_state
                assert not {"available", "running", "retryable"} & set(by_state), by_state
        return seconds

    return {"rate": rate(jobs, trio.run(main))}


def run(ctx: Context, results: Results) -> None:
    for variant, spec in stores.variants(ctx, ctx.variants).items():
        for concurrency in ctx.concurrencies:
            jobs = ctx.slow_jobs if concurrency == 1 else ctx.jobs
            with spec() as store:
                trio.run(prefill, store, jobs)
                if store["backend"] == "postgresql":
                    pg.analyze(store["url"], "jobs", store["schema"])
                measure(results, f"burn.{variant}.c{concurrency}",
                        f"{stores.LABELS[variant]} worker, concurrency {concurrency} ({jobs:,})",
                        "jobs/s", "bench.burn:child_ours",
                        {"spec": store, "jobs": jobs, "concurrency": concurrency})
    _huey(ctx, results)
    _procrastinate(ctx, results)


def _huey(ctx: Context, results: Results) -> None:
    if (why := ctx.without("huey")) is not None:
        results.skip("huey.consume", why)
        return
    for threads in ctx.huey_threads:
        measure(results, f"huey.consume.t{threads}", f"Huey consumer, {plural(threads, 'thread')}",
                "jobs/s", "bench.peers.huey_peer:child_consume",
                {"path": str(ctx.scratch("huey.db")), "jobs": ctx.jobs, "threads": threads})


def _procrastinate(ctx: Context, results: Results) -> None:
    if (why := ctx.without("procrastinate")) is not None:
        results.skip("procrastinate.work", why)
        return
    with pg.throwaway_database(ctx.pg_url) as url:
        try:
            run_child("bench.peers.procrastinate_peer:child_defer",
                      {"url": url, "single": 0, "jobs": ctx.slow_jobs})
        except ChildFailed as exc:
            results.skip("procrastinate.work", f"fill failed: {exc}")
            return
        pg.analyze(url, "procrastinate_jobs")
        measure(results, f"procrastinate.work.c{PROCRASTINATE_CONCURRENCY}",
                f"Procrastinate worker, concurrency {PROCRASTINATE_CONCURRENCY}"
                f" ({ctx.slow_jobs:,})", "jobs/s",
                "bench.peers.procrastinate_peer:child_work",
                {"url": url, "concurrency": PROCRASTINATE_CONCURRENCY})
