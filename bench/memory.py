"""Scenario 6: peak memory of one worker process, idle and with 1M pending jobs.

Each worker is a separate process that opens its queue, starts working, and runs for a fixed
time (5 s; jobs keep running when there are any). The parent samples its RSS and USS (pages
mapped by this process alone, which includes SQLite's page cache and the pages of the database
file it memory-maps) with psutil every 20 ms; the kernel's own high-water mark (``VmHWM``) is
reported beside it. To show where a worker's memory goes, interpreters that only import
something (trio; the engine's own dependencies; trio.testing; psycopg; the engine; huey) are
measured the same way, in the first run only.

Ours: a TaskWorker with one no-op task type of 10 slots on SQLite (the engine's default 8 MiB
page cache, as Huey's, no mmap); also, as a what-if, the same with a 128 MiB page cache and 256 MiB
of mmap (``SERVICE_SQLITE_CACHE_BYTES`` / ``SERVICE_SQLITE_MMAP_BYTES``, set here through the
store's public ``query``). Huey: its
consumer with 10 thread workers on SqliteHuey. Procrastinate: its worker at concurrency 10
(idle only: filling its table with a million jobs would take minutes). The 1M-job tables are
built fast (see :mod:`bench.tables`; Huey's by :func:`bench.peers.huey_peer.fill`) and copied
per run.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import trio

from service.jobs import TaskWorker

from . import tables
from .ours import TrioTally, opened, task_class
from .proc import Child, ChildFailed, run_child

if TYPE_CHECKING:
    from collections.abc import Callable

    from .common import Context, Results

MIB = 1024 * 1024


def child_ours(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """A worker process that works (or idles) for ``seconds``."""
    cls = task_class("noop", 10)
    tally = TrioTally(0)

    async def main() -> None:
        async with opened(args["spec"]) as store:
            worker = TaskWorker(store, [cls], state=tally)
            async with trio.open_nursery() as nursery:
                await nursery.start(worker.run)
                ready()
                await trio.sleep(args["seconds"])
                await worker.shutdown()

    trio.run(main)
    return {"started": tally.count}


def _sample(results: Results, ctx: Context, key: str, label: str, target: str,
            args: dict[str, Any]) -> None:
    if not ctx.can_sample_memory:
        # Without psutil, the kernel's high-water mark reported by the child itself.
        try:
            out = run_child(target, args)
        except ChildFailed as exc:
            results.skip(key, f"failed: {exc}")
            return
        results.add(f"{key}.rss", out["peak_rss_kib"] / 1024, f"{label}: peak RSS (VmHWM)",
                    "MiB", higher_is_better=False)
        return
    try:
        with Child(target, args, sample_memory=True) as child:
            out = child.result()
    except ChildFailed as exc:
        results.skip(key, f"failed: {exc}")
        return
    results.add(f"{key}.rss", child.peak_rss / MIB, f"{label}: peak RSS", "MiB",
                higher_is_better=False)
    results.add(f"{key}.uss", child.peak_uss / MIB, f"{label}: peak USS (private)", "MiB",
                higher_is_better=False)
    results.add(f"{key}.hwm", out["peak_rss_kib"] / 1024,
                f"{label}: VmHWM (kernel high-water mark)", "MiB", higher_is_better=False)
    if "started" in out:
        results.add(f"{key}.jobs", out["started"], f"{label}: jobs run meanwhile", "jobs")


IMPORTS = {
    "python": ("bare interpreter", []),
    "trio": ("import trio", ["trio"]),
    "deps": ("import trio, attrs, cattrs (what a SQLite worker needs)",
             ["trio", "attrs", "cattrs.preconf.json"]),
    "trio_testing": ("import trio.testing (pulls in pytest when it is installed)",
                     ["trio.testing"]),
    "psycopg": ("import psycopg, psycopg_pool", ["psycopg", "psycopg_pool"]),
    "engine": ("import service.jobs", ["service.jobs"]),
    "huey": ("import huey", ["huey"]),
}


def run(ctx: Context, results: Results) -> None:
    # Import costs do not vary between runs: measured in the first run only.
    first = ctx.run_index == 0 and not ctx.quick
    for name, (label, modules) in IMPORTS.items() if first else ():
        if name == "huey" and "huey" not in ctx.peers:
            continue
        _sample(results, ctx, f"rss.import.{name}", label, "bench.bare:child_import",
                {"modules": modules})
    big = ctx.sizes[-1]
    seconds = ctx.memory_seconds
    for name, pragmas in (("idle", []), ("pending", []), ("pending_big_cache", BIG_CACHE)):
        counts = {} if name == "idle" else {"due": big}
        source = tables.cached(ctx.workdir, f"pending-{big}" if counts else "empty", **counts)
        path = tables.copy(source, ctx.scratch(f"memory-{name}.db"))
        system = "ours (TaskWorker, 10 slots" + (", 128 MiB cache + mmap)" if pragmas else ")")
        label = _label(system, name, big)
        _sample(results, ctx, f"rss.ours.{name}", label, "bench.memory:child_ours",
                {"spec": {"backend": "sqlite", "path": str(path), "pragmas": pragmas},
                 "seconds": seconds})
    _huey(ctx, results, big, seconds)
    _procrastinate(ctx, results, seconds)


def _label(system: str, name: str, big: int) -> str:
    return f"{system}, idle" if name == "idle" else f"{system}, {big:,} jobs pending"


#: What-if, set through the store's own ``query`` after opening (as ``synchronous=FULL`` is):
#: What a big page cache and memory-mapped I/O cost, against the engine's default 8 MiB, no mmap.
BIG_CACHE = ["PRAGMA cache_size = -131072", "PRAGMA mmap_size = 268435456"]


def _huey(ctx: Context, results: Results, big: int, seconds: float) -> None:
    if (why := ctx.without("huey")) is not None:
        results.skip("rss.huey", why)
        return
    source = ctx.workdir / "tables" / f"huey-{big}.db"
    if not source.exists():
        source.parent.mkdir(exist_ok=True)
        run_child("bench.peers.huey_peer:child_fill", {"path": str(source), "count": big})
    for name in ("idle", "pending"):
        path = ctx.scratch(f"huey-{name}.db")
        if name == "pending":
            shutil.copyfile(source, path)
        _sample(results, ctx, f"rss.huey.{name}",
                _label("Huey (consumer, 10 threads)", name, big),
                "bench.peers.huey_peer:child_worker",
                {"path": str(path), "threads": 10, "seconds": seconds})


def _procrastinate(ctx: Context, results: Results, seconds: float) -> None:
    if (why := ctx.without("procrastinate")) is not None:
        results.skip("rss.procrastinate", why)
        return
    from . import pg  # psycopg: only the parent and PostgreSQL children load it

    with pg.throwaway_database(ctx.pg_url) as url:
        _sample(results, ctx, "rss.procrastinate.idle",
                "Procrastinate (worker, concurrency 10), idle",
                "bench.peers.procrastinate_peer:child_worker",
                {"url": url, "concurrency": 10, "schema": True, "seconds": seconds})
