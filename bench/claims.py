"""Scenario 5: claim cost against table size, and a table full of future jobs.

Tables (built once, copied per run, see :mod:`bench.tables`): 10k, 100k and 1M rows, each with
2,500 pending due jobs and the rest completed history; and a 1M-row table whose pending jobs are
99% scheduled in the future (10,000 due among 990,000 scheduled) beside a plain table holding
only the same 10,000 due jobs.

- claim cost: a fresh process opens the store and makes 1,000 ``job_claim`` calls of one job
  each, the call a worker makes, through the production runner; the median per call. The same
  claims as bare SQL (the engine's own ``claim`` query inside ``BEGIN IMMEDIATE``, on a
  connection opened by the engine's ``connect``, no thread hop) separate SQLite's cost from the
  runner's. One empty claim (no due job of that task) is timed on each table too.
- drain: a worker process (concurrency 10) runs the due jobs of the 99%-scheduled table and of
  the plain one; jobs/s. A third table holds the same rows with the due jobs stored together
  (first 10,000 rows) instead of spread one per ~100 rows: the difference between the two
  99%-scheduled tables is what row locality costs (every due job on its own page means a page
  written to the WAL per claim and per outcome), not the scheduled rows themselves. The same
  drains as bare SQL (the engine's claim and outcome statements in a plain loop, no event loop)
  show how much of that SQLite itself pays, and a fourth table puts completed history where the
  scheduled jobs were (same size, same spread): against it, what the scheduled jobs themselves
  cost. The tables hold rows where the engine keeps them: future jobs in ``scheduled_jobs``, so
  in ``jobs`` the 10,000 due rows sit together whatever their spread among the pushes; the
  history table still spreads them (history stays in ``jobs``).
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import trio

from service.jobs import JobState
from service.jobs._sqlite import queries
from service.jobs._sqlite.connection import connect, in_transaction
from service.jobs._store import SetStateIfRunning

from . import tables
from .ours import opened
from .proc import measure

if TYPE_CHECKING:
    from collections.abc import Callable

    from .common import Context, Results

CLAIMS = 1_000  # per way of claiming (store, bare SQL); each takes one pending job
SCHEDULED_DUE = 10_000


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def child_claims(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Median µs of one-job claims through the store, then as bare SQL, and of an empty claim."""
    claims = args["claims"]

    async def through_store() -> tuple[list[float], float]:
        samples = []
        async with opened({"backend": "sqlite", "path": args["path"]}) as store:
            for _ in range(claims + 1):
                now = time.time()
                start = time.perf_counter()
                rows = await store.job_claim("bench.noop", "bench", 1, now, now + 15)
                samples.append(time.perf_counter() - start)
                assert len(rows) == 1
            start = time.perf_counter()
            assert await store.job_claim("bench.none", "bench", 1, now, now + 15) == []
            empty = time.perf_counter() - start
        return samples[1:], empty  # the first pays for a cold cache

    store_samples, empty = trio.run(through_store)
    conn = connect(args["path"])
    sql_samples = []
    try:
        for _ in range(claims):
            now = time.time()
            start = time.perf_counter()
            rows = in_transaction(conn, queries.claim, "bench.noop", "bench", 1, now, now + 15)
            sql_samples.append(time.perf_counter() - start)
            assert len(rows) == 1
    finally:
        conn.close()
    return {"store_us": _median_us(store_samples), "sql_us": _median_us(sql_samples),
            "empty_us": empty * 1e6}


def child_drain_sql(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """The drain as bare SQL: the engine's own claim and outcome statements, 10 jobs per claim,
    each write its own ``BEGIN IMMEDIATE`` transaction, no event loop -- what SQLite alone
    makes of the table."""
    conn = connect(args["path"])
    done = 0
    try:
        start = time.perf_counter()
        while True:
            now = time.time()
            claimed = in_transaction(conn, queries.claim, "bench.noop", "bench", 10, now,
                                     now + 15)
            if not claimed:
                break
            outcomes = [SetStateIfRunning(id=job.id, owner="bench", attempt=job.attempt,
                                          state=JobState.COMPLETED, finished_at=now)
                        for job in claimed]
            assert all(in_transaction(conn, queries.set_state_if_running_many, outcomes))
            done += len(claimed)
        seconds = time.perf_counter() - start
    finally:
        conn.close()
    assert done == args["jobs"], (done, args["jobs"])
    return {"rate": done / seconds}


def run(ctx: Context, results: Results) -> None:
    claims = min(CLAIMS, ctx.sizes[0] // 5)
    pending = 2 * claims + 500
    for size in ctx.sizes:
        source = tables.cached(ctx.workdir, f"history-{size}", history=size - pending,
                               due=pending)
        path = tables.copy(source, ctx.scratch(f"claims-{size}.db"))
        label = f"{size:,} rows"
        out = measure(results, f"claim.store.{size}", f"job_claim(1 job), {label}", "µs",
                      "bench.claims:child_claims", {"path": str(path), "claims": claims},
                      field="store_us", higher_is_better=False)
        if out is not None:
            results.add(f"claim.sql.{size}", out["sql_us"], f"claim SQL only, {label}", "µs",
                        higher_is_better=False)
            results.add(f"claim.empty.{size}", out["empty_us"], f"empty claim, {label}", "µs",
                        higher_is_better=False)
    _scheduled(ctx, results)


def _scheduled(ctx: Context, results: Results) -> None:
    total = ctx.sizes[-1]
    due = max(100, min(SCHEDULED_DUE, total // 100))
    results.notes["scheduled_table"] = (total, due)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "plain": ({"due": due}, "only the due jobs"),
        "scheduled": ({"due": due, "scheduled": total - due},
                      f"{total - due:,} scheduled, due rows spread among them"),
        "scheduled_together": ({"due": due, "scheduled": total - due, "interleave": False},
                               f"{total - due:,} scheduled, due rows stored together"),
        "history_spread": ({"due": due, "scheduled": total - due, "finished_filler": True},
                           f"{total - due:,} completed, due rows spread among them"),
    }
    for name, (counts, label) in cases.items():
        source = tables.cached(ctx.workdir, f"{name}-{total}", **counts)
        path = tables.copy(source, ctx.scratch(f"drain-{name}.db"))
        measure(results, f"drain.{name}", f"drain {due:,} due jobs, {label}", "jobs/s",
                "bench.burn:child_ours",
                {"spec": {"backend": "sqlite", "path": str(path)}, "jobs": due,
                 "concurrency": 10,
                 "completed_before": total - due if counts.get("finished_filler") else 0})
        path = tables.copy(source, ctx.scratch(f"drain-sql-{name}.db"))
        measure(results, f"drain_sql.{name}",
                f"bare SQL: drain {due:,} due jobs, {label}", "jobs/s",
                "bench.claims:child_drain_sql", {"path": str(path), "jobs": due})
