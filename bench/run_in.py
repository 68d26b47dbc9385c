"""What running a task's body off the event loop costs, and what it buys.

    python -m bench.run_in [--jobs 500] [--burn 1.0] [--repeat 3]

On a fresh SQLite file, one real TaskWorker (production runner, system clock), per mode
(``loop``, the baseline; ``thread``; ``process``, its pool started before the clock starts):

- **no-op jobs/s**: ``--jobs`` no-op jobs pushed in one call, drained at concurrency 2; the
  ratio is against ``loop`` measured in the same run;
- **worst loop stall**: one CPU-bound job hashing for ``--burn`` s, while a trio task sleeps
  5 ms in a loop and records how late each wake-up is: the longest the event loop could not
  run anything else (lease renewals, other jobs, HTTP requests in a ``run`` process).

The modes take turns ``--repeat`` times; the best run of each is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from service.jobs import JobState, SQLiteStore, TaskWorker

from .run_in_tasks import (
    BurnLoop,
    BurnProcess,
    BurnThread,
    NoopLoop,
    NoopProcess,
    NoopThread,
)

if TYPE_CHECKING:
    from service.jobs import JobStore

NOOPS: dict[str, Any] = {"loop": NoopLoop, "thread": NoopThread, "process": NoopProcess}
BURNS: dict[str, Any] = {"loop": BurnLoop, "thread": BurnThread, "process": BurnProcess}


async def _until_completed(store: JobStore, task: str, jobs: int) -> None:
    while True:
        counts = await store.job_count_by_state()
        if counts.get((task, JobState.COMPLETED), 0) >= jobs:
            return
        await trio.sleep(0.005)


async def noop_rate(store: JobStore, mode: str, jobs: int) -> float:
    cls = NOOPS[mode]
    worker = TaskWorker(store, [cls])
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        # Warm-up: the pool's processes start here, not inside the measured drain.
        await store.push_many(cls(n=-n) for n in range(1, 5))
        await _until_completed(store, cls.options.name, 4)
        await store.push_many(cls(n=n) for n in range(jobs))
        started = time.perf_counter()
        await _until_completed(store, cls.options.name, jobs + 4)
        elapsed = time.perf_counter() - started
        await worker.shutdown()
    return jobs / elapsed


async def worst_stall(store: JobStore, mode: str, burn: float) -> float:
    cls = BURNS[mode]
    worker = TaskWorker(store, [cls, NoopProcess])
    worst = 0.0
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await store.push(NoopProcess(n=0))  # the pool started, as in a warm worker
        await _until_completed(store, NoopProcess.options.name, 1)

        async def watch() -> None:
            nonlocal worst
            while True:
                before = time.perf_counter()
                await trio.sleep(0.005)
                worst = max(worst, time.perf_counter() - before - 0.005)

        nursery.start_soon(watch)
        await store.push(cls(seconds=burn))
        await _until_completed(store, cls.options.name, 1)
        await worker.shutdown()
        nursery.cancel_scope.cancel()
    return worst


async def one_run(mode: str, jobs: int, burn: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as scratch:
        async with SQLiteStore(Path(scratch) / "bench.db") as store:
            rate = await noop_rate(store, mode, jobs)
            stall = await worst_stall(store, mode, burn)
    return rate, stall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--burn", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"SQLite, {args.jobs} no-op jobs at concurrency 2; one {args.burn:g} s CPU-bound job;"
          f" best of {args.repeat}")
    print(f"{'run_in':<8} {'no-op jobs/s':>13} {'vs loop':>8} {'worst loop stall ms':>20}")
    runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in NOOPS}
    for _ in range(args.repeat):  # the modes take turns, so the machine's drift spreads evenly
        for mode in NOOPS:
            runs[mode].append(trio.run(one_run, mode, args.jobs, args.burn))
    base = max(r for r, _ in runs["loop"])
    for mode, measured in runs.items():
        rate = max(r for r, _ in measured)
        stall = min(s for _, s in measured) * 1000
        print(f"{mode:<8} {rate:>13,.0f} {rate / base:>7.2f}x {stall:>20.1f}")


if __name__ == "__main__":
    main()
