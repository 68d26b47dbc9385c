"""Diagnostic: how long one big ``push_many`` holds the event loop, and what the push check costs.

Stall: a child process opens a fresh store (production runner, system clock, a push listener as
an in-process worker has) and starts a trio task that sleeps 1 ms in a loop and records how late
each wake-up is; then one ``push_many`` of 100,000 no-op jobs (10,000 with ``--quick``). Reported:
the worst lateness (the longest the event loop could not run anything else) and the batch's
jobs/s. ``old path`` runs the same engine with its big-batch measures switched off through their
module constants (every row built, written and unpacked on the event loop in one go, the cyclic
GC left on) -- what ``push_many`` did before; on PostgreSQL the write was already in a thread.

Push check: the cost of refusing undecodable payloads at push time, single pushes of a
one-field task on SQLite, in one child that alternates 1,000-push chunks of three variants on
the same store (so load drift spreads evenly): ``encode`` only (before), the full decode of the
stored text, and the per-class check (what ``push`` does).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import trio

from service.jobs import SQLiteStore
from service.jobs import _codec as codec
from service.jobs import _payload_check as payload_check
from service.jobs import _push as push_module
from service.jobs._sqlite import store as sqlite_store

from . import stores
from .common import Context, Results, rate
from .ours import NoOp, opened
from .proc import measure

if TYPE_CHECKING:
    from collections.abc import Callable

BIG = 10**12  # a constant no batch reaches: switches a big-batch measure off


class StallMeter:
    """Sleeps 1 ms in a loop and keeps the worst lateness of its wake-ups.

    ``worst_own`` counts of each lateness only as much as this process ran meanwhile (CPU time
    of all its threads, ``time.process_time``): a wake-up late because the loop was busy, or
    waited for the GIL held by one of the process's own threads, counts whole; one late
    because the machine gave the process no core (a database server on the same two cores
    deleting a million rows) counts only for what the process did run. It is an upper bound of
    the stalls the process caused itself.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_own = 0.0
        self.ticks = 0

    def reset(self) -> None:
        self.worst = self.worst_own = 0.0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        task_status.started()
        while True:
            before = trio.current_time()
            cpu = time.process_time()
            await trio.sleep(0.001)
            late = trio.current_time() - before - 0.001
            self.worst = max(self.worst, late)
            self.worst_own = max(self.worst_own, min(late, time.process_time() - cpu))
            self.ticks += 1


def child_stall(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    if args["old"]:
        sqlite_store.INLINE_ROWS = BIG
        push_module.BUILD_CHUNK = BIG
        push_module.GC_PAUSE_ROWS = BIG
        push_module.STREAM_FROM = BIG + 1
    jobs = args["jobs"]

    async def main() -> tuple[float, float]:
        async with opened(args["spec"]) as store:
            store.add_push_listener(lambda tasks, earliest: None)
            meter = StallMeter()
            async with trio.open_nursery() as nursery:
                await nursery.start(meter.run)
                await trio.sleep(0.05)
                start = time.perf_counter()
                ids = await store.push_many(NoOp(n=n) for n in range(jobs))
                seconds = time.perf_counter() - start
                await trio.sleep(0.02)  # whatever followed the push counts too
                nursery.cancel_scope.cancel()
        assert len(ids) == jobs
        return meter.worst, seconds

    worst, seconds = trio.run(main)
    return {"worst_ms": worst * 1000, "rate": rate(jobs, seconds)}


def _plain(task: Any, *, name: str) -> str:
    return codec.encode(task, name=name)


def _full(task: Any, *, name: str) -> str:
    text = codec.encode(task, name=name)
    codec.decode(text, type(task), name=name)
    return text


CHECKS: dict[str, Callable[..., str]] = {
    "none": _plain, "decode": _full, "check": payload_check.encode_task,
}
CHECK_LABELS = {"none": "encode only (before)", "decode": "full decode of the stored text",
                "check": "per-class check (push now)"}


def child_check(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    chunk, cycles = 1000, args["cycles"]
    spent = dict.fromkeys(CHECKS, 0.0)

    async def main() -> None:
        async with SQLiteStore(args["path"]) as store:
            for n in range(chunk):
                await store.push(NoOp(n=n))
            names = list(CHECKS)
            for cycle in range(cycles):
                for name in names[cycle % 3:] + names[:cycle % 3]:
                    push_module.encode_task = CHECKS[name]
                    start = time.perf_counter()
                    for n in range(chunk):
                        await store.push(NoOp(n=n))
                    spent[name] += time.perf_counter() - start

    trio.run(main)
    task = NoOp(n=12345)
    per_call = {}
    for name, fn in CHECKS.items():
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(20_000):
                fn(task, name="bench.noop")
            best = min(best, (time.perf_counter() - start) / 20_000)
        per_call[name] = best * 1e6
    out = {name: rate(chunk * cycles, spent[name]) for name in CHECKS}
    return out | {f"{name}_us": per_call[name] for name in CHECKS}


def run(ctx: Context, results: Results) -> None:
    jobs = 10_000 if ctx.quick else 100_000
    for variant, spec in stores.variants(ctx, ("sqlite", "pg")).items():
        for old in (False, True):
            key = f"stall.{variant}" + (".old" if old else "")
            what = f"{stores.LABELS[variant]}, push_many of {jobs:,}" + (
                ", old path" if old else "")
            with spec() as store:
                out = measure(results, f"{key}.worst", f"{what}: worst stall", "ms",
                              "bench.stalls:child_stall",
                              {"spec": store, "jobs": jobs, "old": old},
                              field="worst_ms", higher_is_better=False)
            if out is not None:
                results.add(f"{key}.rate", out["rate"], f"{what}: jobs/s", "jobs/s")
    out = measure(results, "check.none.rate", "single push, " + CHECK_LABELS["none"], "jobs/s",
                  "bench.stalls:child_check",
                  {"path": str(ctx.scratch("check.db")), "cycles": 2 if ctx.quick else 10},
                  field="none")
    if out is None:
        return
    for name, label in CHECK_LABELS.items():
        if name != "none":
            results.add(f"check.{name}.rate", out[name], f"single push, {label}", "jobs/s")
        results.add(f"check.{name}.us", out[f"{name}_us"], f"{label}: µs per task", "µs",
                    higher_is_better=False)
