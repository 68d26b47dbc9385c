"""Scenarios 1 and 2 (and the push half of 8): durable pushes per second.

Ours: ``push`` one at a time from one task and from 10 concurrent tasks, and ``push_many`` in
batches of 1,000, into a fresh store each time -- SQLite at the engine's ``synchronous=NORMAL``
and at ``FULL``, and PostgreSQL (one-at-a-time pushes there use N = 5,000: ~1k/s). Peers: Huey
``enqueue`` from 1 and 10 threads; Procrastinate ``defer`` (N = 5,000) and ``batch_defer``.
Each measurement is a fresh child process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from . import pg, stores
from .common import Context, Results, plural, rate
from .ours import opened, push_jobs
from .proc import measure

if TYPE_CHECKING:
    from collections.abc import Callable

MODES = {
    "one": "push, 1 task",
    "tasks10": "push, 10 concurrent tasks",
    "many": "push_many, 1,000 per call",
}


def child_ours(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    jobs = args["jobs"]

    async def main() -> float:
        async with opened(args["spec"]) as store:
            seconds = await push_jobs(store, args["mode"], jobs)
            counts = await store.job_count_by_state()
        assert sum(counts.values()) == jobs, counts
        return seconds

    return {"rate": rate(jobs, trio.run(main))}


def run(ctx: Context, results: Results) -> None:
    for variant, spec in stores.variants(ctx, ctx.variants).items():
        for mode, label in MODES.items():
            jobs = ctx.slow_jobs if variant == "pg" and mode != "many" else ctx.jobs
            with spec() as store:
                measure(results, f"push.{mode}.{variant}", f"{label} ({jobs:,})", "jobs/s",
                        "bench.pushes:child_ours", {"spec": store, "mode": mode, "jobs": jobs})
    _huey(ctx, results)
    _procrastinate(ctx, results)


def _huey(ctx: Context, results: Results) -> None:
    if (why := ctx.without("huey")) is not None:
        results.skip("huey.enqueue", why)
        return
    for threads in (1, 10):
        measure(results, f"huey.enqueue.t{threads}", f"Huey enqueue, {plural(threads, 'thread')}",
                "jobs/s", "bench.peers.huey_peer:child_enqueue",
                {"path": str(ctx.scratch("huey.db")), "jobs": ctx.jobs, "threads": threads})


def _procrastinate(ctx: Context, results: Results) -> None:
    if (why := ctx.without("procrastinate")) is not None:
        results.skip("procrastinate.defer", why)
        return
    with pg.throwaway_database(ctx.pg_url) as url:
        out = measure(results, "procrastinate.defer", f"Procrastinate defer ({ctx.slow_jobs:,})",
                      "jobs/s", "bench.peers.procrastinate_peer:child_defer",
                      {"url": url, "single": ctx.slow_jobs, "jobs": ctx.jobs}, field="defer")
    if out is not None:
        results.add("procrastinate.batch_defer", out["batch_defer"],
                    "Procrastinate batch_defer, 1,000 per call", "jobs/s")
