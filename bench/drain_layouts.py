"""Drain 10,000 due jobs from 1M-row tables of different layouts, one run per call; prints
the rate as JSON. For A/B runs between two trees (the schema decides where rows go).

Run from the root of the tree to measure (its ``service`` and ``bench`` are imported from the
working directory, so the script itself may come from another tree)::

    cd /tmp/base && /path/.venv/bin/python /path/bench/drain_layouts.py base scheduled
    cd /path && .venv/bin/python bench/drain_layouts.py new scheduled

Cases: ``plain`` (only the due jobs), ``scheduled`` (due jobs pushed as due, spread one per
~100 rows among 990,000 future ones), ``promoted`` (the same rows, but the due ones were pushed
for the future and wait to be promoted; the worker promotes them). Add ``sql`` for the bare-SQL
drain (bench.claims:child_drain_sql; not for ``promoted``). Tables are built once under
``/tmp/drain-layouts/<tag>/``; alternate the trees and compare best and median.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, ".")

from bench import tables
from bench.proc import run_child

TOTAL, DUE = 1_000_000, 10_000
CASES = {"plain": {"due": DUE}, "scheduled": {"due": DUE, "scheduled": TOTAL - DUE}}


def _wait_for_promotion(path: Path) -> None:
    """Make the due jobs future jobs whose run_at passed, where this tree's engine keeps them."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        apart = conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'scheduled_jobs'").fetchone()
        conn.execute("BEGIN IMMEDIATE")
        if apart:
            from service.jobs._sqlite.schema import ALL_COLUMNS
            conn.execute(f"INSERT INTO scheduled_jobs ({ALL_COLUMNS}) SELECT "
                         + ALL_COLUMNS.replace(" state,", " 'scheduled',")
                         + " FROM jobs WHERE state = 'available'")
            conn.execute("DELETE FROM jobs WHERE state = 'available'")
        else:
            conn.execute("UPDATE jobs SET state = 'scheduled' WHERE state = 'available'")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def main(tag: str, case: str, how: str = "engine") -> None:
    work = Path("/tmp/drain-layouts") / tag
    work.mkdir(parents=True, exist_ok=True)
    built = "scheduled" if case == "promoted" else case
    path = tables.copy(tables.cached(work, built, **CASES[built]), work / f"drain-{case}.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if case == "promoted":
        _wait_for_promotion(path)
    if how == "sql":
        out = run_child("bench.claims:child_drain_sql", {"path": str(path), "jobs": DUE})
    else:
        out = run_child("bench.burn:child_ours",
                        {"spec": {"backend": "sqlite", "path": str(path)}, "jobs": DUE,
                         "concurrency": 10})
    print(json.dumps({"tag": tag, "case": case, "how": how, "rate": round(out["rate"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
