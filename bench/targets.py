"""The targets of issue 5, evaluated on the medians of one run of the suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from .common import Results


@dataclass(frozen=True)
class Side:
    """One side of a comparison: the best (by median) of some metrics, or one metric."""

    keys: tuple[str, ...]

    def pick(self, results: Results) -> tuple[str, float] | None:
        found = [(key, m.median) for key in self.keys if (m := results.get(key)) is not None]
        return max(found, key=lambda item: item[1]) if found else None


def best(*keys: str) -> Side:
    return Side(keys)


@dataclass(frozen=True)
class Target:
    name: str
    measured: Side
    goal: float
    #: None: ``measured`` itself is compared with ``goal``; else the ratio measured/baseline.
    baseline: Side | None = None
    at_most: bool = False  # the value must be <= goal (else >=)
    info: bool = False  # a companion comparison (same goal, other durability), not the target
    #: Printed under the table when the target is missed: where the time goes, with evidence.
    why_missed: str = ""


@dataclass(frozen=True)
class Verdict:
    target: Target
    measured: str
    value: float | None
    status: str  # "met", "missed" or "not measured"
    gap: str


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def evaluate(target: Target, results: Results, label: Callable[[str], str]) -> Verdict:
    measured = target.measured.pick(results)
    baseline = target.baseline.pick(results) if target.baseline is not None else None
    if measured is None or (target.baseline is not None and baseline is None):
        return Verdict(target, "", None, "not measured", "")
    key, value = measured
    text = f"{label(key)}: {_fmt(value)}"
    if baseline is not None:
        base_key, base_value = baseline
        text += f" vs {label(base_key)}: {_fmt(base_value)}"
        value = value / base_value
    met = value <= target.goal if target.at_most else value >= target.goal
    if met:
        gap = "-"
    elif target.at_most:
        gap = f"{value / target.goal:.2f}x over the limit"
    else:
        gap = f"needs {target.goal / value:.2f}x more"
    return Verdict(target, text, value, "met" if met else "missed", gap)


OURS_SQLITE = tuple(f"burn.sqlite.c{c}" for c in (1, 10, 100))
OURS_FULL = tuple(f"burn.sqlite_full.c{c}" for c in (1, 10, 100))
OURS_PG = tuple(f"burn.pg.c{c}" for c in (1, 10, 100))
HUEY_CONSUME = tuple(f"huey.consume.t{t}" for t in (1, 4, 10))

SCHEDULED_DRAIN_GAP = (
    "Future jobs wait in a table of their own (`scheduled_jobs`) and move into `jobs` when"
    " due, so the due rows sit together there however they were spread among the pushes: the"
    " row locality that cost 0.63x (every due job on its own page, a page written to the WAL per"
    " claim and per outcome) is gone from this table. What spreads due rows now is completed"
    " history between them (the history companion row), which the pruner bounds. Compare the"
    " bare-SQL companion row: SQLite's own share of the gap."
)


SQLITE_KEYS_GAP = (
    "A keyed claim walks the keys (a loose scan of `jobs_keyed`, one seek and one count of"
    " running jobs per key: 100 here) and also looks for jobs without a key (one more"
    " round-robin group), which no index holds on their own: it walks `jobs_available` past the"
    " keyed jobs. On SQLite that walk now stops at the cap-th oldest first job of a key (a job"
    " behind it could not be in the batch): a keyed claim of 10 with 20,000 queued went from"
    " 1.24 ms to 0.48 ms (plain sqlite3; a plain claim 0.11-0.16 ms); what is left is the"
    " per-key work. Callgrind before the bound (2,000-job drain): 1.24M instructions per job"
    " against 0.53M without limits, 0.64M of the difference in sqlite3_step. On PostgreSQL the"
    " same bound now holds (next item). A measured alternative: a partial index of unkeyed"
    " available jobs (`WHERE state = 'available' AND concurrency_key IS NULL`) made the keyed"
    " claim+complete cycle 3.4x faster"
    " (1,863 -> 6,412 jobs/s, plain sqlite3, median of 3, before the bound) but every task"
    " without limits writes it too: push_many 0.90x (64.9k -> 58.6k jobs/s); the issue says"
    " tasks without limits pay nothing, so it is not shipped."
)
PG_KEYS_GAP = (
    "A keyed claim is one statement (a LATERAL per key, not a statement per key). It walks the "
    "keys (a loose scan of `jobs_keyed`), locks each free key's first job (`FOR UPDATE SKIP "
    "LOCKED`) and counts its running jobs, and looks for jobs without a key (one more round-robin "
    "group), which no index holds on their own. That search is now bounded as on SQLite: it stops "
    "at the cap-th oldest first job of a key (a job without a key behind it could not be in the "
    "batch) and starts at the oldest available job (the index entries before it are claimed "
    "jobs', dead until a vacuum; the bitmap scan the planner picks cannot skip them), in three "
    "index ranges: on PostgreSQL 15 a row comparison `(priority, run_at, id) < (...)` ends a "
    "btree scan only on its first column, so on one priority it read every queued job (10,009 "
    "index rows, 0.9 ms). Before, the planner took a seq scan of the table. Also: each key's cap "
    "(its count of running jobs) is computed once, not twice (`allowed` materialised), and a key "
    "without a free slot reads none of its jobs. bench.limits --no-sqlite, each run against the "
    "code before the change run just before it: 0.42x -> 0.52x (per_key 2,053 -> 2,455 jobs/s, "
    "19:20-19:21 UTC, load ~2.6). EXPLAIN (ANALYZE, BUFFERS) of a keyed claim of 10 at 20,000 "
    "queued jobs of 100 keys (per_key=1, ANALYZEd, warm cache; 2026-12-03 19:12 UTC, load ~2-4): "
    "execution 2.77 -> 1.55 ms, shared buffers hit 1,485 -> 1,027, the search for jobs without a "
    "key 1.3 ms (Seq Scan, 20,000 rows) -> 0.09 ms (index ranges, 9 rows); after 10,000 of them "
    "were claimed and completed: 3.55 -> 2.02 ms (Seq Scan 1.6 ms -> 0.09 ms); a claim's round "
    "trip (prepared, median of 20) 3.65 -> 2.78 ms fresh, 4.21 -> 3.12 ms drained. (The earlier "
    "15 ms of an 18.8 ms claim was measured mid-drain under load ~8.) What is left is per-key "
    "work, 100 keys a claim: the loose scan ~0.75 ms (one index seek per key, each with a heap "
    "visit: the claims' updates clear the visibility map), the first jobs' locks ~0.55 ms, the "
    "running counts ~0.15 ms, and ~0.8 ms of planning. Going below it needs the batch's keys "
    "without visiting every key (e.g. lock only the cap oldest heads found by the loose scan, at "
    "the price of a shorter batch when another claimer holds one) or a table of keys: not done. A "
    "plan test pins the bound (`tests/integration/postgres/test_query_plans.py`: no seq scan, no "
    "scan of `jobs` reads more than 2 rows a key at 5,000 queued)."
)
GLOBAL_GAP = (
    "PostgreSQL only (SQLite meets it). A limited claim sends BEGIN, the queue-row lock, the"
    " claim and COMMIT in one pipeline -- one round trip, as a plain claim (strace: 1 read per"
    " claim; 4 before this change, when conn.transaction() synced inside the pipeline) -- but"
    " four statements where a plain claim sends one, on a server whose every commit waits for"
    " fsync; the count of running jobs in the claim is an index scan of the running jobs"
    " (EXPLAIN ANALYZE: 0.28 ms for the whole claim). Fixed on the way: the claim updated its"
    " rows through a hash join over every available job (24.9 ms a claim at 20,000 queued; now"
    " primary-key seeks, 1.6 ms), and a worker could not claim until its own outcomes were"
    " written (their jobs still counted as running), so claims and outcome writes alternated:"
    " 0.25x before these changes."
)

#: Issue 13: a limit that does not bind costs at most 10% of the throughput without limits.
FLOW_TARGETS = (
    Target("flow control: a limit that does not bind costs <= 10% (SQLite, global)",
           best("limits.sqlite.global"), 0.9, best("limits.sqlite.none"), why_missed=GLOBAL_GAP),
    Target("flow control: a limit that does not bind costs <= 10% (PostgreSQL, global)",
           best("limits.pg.global"), 0.9, best("limits.pg.none"), why_missed=GLOBAL_GAP),
    Target("flow control: a limit that does not bind costs <= 10% (SQLite, per_key)",
           best("limits.sqlite.keys"), 0.9, best("limits.sqlite.none"),
           why_missed=SQLITE_KEYS_GAP),
    Target("flow control: a limit that does not bind costs <= 10% (PostgreSQL, per_key)",
           best("limits.pg.keys"), 0.9, best("limits.pg.none"), why_missed=PG_KEYS_GAP),
)


def all_targets(sizes: tuple[int, ...]) -> tuple[Target, ...]:
    """The issue's targets (and companions at other durability) for claim tables ``sizes``."""
    small, big = sizes[0], sizes[-1]
    return (
        Target("SQLite burn-down >= 5x Huey (best of each)", best(*OURS_SQLITE), 5,
               best(*HUEY_CONSUME)),
        Target("  same at synchronous=FULL, Huey's durability", best(*OURS_FULL), 5,
               best(*HUEY_CONSUME), info=True),
        Target("single pushes >= 2x Huey (1 task vs 1 thread)", best("push.one.sqlite"), 2,
               best("huey.enqueue.t1")),
        Target("  same at synchronous=FULL", best("push.one.sqlite_full"), 2,
               best("huey.enqueue.t1"), info=True),
        Target("  10 concurrent tasks vs 10 threads", best("push.tasks10.sqlite"), 2,
               best("huey.enqueue.t10"), info=True),
        # The ceiling (~200k jobs/s) is plain sqlite3 batching into the same schema.
        Target("push_many >= 50% of batched sqlite3 enqueue", best("push.many.sqlite"), 0.5,
               best("ref.engine.push_batched")),
        Target("  same, against a minimal one-index table", best("push.many.sqlite"), 0.5,
               best("ref.minimal.push_batched"), info=True),
        Target("PostgreSQL burn-down >= 10x Procrastinate", best(*OURS_PG), 10,
               best("procrastinate.work.c10")),
        Target("in-process push->start p99 <= 5 ms (SQLite)", best("latency.sqlite.inproc.p99"), 5,
               at_most=True),
        Target(f"claim cost at {big:,} rows <= 1.5x at {small:,}", best(f"claim.store.{big}"), 1.5,
               best(f"claim.store.{small}"), at_most=True),
        Target("99%-scheduled table drains >= 80% of plain", best("drain.scheduled"), 0.8,
               best("drain.plain"), why_missed=SCHEDULED_DRAIN_GAP),
        Target("  same statements as bare SQL in plain sqlite3", best("drain_sql.scheduled"), 0.8,
               best("drain_sql.plain"), info=True),
        Target("  against the same table with history instead of scheduled jobs",
               best("drain.scheduled"), 0.8, best("drain.history_spread"), info=True),
        Target("worker RSS <= Huey's, idle", best("rss.ours.idle.rss"), 1.0,
               best("rss.huey.idle.rss"), at_most=True),
        Target(f"worker RSS <= Huey's, {big:,} pending", best("rss.ours.pending.rss"), 1.0,
               best("rss.huey.pending.rss"), at_most=True),
        *FLOW_TARGETS,
    )
