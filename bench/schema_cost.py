"""Diagnostic: what each part of the engine's SQLite schema costs the batched ceiling.

The reference loop (:mod:`bench.reference`, 1,000 jobs per transaction, no engine code) runs
on the engine's own schema statements (read from ``service.jobs._sqlite.schema``) with one part
taken away at a time: AUTOINCREMENT, the CHECK on ``state``, each index but the one claims need,
then all of them at once. 100,000 jobs per variant, measured once after the runs, beside the
minimal table. Not a scenario: an explanation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.jobs._sqlite.connection import connect
from service.jobs._sqlite.schema import MIGRATIONS

from .proc import measure
from .reference import MINIMAL_SCHEMA, enqueue_and_drain

if TYPE_CHECKING:
    from collections.abc import Callable

    from .common import Context, Results

INDEX = re.compile(r"CREATE (?:UNIQUE )?INDEX (\w+)")
DROPPED = re.compile(r"DROP INDEX (?:IF EXISTS )?(\w+)")
CHECK = re.compile(r"CHECK \(state IN \([^)]*\)\)")
KEEP = "jobs_available"  # the index every claim walks
JOBS_FACTOR = 5  # 100,000 jobs per variant: a 20,000-job batched run is over in ~0.1 s


def variants() -> dict[str, list[str]]:
    """Schema statements by variant name: the engine's, and the engine's less one part."""
    statements = [s for step in MIGRATIONS for s in step.statements["sqlite"]]
    table = next(s for s in statements if "CREATE TABLE jobs" in s)
    out = {
        "engine schema": statements,
        "without AUTOINCREMENT": _without_autoincrement(statements),
        "without the CHECK on state": [CHECK.sub("", s) if s is table else s for s in statements],
    }
    dropped = set(DROPPED.findall(" ".join(statements)))
    for statement in statements:
        match = INDEX.search(statement)
        if match and match[1] != KEEP and match[1] not in dropped:
            out[f"without index {match[1]}"] = [s for s in statements if s is not statement]
    # (A later step's DROP INDEX of an index never created goes too.)
    keep = [s for s in statements
            if not (INDEX.search(s) or DROPPED.search(s)) or KEEP in s]
    out["without all of those (only jobs_available)"] = [
        CHECK.sub("", s) for s in _without_autoincrement(keep)]
    out["minimal table (the baseline)"] = list(MINIMAL_SCHEMA)
    return out


def _without_autoincrement(statements: list[str]) -> list[str]:
    """``statements`` with no AUTOINCREMENT, and so without the steps that keep
    ``scheduled_jobs``' ids in ``jobs``' sequence (there is no ``sqlite_sequence`` then)."""
    return [s.replace("AUTOINCREMENT", "") for s in statements if "sqlite_sequence" not in s]


def child(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    conn = connect(str(Path(args["path"])))
    try:
        for statement in args["statements"]:
            conn.execute(statement)
        push, drain = enqueue_and_drain(conn, args["jobs"], 1000)
    finally:
        conn.close()
    return {"push": push, "drain": drain}


def run(ctx: Context, results: Results) -> None:
    for index, (name, statements) in enumerate(variants().items()):
        out = measure(results, f"schema.{index}.push", f"{name}: enqueue, 1,000 jobs/tx",
                      "jobs/s", "bench.schema_cost:child",
                      {"path": str(ctx.scratch("schema.db")), "jobs": JOBS_FACTOR * ctx.jobs,
                       "statements": statements}, field="push")
        if out is not None:
            results.add(f"schema.{index}.drain", out["drain"],
                        f"{name}: claim+complete, 1,000 jobs/tx", "jobs/s")
