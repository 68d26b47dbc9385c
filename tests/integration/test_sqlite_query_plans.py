"""Every statement on the engine's hot and periodic paths finds its rows through an index.

A full scan of ``jobs`` costs nothing in a small test table and hundreds of milliseconds on a
million-row one, while holding the store. SQLite's planner decides per statement, so the test
records the statements each engine operation really runs (a trace callback on the connection)
and asks SQLite for their query plans. It caught two: the unique-key lookup after a conflict
and the pruner's delete, whose ``state IN (...)`` lists did not repeat their partial index's
term in its order, so SQLite could not use the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from service.jobs import JobState, RateLimit
from service.jobs._limits import Limits
from service.jobs._progress import JobProgress, ProgressUpdate
from service.jobs._sqlite import inserts, limits, queries
from service.jobs._sqlite.connection import connect, in_transaction, migrate
from service.jobs._sqlite.schema import MIGRATIONS
from service.jobs._store import JobInsert, SetStateIfRunning

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterator
    from pathlib import Path

NOW = 1_800_000_000.0
REPORTED = ProgressUpdate(progress=JobProgress(fraction=0.5, message="half", at=NOW),
                          checkpoint='{"page":5}')


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(str(tmp_path / "plans.db"))
    in_transaction(connection, migrate, MIGRATIONS, NOW)
    yield connection
    connection.close()


def job(task: str = "email", key: str | None = None, run_at: float = NOW,
        **options: Any) -> JobInsert:
    return JobInsert(task=task, args="{}", state=JobState.AVAILABLE, priority=0,
                     max_attempts=3, run_at=run_at, created_at=NOW, unique_key=key, **options)


def future(key: str | None = None, **options: Any) -> JobInsert:
    """A job pushed for the future: it waits in ``scheduled_jobs``."""
    return JobInsert(task="email", args="{}", state=JobState.SCHEDULED, priority=0,
                     max_attempts=3, run_at=NOW + 60, created_at=NOW, unique_key=key, **options)


def statements_of(conn: sqlite3.Connection, operation: Callable[..., Any],
                  *args: Any) -> list[str]:
    """The statements ``operation(conn, *args)`` runs (parameters expanded), in a transaction."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        in_transaction(conn, operation, *args)
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if "jobs" in s and s.split()[0].upper() != "BEGIN"]


#: A walk over the running jobs only (a partial index): bounded by the slots of every worker,
#: not by the table. The count of a task's running jobs under ``global_concurrency`` is one.
RUNNING_ONLY = "SCAN jobs USING INDEX jobs_leases"


def full_scans(conn: sqlite3.Connection, statement: str, allowed: str = "") -> list[str]:
    plan = conn.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
    return [row[3] for row in plan
            if row[3].startswith(("SCAN jobs", "SCAN scheduled_jobs")) and row[3] != allowed]


OPERATIONS: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "push": (inserts.insert_many, ([job()],)),
    "push, unique key already held": (inserts.insert_many, ([job(key="k")],)),
    "push, replacing the key's holder": (inserts.insert_many, ([job(key="k", replace=True)],)),
    "push, unique_for over a finished holder": (
        inserts.insert_many, ([job(key="done", unique_for=60.0)],)),
    "push for the future": (inserts.insert_many, ([future()],)),
    "push for the future, unique key held by a future job": (
        inserts.insert_many, ([future(key="later")],)),
    "push, unique key held by a future job": (inserts.insert_many, ([job(key="later")],)),
    "push, replacing a future holder": (
        inserts.insert_many, ([job(key="later", replace=True)],)),
    "push for the future, replacing a future holder": (
        inserts.insert_many, ([future(key="later", replace=True)],)),
    "operator cancel of a future job": (queries.cancel, (5, NOW, "no")),
    "operator retry of a future job": (queries.retry, (5, NOW)),
    "read a future job": (queries.get, (5,)),
    "discard expired jobs": (queries.discard_expired, (NOW + 60, 1000)),
    "operator retry of a keyed job": (queries.retry, (4, NOW)),
    "claim": (queries.claim, ("email", "w", 10, NOW, NOW + 15)),
    "promote due jobs": (queries.promote_due, (NOW,)),
    "promote due jobs, future ones due": (queries.promote_due, (NOW + 60,)),
    "next run_at": (queries.next_run_at, ()),
    "renew leases": (queries.renew_leases, ("w", [1, 2], NOW + 30)),
    "renew leases, writing progress": (
        queries.renew_leases, ("w", [1, 2], NOW + 30, {1: REPORTED})),
    "rescue expired leases": (queries.rescue_expired, (NOW + 60, 5, 1000)),
    "discard unknown tasks": (queries.discard_unknown, (["email"], NOW + 60, NOW, 1000)),
    "record outcomes": (queries.set_state_if_running_many, ([
        SetStateIfRunning(id=1, owner="w", attempt=1, state=JobState.COMPLETED, finished_at=NOW),
        SetStateIfRunning(id=2, owner="w", attempt=1, state=JobState.COMPLETED, finished_at=NOW),
    ],)),
    "record outcomes with progress": (queries.set_state_if_running_many, ([
        SetStateIfRunning(id=1, owner="w", attempt=1, state=JobState.COMPLETED, finished_at=NOW,
                          progress=REPORTED),
        SetStateIfRunning(id=2, owner="w", attempt=1, state=JobState.RETRYABLE, run_at=NOW,
                          progress=REPORTED),
    ],)),
    **{f"prune {state}": (queries.delete_finished, (state, NOW, 1000))
       for state in (JobState.COMPLETED, JobState.CANCELLED, JobState.DISCARDED)},
    **{f"limited claim, {name}": (limits.claim_limited, ("email", "w", 10, NOW, NOW + 15, lim))
       for name, lim in {
           "global": Limits(global_concurrency=5),
           "rate": Limits(rate=RateLimit(10, per=1)),
           "keys, per key": Limits(global_concurrency=5, per_key=2, keyed=True),
           "keys, per-key rate": Limits(rate=RateLimit(1, per=1, per_key=True), keyed=True),
       }.items()},
    "keyed tasks": (limits.keyed_tasks, ()),
    "jobs finished per minute (the dashboard's chart)": (
        queries.finished_per_minute, (NOW - 3600, NOW)),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_no_engine_operation_scans_the_jobs_table(conn: sqlite3.Connection, name: str) -> None:
    in_transaction(conn, inserts.insert_many, [job(key="k"), job(), job("other"),
                                               job(key="done", expires_at=NOW + 30),
                                               future(key="later", expires_at=NOW + 90)])
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = ? WHERE id = 4", (NOW,))
    operation, args = OPERATIONS[name]

    statements = statements_of(conn, operation, *args)

    assert statements, "the operation ran SQL on jobs"
    allowed = RUNNING_ONLY if name.startswith("limited claim") else ""
    for statement in statements:
        assert full_scans(conn, statement, allowed) == [], statement


def test_a_renewal_that_writes_progress_is_still_one_statement(conn: sqlite3.Connection) -> None:
    in_transaction(conn, inserts.insert_many, [job(), job(), job()])
    in_transaction(conn, queries.claim, "email", "w", 3, NOW, NOW + 15)

    statements = statements_of(conn, queries.renew_leases, "w", [1, 2, 3], NOW + 30,
                               {1: REPORTED, 3: REPORTED})

    assert len(statements) == 1
    assert statements[0].startswith("UPDATE jobs SET lease_expires_at")
    rows = conn.execute("SELECT id, lease_expires_at, progress_fraction, checkpoint FROM jobs"
                        " ORDER BY id").fetchall()
    assert rows == [(1, NOW + 30, 0.5, '{"page":5}'), (2, NOW + 30, None, None),
                    (3, NOW + 30, 0.5, '{"page":5}')]
