"""What a workflow costs: push and run 1,000 members against 1,000 plain jobs.

    python -m bench.workflow_cost [--jobs 1000] [--repeat 3]
    python -m bench.workflow_cost --database-url postgresql://postgres@127.0.0.1:5432/test

Four shapes of the same number of no-op jobs, each pushed in one call and drained by one real
TaskWorker (production runner, system clock), on a fresh SQLite file (or a fresh PostgreSQL
schema, dropped afterwards):

- ``plain``: ``push_many`` of N jobs (the baseline);
- ``independent``: a workflow of N members without dependencies (the workflow's bookkeeping);
- ``fan-in``: N-1 members and a callback after all of them (one dependent, N-1 edges);
- ``chain of 10``: N/10 chains of 10 (each member after the one before it: N-N/10 edges).

Push is the time of the one call; run is from the worker's start to the last completion. The
best of ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import psycopg
import trio
from psycopg import sql

from service.jobs import (
    JobState,
    JobStore,
    PostgresStore,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    Workflow,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.jobs import JobContext


@attrs.frozen(kw_only=True)
class Noop(Task):
    options = TaskOptions(name="bench.noop", concurrency=100)
    n: int

    async def run(self, ctx: JobContext) -> None:
        return None


async def push_plain(store: JobStore, jobs: int) -> list[int]:
    return await store.push_many(Noop(n=n) for n in range(jobs))


async def push_independent(store: JobStore, jobs: int) -> list[int]:
    wf = Workflow("independent")
    for n in range(jobs):
        wf.add(Noop(n=n))
    return await store.push_workflow(wf)


async def push_fan_in(store: JobStore, jobs: int) -> list[int]:
    wf = Workflow("fan-in")
    members = [wf.add(Noop(n=n)) for n in range(jobs - 1)]
    wf.add(Noop(n=jobs), after=members)
    return await store.push_workflow(wf)


async def push_chains(store: JobStore, jobs: int) -> list[int]:
    wf = Workflow("chains")
    last = None
    for n in range(jobs):
        last = wf.add(Noop(n=n), after=[last] if last is not None and n % 10 else [])
    return await store.push_workflow(wf)


SHAPES: dict[str, Callable[[JobStore, int], object]] = {
    "plain (push_many)": push_plain,
    "workflow, independent": push_independent,
    "workflow, fan-in": push_fan_in,
    "workflow, chains of 10": push_chains,
}


async def measure(store: JobStore, shape: str, jobs: int) -> tuple[float, float]:
    started = time.perf_counter()
    ids = await SHAPES[shape](store, jobs)  # type: ignore[misc]
    pushed = time.perf_counter() - started
    assert len(ids) == jobs
    worker = TaskWorker(store, [Noop])
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        while True:
            counts = await store.job_count_by_state()
            if counts.get(("bench.noop", JobState.COMPLETED), 0) >= jobs:
                break
            await trio.sleep(0.005)
        ran = time.perf_counter() - started
        await worker.shutdown()
    return pushed, ran


async def one_run(url: str | None, shape: str, jobs: int) -> tuple[float, float]:
    if url is None:
        with tempfile.TemporaryDirectory() as scratch:
            async with SQLiteStore(Path(scratch) / "bench.db") as store:
                return await measure(store, shape, jobs)
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        async with PostgresStore(url, schema=schema) as store:
            return await measure(store, shape, jobs)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{backend}, {args.jobs} jobs, concurrency 100, best of {args.repeat}")
    print(f"{'shape':<26} {'push ms':>9} {'run ms':>9}")
    for shape in SHAPES:
        runs = [trio.run(one_run, args.database_url, shape, args.jobs)
                for _ in range(args.repeat)]
        push = min(p for p, _ in runs) * 1000
        run = min(r for _, r in runs) * 1000
        print(f"{shape:<26} {push:>9.1f} {run:>9.1f}")


if __name__ == "__main__":
    main()
