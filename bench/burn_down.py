"""Burn-down benchmark: push N no-op jobs, then drain them with a real TaskWorker.

    python bench/burn_down.py [--jobs 20000] [--concurrency 50]
    python bench/burn_down.py --database-url postgresql://postgres@127.0.0.1:5432/test

By default everything runs on a fresh SQLite file with the production runner (one dedicated DB
thread) and the system clock. The baseline, measured in the same run on the same disk, is plain
synchronous sqlite3 doing the same two writes per job (insert; claim+complete) one transaction
each, with no event loop: the ratio says what trio, the thread hop and the engine's bookkeeping
cost.

With ``--database-url postgresql://...`` the engine runs on PostgresStore in a fresh schema
(dropped afterwards), and the baseline is plain synchronous psycopg doing the same two writes per
job, one transaction each, on one connection.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import psycopg
import trio
from psycopg import sql

from service.jobs import (
    JobContext,
    JobState,
    PostgresStore,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
)

if TYPE_CHECKING:
    from collections.abc import Callable


@attrs.define
class Tally:
    """Counts finished no-op jobs; ``done`` is set at the target, so no polling is needed."""

    target: int
    count: int = 0
    done: trio.Event = attrs.field(factory=trio.Event)


@attrs.frozen(kw_only=True)
class NoOp(Task):
    options = TaskOptions(name="noop", concurrency=50)
    n: int

    async def run(self, ctx: JobContext) -> None:
        tally: Tally = ctx.state
        tally.count += 1
        if tally.count >= tally.target:
            tally.done.set()


async def measure_engine(
    open_store: Callable[[], SQLiteStore | PostgresStore], jobs: int, concurrency: int
) -> dict[str, float]:
    cls = attrs.evolve(NoOp.options, concurrency=concurrency)
    NoOp.options = cls  # type: ignore[misc]
    async with open_store() as store:
        single = min(jobs, 2000)
        start = time.perf_counter()
        for n in range(single):
            await store.push(NoOp(n=n))
        push_one = single / (time.perf_counter() - start)

        start = time.perf_counter()
        for first in range(single, jobs, 500):
            await store.push_many(NoOp(n=n) for n in range(first, min(jobs, first + 500)))
        push_many = (jobs - single) / (time.perf_counter() - start)

        tally = Tally(target=jobs)
        worker = TaskWorker(store, [NoOp], state=tally)
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            await nursery.start(worker.run)
            await tally.done.wait()
            await worker.shutdown()  # returns once every outcome is recorded
            elapsed = time.perf_counter() - start
        counts = await store.job_count_by_state()
        assert counts == {("noop", JobState.COMPLETED): jobs}, counts
    return {"push_one": push_one, "push_many": push_many, "burn_down": jobs / elapsed}


def measure_baseline(path: Path, jobs: int) -> dict[str, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, args TEXT, state TEXT, run_at REAL)"
    )
    conn.execute("CREATE INDEX jobs_available ON jobs (run_at, id) WHERE state = 'available'")
    start = time.perf_counter()
    for n in range(jobs):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO jobs (args, state, run_at) VALUES (?, 'available', ?)",
            (f'{{"n":{n}}}', time.time()),
        )
        conn.execute("COMMIT")
    push = jobs / (time.perf_counter() - start)
    start = time.perf_counter()
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "UPDATE jobs SET state = 'running' WHERE id IN (SELECT id FROM jobs"
            " WHERE state = 'available' ORDER BY run_at, id LIMIT 1) RETURNING id"
        ).fetchone()
        conn.execute("COMMIT")
        if row is None:
            break
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE jobs SET state = 'completed' WHERE id = ?", row)
        conn.execute("COMMIT")
    drain = jobs / (time.perf_counter() - start)
    conn.close()
    return {"push_one": push, "burn_down": drain}


def measure_baseline_postgres(url: str, schema: str, jobs: int) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE jobs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, args TEXT,"
            " state TEXT, run_at DOUBLE PRECISION)"
        )
        conn.execute("CREATE INDEX jobs_available ON jobs (run_at, id) WHERE state = 'available'")
        start = time.perf_counter()
        for n in range(jobs):
            conn.execute(
                "INSERT INTO jobs (args, state, run_at) VALUES (%s, 'available', %s)",
                (f'{{"n":{n}}}', time.time()),
            )
        push = jobs / (time.perf_counter() - start)
        start = time.perf_counter()
        while True:
            row = conn.execute(
                "UPDATE jobs SET state = 'running' WHERE id IN (SELECT id FROM jobs"
                " WHERE state = 'available' ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                " RETURNING id"
            ).fetchone()
            if row is None:
                break
            conn.execute("UPDATE jobs SET state = 'completed' WHERE id = %s", row)
        drain = jobs / (time.perf_counter() - start)
    return {"push_one": push, "burn_down": drain}


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run_postgres(url: str, jobs: int, concurrency: int) -> tuple[dict[str, float], ...]:
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        base = measure_baseline_postgres(url, schema + "_base", jobs)
        ours = trio.run(measure_engine, lambda: PostgresStore(url, schema=schema), jobs,
                        concurrency)
    finally:
        drop_schema(url, schema + "_base")
        drop_schema(url, schema)
    return base, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database-url", default=None,
                        help="postgresql://... to run on PostgreSQL (default: a SQLite file)")
    args = parser.parse_args()
    if args.database_url is not None:
        base, ours = run_postgres(args.database_url, args.jobs, args.concurrency)
        with psycopg.connect(args.database_url) as conn:
            version = conn.info.server_version
        backend = f"postgresql={version // 10000}.{version % 10000}"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            base = measure_baseline(Path(tmp) / "baseline.db", args.jobs)
            ours = trio.run(measure_engine, lambda: SQLiteStore(Path(tmp) / "engine.db"),
                            args.jobs, args.concurrency)
        backend = f"sqlite={sqlite3.sqlite_version}"
    print(f"jobs={args.jobs} concurrency={args.concurrency} {backend}")
    print(f"{'metric':<22}{'engine/s':>12}{'baseline/s':>12}{'ratio':>8}")
    for key, label in [("push_one", "push (1 per call)"), ("burn_down", "burn-down")]:
        print(f"{label:<22}{ours[key]:>12,.0f}{base[key]:>12,.0f}{ours[key] / base[key]:>8.2f}")
    print(f"{'push_many (500/call)':<22}{ours['push_many']:>12,.0f}{'':>12}{'':>8}")


if __name__ == "__main__":
    main()
