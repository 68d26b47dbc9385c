"""Scenario 4 (and the latency half of 8): push->start latency at a steady rate.

A pusher pushes a no-op job carrying its push time (wall clock, taken just before the push call)
at a steady 100 jobs/s, well below every system's saturation (Procrastinate drains ~300-450/s
here), for 1 s of warm-up then 5 s measured; the task computes ``now - pushed_at`` when it starts.
p50/p95/p99 over the measured jobs (the warm-up's are left out: a worker idle before the first
push has backed its poll off, and the scenario is about the steady state).

- same process: pusher task and TaskWorker in one trio run, one store (the in-process wake-up);
- across processes: a worker process and a separate pusher process on the same database
  (SQLite: a datagram over the file's wake channel, the poll only as a fallback -- before
  issue 15 the worker's backing-off poll, 50 ms -> 1 s; PostgreSQL: LISTEN/NOTIFY);
- peers, across processes as they are used: Huey's consumer (10 threads, its polling) and
  Procrastinate's worker (concurrency 10, LISTEN/NOTIFY).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from . import pg, stores
from .ours import TrioTally, opened, push_steadily, task_class, work_until_done
from .proc import Child, ChildFailed, run_child

if TYPE_CHECKING:
    from collections.abc import Callable

    from .common import Context, Results

POINTS = ("p50", "p95", "p99")
SLACK = 15.0  # seconds a worker waits beyond the pushing time before giving up


def child_inproc(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Pusher and worker in one process; percentiles in seconds."""
    cls = task_class("timed")
    tally = TrioTally(int(args["rate"] * args["seconds"]))

    async def main() -> None:
        async with opened(args["spec"]) as store, trio.open_nursery() as nursery:
            async def push_when_ready() -> None:
                await push_steadily(store, args["rate"], args["seconds"])

            await work_until_done(store, cls, tally, args["seconds"] + SLACK,
                                  started=lambda: nursery.start_soon(push_when_ready))

    trio.run(main)
    return tally.report(args["warmup"])


def child_worker(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """A worker process: reports ready once claiming, ends after ``expect`` jobs started."""
    cls = task_class("timed")
    tally = TrioTally(args["expect"])

    async def main() -> None:
        async with opened(args["spec"]) as store:
            await work_until_done(store, cls, tally, args["seconds"], started=ready)

    trio.run(main)
    return tally.report(args["warmup"])


def child_pusher(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    async def main() -> int:
        async with opened(args["spec"]) as store:
            return await push_steadily(store, args["rate"], args["seconds"])

    return {"pushed": trio.run(main)}


def _record(results: Results, key: str, label: str, out: dict[str, Any]) -> None:
    for point, value in zip(POINTS, out["percentiles"], strict=True):
        results.add(f"{key}.{point}", value * 1000, f"{label} {point}", "ms",
                    higher_is_better=False)


def _cross(results: Results, key: str, label: str, worker: tuple[str, dict[str, Any]],
           pusher: tuple[str, dict[str, Any]]) -> None:
    """Start a worker process, run a pusher process against it, record the worker's view."""
    try:
        with Child(*worker) as child:
            child.ready()
            run_child(*pusher)
            out = child.result()
    except ChildFailed as exc:
        results.skip(key, f"failed: {str(exc).strip().splitlines()[-1][:300]}")
        return
    _record(results, key, label, out)


def run(ctx: Context, results: Results) -> None:
    seconds = ctx.latency_warmup + ctx.latency_seconds
    steady = {"rate": ctx.latency_rate, "seconds": seconds}
    warmup = int(ctx.latency_rate * ctx.latency_warmup)
    waiting = {"expect": int(ctx.latency_rate * seconds), "seconds": seconds + SLACK,
               "warmup": warmup}
    for variant, spec in stores.variants(ctx, ctx.latency_variants).items():
        name = stores.LABELS[variant]
        with spec() as store:
            try:
                _record(results, f"latency.{variant}.inproc", f"{name}, same process",
                        run_child("bench.latency:child_inproc",
                                  {"spec": store, "warmup": warmup, **steady}))
            except ChildFailed as exc:
                results.skip(f"latency.{variant}.inproc", f"failed: {exc}")
        with spec() as store:
            trio.run(_migrate, store)
            _cross(results, f"latency.{variant}.xproc", f"{name}, across processes",
                   ("bench.latency:child_worker", {"spec": store, **waiting}),
                   ("bench.latency:child_pusher", {"spec": store, **steady}))
    _peers(ctx, results, steady, waiting)


async def _migrate(spec: dict[str, Any]) -> None:
    """Create the schema first, so worker and pusher do not race to migrate a new database."""
    async with opened(spec):
        pass


def _peers(ctx: Context, results: Results, steady: dict[str, Any],
           waiting: dict[str, Any]) -> None:
    if (why := ctx.without("huey")) is not None:
        results.skip("latency.huey", why)
    else:
        path = str(ctx.scratch("huey.db"))
        _cross(results, "latency.huey", "Huey consumer (10 threads), across processes",
               ("bench.peers.huey_peer:child_worker", {"path": path, "threads": 10, **waiting}),
               ("bench.peers.huey_peer:child_pusher", {"path": path, **steady}))
    if (why := ctx.without("procrastinate")) is not None or ctx.pg_url is None:
        results.skip("latency.procrastinate", str(why))
        return
    with pg.throwaway_database(ctx.pg_url) as url:
        _cross(results, "latency.procrastinate",
               "Procrastinate worker (concurrency 10), across processes",
               ("bench.peers.procrastinate_peer:child_worker",
                {"url": url, "concurrency": 10, "schema": True, **waiting}),
               ("bench.peers.procrastinate_peer:child_pusher", {"url": url, **steady}))
