"""The keyed claim's plan on PostgreSQL reads a bounded number of rows of ``jobs``.

The planner decides per statement, and at a few thousand queued jobs it took a seq scan of the
table for the keyed claim's search for jobs without a key (EXPLAIN ANALYZE: 15 ms of an 18.8 ms
claim at 20,000 queued). This test asks the server for the plan it really runs, with the
table's statistics, and counts the rows every scan of ``jobs`` reads.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from support.pg_tasks import Mark
from support.postgres import URL, schema_store

from service.jobs import Push
from service.jobs._limits import Limits, key_want
from service.jobs._postgres.limits import claim_sql

pytestmark = pytest.mark.usefixtures("pg_url")

QUEUED = 5_000
KEYS = 100


def rows_read(plan: dict[str, Any]) -> list[tuple[str, int]]:
    """Every scan of ``jobs`` in ``plan`` (EXPLAIN's JSON): its node type and the rows it read
    over all its loops (those it returned and those its filters dropped)."""
    found = []
    if plan.get("Relation Name") == "jobs":
        read = (plan["Actual Rows"] * plan["Actual Loops"] + plan.get("Rows Removed by Filter", 0)
                + plan.get("Rows Removed by Index Recheck", 0))
        found.append((plan["Node Type"], int(read)))
    for child in plan.get("Plans", ()):
        found += rows_read(child)
    return found


async def test_a_keyed_claim_reads_the_jobs_ahead_of_its_batch_not_the_queue() -> None:
    async with schema_store() as store:
        await store.push_many(Push(task=Mark(n=n), concurrency_key=f"k{n % KEYS}")
                              for n in range(QUEUED))
        await store.push(Mark(n=-1))  # a job without a key, behind all of them
        now = store.clock.now()
        schema = store.schema
        assert schema is not None
        limits = Limits(per_key=1, keyed=True)
        params = {"now": now, "owner": "w1", "expires": now + 60, "task": Mark.options.name,
                  "want": 10, "global": None, "per_key": 1, "interval": None,
                  "key_want": key_want(limits, 10), "ended_ids": [], "ended_attempts": []}
        with psycopg.connect(URL, options=f"-c search_path={schema}") as conn:
            conn.execute("ANALYZE jobs")
            [(explained,)] = conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + claim_sql(limits), params).fetchall()
            conn.rollback()

    [top] = explained
    scans = rows_read(top["Plan"])
    assert scans, top
    assert "Seq Scan" not in {node for node, _ in scans}, scans
    # 100 keys: one index seek per key, and their first jobs; never the 5,000 queued
    assert max(read for _, read in scans) <= 2 * KEYS, scans
