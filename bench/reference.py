"""The plain ``sqlite3`` reference loop: the same writes as the engine, with nothing around them.

Same pragmas (the engine's own ``connect``: WAL, ``synchronous=NORMAL``, 8 MiB cache),
same statement shapes (insert; claim by ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)
RETURNING``; complete by id, each write its own ``BEGIN IMMEDIATE`` transaction). No event loop,
no thread hop, no payload encoding, no bookkeeping. Two tables:

- ``minimal``: the jobs columns with a rowid key and the one partial index a claim in order
  needs. This is the baseline the targets use ("plain sqlite3").
- ``engine``: the engine's own schema (created by opening a ``SQLiteStore`` once): AUTOINCREMENT,
  a CHECK, six partial indexes. The gap between the two is what the schema costs.

One job per transaction is what a one-job-at-a-time engine could reach; 1,000 jobs per
transaction is the ceiling.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from service.jobs import SQLiteStore
from service.jobs._sqlite.connection import connect

from .common import Context, Results, chunks, rate, stopwatch
from .proc import ChildFailed, run_child

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterator

BATCH = 1000
INSERT = (
    "INSERT INTO jobs (task, args, state, priority, max_attempts, run_at, created_at, unique_key)"
    " VALUES (?, ?, 'available', 0, 20, ?, ?, NULL)"
)
CLAIM = (
    "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = ?,"
    " lease_owner = 'ref', lease_expires_at = ?"
    " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND task = 'bench.noop'"
    "  ORDER BY priority, run_at, id LIMIT ?) RETURNING id"
)
COMPLETE = (
    "UPDATE jobs SET state = 'completed', finished_at = ?, lease_owner = NULL,"
    " lease_expires_at = NULL WHERE id = ? AND state = 'running' AND lease_owner = 'ref'"
)


MINIMAL_SCHEMA = (
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, task TEXT NOT NULL, args TEXT NOT NULL,"
    " state TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,"
    " attempt INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, run_at REAL NOT NULL,"
    " created_at REAL NOT NULL, attempted_at REAL, finished_at REAL, lease_owner TEXT,"
    " lease_expires_at REAL, unique_key TEXT)",
    "CREATE INDEX jobs_available ON jobs (task, priority, run_at, id) WHERE state = 'available'",
)


def create_engine_schema(path: Path) -> None:
    """The engine's schema in a new file: open a SQLiteStore once (it migrates) and close it."""

    async def migrate() -> None:
        async with SQLiteStore(path):
            pass

    trio.run(migrate)


def open_reference(path: Path, schema: str, synchronous: str | None) -> sqlite3.Connection:
    """A new database with ``schema`` ("minimal" or "engine") on the engine's pragmas."""
    if schema == "engine":
        create_engine_schema(path)
    conn = connect(str(path))
    if schema == "minimal":
        for statement in MINIMAL_SCHEMA:
            conn.execute(statement)
    if synchronous:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    yield
    conn.execute("COMMIT")


def insert(conn: sqlite3.Connection, numbers: range) -> None:
    now = time.time()
    conn.executemany(INSERT, (("bench.noop", f'{{"n":{n}}}', now, now) for n in numbers))


def claim_and_complete(conn: sqlite3.Connection, limit: int) -> int:
    """Claim up to ``limit`` jobs in one transaction and complete them in a second."""
    now = time.time()
    with transaction(conn):
        ids = conn.execute(CLAIM, (now, now + 15, limit)).fetchall()
    if ids:
        with transaction(conn):
            conn.executemany(COMPLETE, [(now, i) for (i,) in ids])
    return len(ids)


def enqueue_and_drain(conn: sqlite3.Connection, jobs: int, per_tx: int) -> tuple[float, float]:
    """(enqueue rate, drain rate) with ``per_tx`` jobs per transaction."""
    with stopwatch() as pushed:
        for numbers in chunks(jobs, per_tx):
            with transaction(conn):
                insert(conn, numbers)
    with stopwatch() as drained:
        done = 0
        while claimed := claim_and_complete(conn, per_tx):
            done += claimed
    assert done == jobs, (done, jobs)
    return rate(jobs, pushed[0]), rate(jobs, drained[0])


def child(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Rates ``{push,drain}_{one,batched}`` on a new database of ``args["schema"]``."""
    out: dict[str, Any] = {}
    for name, per_tx in (("one", 1), ("batched", BATCH)):
        path = Path(args["path"]) / f"reference-{args['schema']}-{name}.db"
        conn = open_reference(path, args["schema"], args.get("synchronous"))
        try:
            push, drain = enqueue_and_drain(conn, args["jobs"], per_tx)
            out[f"push_{name}"], out[f"drain_{name}"] = push, drain
        finally:
            conn.close()
    return out


SCHEMAS = {"minimal": "plain sqlite3, minimal table", "engine": "plain sqlite3, engine's schema"}
FIELDS = {
    "push_one": "enqueue, 1 job/tx",
    "push_batched": "enqueue, 1,000 jobs/tx",
    "drain_one": "claim+complete, 1 job/tx",
    "drain_batched": "claim+complete, 1,000 jobs/tx",
}


def run(ctx: Context, results: Results) -> None:
    for schema, name in SCHEMAS.items():
        directory = ctx.scratch(f"reference-{schema}")
        directory.mkdir()
        try:
            out = run_child("bench.reference:child",
                            {"path": str(directory), "jobs": ctx.jobs, "schema": schema})
        except ChildFailed as exc:
            results.skip(f"ref.{schema}", f"failed: {exc}")
            continue
        for field, label in FIELDS.items():
            results.add(f"ref.{schema}.{field}", out[field], f"{name}: {label}", "jobs/s")
