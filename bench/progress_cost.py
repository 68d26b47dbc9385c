"""What progress reports cost: a drain of N jobs that report, and a lease renewal that writes
reports, each against its plain baseline measured in the same run.

    python -m bench.progress_cost [--jobs 2000] [--repeat 3]
    python -m bench.progress_cost --database-url postgresql://postgres@127.0.0.1:5432/test

- ``drain``: N no-op jobs drained by one real TaskWorker (production runner, system clock),
  against N jobs that each call ``ctx.progress`` 10 times with a checkpoint (the last report
  rides on the outcome's write).
- ``renewal``: ``job_renew_leases`` of 100 running jobs, plain, against the same renewal
  writing a report for each of them (one statement either way).

The best of ``--repeat`` runs is printed, with the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import psycopg
import trio
from psycopg import sql

from service.jobs import (
    JobProgress,
    JobState,
    JobStore,
    PostgresStore,
    ProgressUpdate,
    SetStateIfRunning,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from service.jobs import JobContext

IN_FLIGHT = 100
RENEWALS = 200


@attrs.frozen(kw_only=True)
class Quiet(Task):
    options = TaskOptions(name="bench.quiet", concurrency=100)
    n: int

    async def run(self, ctx: JobContext) -> None:
        return None


@attrs.frozen(kw_only=True)
class Reporting(Task):
    options = TaskOptions(name="bench.reporting", concurrency=100)
    n: int

    async def run(self, ctx: JobContext) -> None:
        for step in range(1, 11):
            await ctx.progress(step / 10, f"step {step} of 10", checkpoint={"step": step})


async def drain_seconds(store: JobStore, cls: type[Task], jobs: int) -> float:
    await store.push_many(cls(n=n) for n in range(jobs))  # type: ignore[call-arg]
    done = trio.Event()
    recorded = 0

    def on_attempt(_task: str, _seconds: float, outcome: SetStateIfRunning) -> None:
        nonlocal recorded
        assert outcome.state is JobState.COMPLETED
        recorded += 1
        if recorded == jobs:
            done.set()

    worker = TaskWorker(store, [cls], on_attempt=on_attempt)
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        await done.wait()
        elapsed = time.perf_counter() - started
        await worker.shutdown()
    return elapsed


async def renewal_seconds(store: JobStore, with_progress: bool) -> float:
    """Median seconds of one renewal of IN_FLIGHT running jobs."""
    await store.push_many(Quiet(n=n) for n in range(IN_FLIGHT))
    now = store.clock.now()
    owner = secrets.token_hex(4)
    claimed = await store.job_claim(Quiet.options.name, owner, IN_FLIGHT, now, now + 600)
    ids = [job.id for job in claimed]
    times = []
    for round_ in range(RENEWALS):
        at = store.clock.now()
        progress = ({i: ProgressUpdate(
            progress=JobProgress(fraction=round_ / RENEWALS, message=f"round {round_}", at=at),
            checkpoint=f'{{"round":{round_}}}') for i in ids} if with_progress else None)
        started = time.perf_counter()
        held = await store.job_renew_leases(owner, ids, at + 600, progress)
        times.append(time.perf_counter() - started)
        assert len(held) == IN_FLIGHT
    return statistics.median(times)


def fresh_stores(url: str | None) -> Callable[[], AsyncIterator[JobStore]]:
    async def sqlite() -> AsyncIterator[JobStore]:
        with tempfile.TemporaryDirectory() as tmp:
            async with SQLiteStore(Path(tmp) / "bench.db") as store:
                yield store

    async def postgres() -> AsyncIterator[JobStore]:
        assert url is not None
        schema = f"bench_{secrets.token_hex(4)}"
        try:
            async with PostgresStore(url, schema=schema) as store:
                yield store
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(sql.Identifier(schema)))

    return sqlite if url is None else postgres


async def best(fresh: Callable[[], AsyncIterator[JobStore]], repeat: int, measure: Callable[
        [JobStore], object]) -> float:
    results = []
    for _ in range(repeat):
        async for store in fresh():
            results.append(await measure(store))  # type: ignore[misc]
    return min(results)


async def main(jobs: int, repeat: int, url: str | None) -> None:
    fresh = fresh_stores(url)
    plain = await best(fresh, repeat, lambda s: drain_seconds(s, Quiet, jobs))
    reporting = await best(fresh, repeat, lambda s: drain_seconds(s, Reporting, jobs))
    renew = await best(fresh, repeat, lambda s: renewal_seconds(s, False))
    renew_progress = await best(fresh, repeat, lambda s: renewal_seconds(s, True))
    backend = "PostgreSQL" if url else "SQLite"
    print(f"{backend}, best of {repeat}")
    print(f"drain {jobs} no-op jobs:            {jobs / plain:9.0f} jobs/s")
    print(f"drain {jobs} jobs, 10 reports each: {jobs / reporting:9.0f} jobs/s"
          f"  ({reporting / plain:.2f}x the time)")
    print(f"renew {IN_FLIGHT} leases:                {renew * 1e3:9.3f} ms")
    print(f"renew {IN_FLIGHT} leases + reports:      {renew_progress * 1e3:9.3f} ms"
          f"  ({renew_progress / renew:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    trio.run(main, args.jobs, args.repeat, args.database_url)
