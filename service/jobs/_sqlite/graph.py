"""Workflows on SQLite: storing a graph, settling dependents when a dependency ends, cancelling a
whole workflow, and what a member reads of its dependencies.

Each function runs inside the caller's write transaction: a dependency's outcome and the counts
of its dependents commit together (design invariant 13).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .._attempt_error import operator_cancelled
from .._dependency import Dependency, Ended, ended_among
from .._errors import WorkflowNotFound
from .._rows import error_json, state_list
from .._states import CANCEL_SOURCES, FINISHED, JobState
from .._store import (
    BulkBatch,
    JobFilter,
    JobRow,
    Rescued,
    SetStateIfRunning,
    Wake,
    WorkflowInsert,
    WorkflowInserted,
)
from .._workflow import dependency_failed
from . import bulk, inserts, queries

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Sequence



def insert_workflow(
    conn: sqlite3.Connection, plan: WorkflowInsert
) -> tuple[WorkflowInserted, Wake | None]:
    """Store the workflow, its members and their edges; settle edges on jobs that already ended.

    :class:`JobNotFound` (nothing written) when an ``after=`` id names no job.
    """
    external = plan.external_ids()
    ended: list[Ended] = []
    if external:
        found = dict(conn.execute(
            "SELECT id, state FROM all_jobs WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(external),),
        ).fetchall())
        ended = ended_among(external, found)
    [(workflow_id,)] = conn.execute(
        "INSERT INTO job_workflows (name, created_at) VALUES (?, ?) RETURNING id",
        (plan.name, plan.created_at),
    ).fetchall()
    rows = [m.row for m in plan.members]
    results = inserts.insert_many(conn, rows, hot=True)  # the UPDATE below finds them
    ids = [r.id for r in results]
    conn.execute(
        "UPDATE jobs SET workflow_id = ?, workflow_name = ?, on_failure = m.value ->> 1,"
        " deps_total = m.value ->> 2, deps_left = m.value ->> 2"
        " FROM json_each(?) AS m WHERE jobs.id = m.value ->> 0",
        (workflow_id, plan.name, json.dumps(
            [[job_id, m.on_failure, m.dependencies] for job_id, m in zip(ids, plan.members,
                                                                           strict=True)])),
    )
    edges = plan.edges(ids)
    if edges:
        conn.execute(
            "INSERT INTO job_deps (job_id, dep_id) SELECT value ->> 0, value ->> 1"
            " FROM json_each(?)",
            (json.dumps(edges),),
        )
    wake = plan.due_wake()
    released = settle(conn, ended, plan.created_at)
    return WorkflowInserted(id=workflow_id, job_ids=ids), _merge(wake, released,
                                                                  plan.created_at)


def _merge(wake: Wake | None, tasks: set[str], now: float) -> Wake | None:
    if not tasks:
        return wake
    return Wake(frozenset(tasks), now).merged(wake)


def settle(conn: sqlite3.Connection, ended: Iterable[Ended], now: float) -> set[str]:
    """Settle the edges of jobs that just ended; the tasks of the dependents it released.

    A dependent whose last edge settles becomes ``available``; one with ``on_failure='cancel'``
    whose dependency ended discarded or cancelled becomes ``cancelled`` -- and its own
    dependents are settled in turn, in this same transaction. Each edge settles once, so an
    operator's retry of a finished dependency never counts twice.
    """
    released: set[str] = set()
    frontier = [(job_id, state) for job_id, state in ended if state in FINISHED]
    while frontier:
        state_of = dict(frontier)
        edges = conn.execute(
            "UPDATE job_deps SET resolved = 1 WHERE resolved = 0"
            " AND dep_id IN (SELECT value FROM json_each(?)) RETURNING job_id, dep_id",
            (json.dumps(list(state_of)),),
        ).fetchall()
        if not edges:
            break
        counts: dict[int, int] = {}
        failed: dict[int, tuple[int, JobState]] = {}
        for job_id, dep_id in edges:
            counts[job_id] = counts.get(job_id, 0) + 1
            if state_of[dep_id] is not JobState.COMPLETED and job_id not in failed:
                failed[job_id] = (dep_id, state_of[dep_id])
        cancelled: list[int] = []
        if failed:
            cancelled = [r[0] for r in conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?,"
                " errors = json_insert(errors, '$[#]', json(f.value ->> 1))"
                " FROM json_each(?) AS f"
                " WHERE jobs.id = f.value ->> 0 AND jobs.state = 'pending'"
                "  AND jobs.on_failure = 'cancel'"
                " RETURNING jobs.id",
                (now, json.dumps([[job_id, error_json(dependency_failed(now, *dep))]
                                  for job_id, dep in failed.items()])),
            ).fetchall()]
        for job_id in cancelled:
            counts.pop(job_id, None)
        if counts:
            released.update(r[0] for r in conn.execute(
                "UPDATE jobs SET deps_left = deps_left - (c.value ->> 1),"
                " state = CASE WHEN deps_left - (c.value ->> 1) <= 0 THEN 'available'"
                "  ELSE state END,"
                " run_at = CASE WHEN deps_left - (c.value ->> 1) <= 0 THEN ? ELSE run_at END"
                " FROM json_each(?) AS c"
                " WHERE jobs.id = c.value ->> 0 AND jobs.state = 'pending'"
                " RETURNING jobs.task, jobs.state",
                (now, json.dumps(sorted(counts.items()))),
            ).fetchall() if r[1] == JobState.AVAILABLE)
        frontier = [(job_id, JobState.CANCELLED) for job_id in cancelled]
    return released


def cancel_workflow(
    conn: sqlite3.Connection, workflow_id: int, now: float, reason: str
) -> tuple[list[int], set[str]]:
    """Cancel every unfinished member of the workflow (running ones included); their ids, and
    the tasks of dependents outside it that this released (``on_failure='run'``)."""
    if conn.execute("SELECT 1 FROM job_workflows WHERE id = ?", (workflow_id,)).fetchone() is None:
        raise WorkflowNotFound(workflow_id)
    ids = [r[0] for r in conn.execute(
        "UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_owner = NULL,"
        " lease_expires_at = NULL, errors = json_insert(errors, '$[#]', json(?))"
        f" WHERE workflow_id = ? AND state IN {state_list(CANCEL_SOURCES)} RETURNING id",
        (now, error_json(operator_cancelled(now, reason)), workflow_id),
    ).fetchall()]
    released = settle(conn, [(job_id, JobState.CANCELLED) for job_id in ids], now)
    return sorted(ids), released


def dependencies(conn: sqlite3.Connection, job_id: int) -> list[Dependency]:
    """The dependencies of ``job_id`` still stored, with their states and results."""
    return [
        Dependency(id=r[0], state=JobState(r[1]), result=r[2])
        for r in conn.execute(
            "SELECT j.id, j.state, j.result FROM job_deps"
            " JOIN all_jobs AS j ON j.id = job_deps.dep_id WHERE job_deps.job_id = ?"
            " ORDER BY j.id",
            (job_id,),
        )
    ]


# -- the engine's state changes, each followed by the settling of what it ended ---------------

def set_state_and_settle(
    conn: sqlite3.Connection, outcomes: Sequence[SetStateIfRunning]
) -> tuple[list[bool], set[str]]:
    """:func:`.queries.set_state_if_running_many`, then settle the dependents of the jobs it
    ended; (matched, the tasks of the dependents released)."""
    matched = queries.set_state_if_running_many(conn, outcomes)
    ended = [(o.id, o.state) for o, hit in zip(outcomes, matched, strict=True)
             if hit and o.state in FINISHED]
    if not ended:
        return matched, set()
    now = max((o.finished_at or 0.0) for o in outcomes)
    return matched, settle(conn, ended, now)


def cancel_and_settle(
    conn: sqlite3.Connection, job_id: int, now: float, reason: str
) -> tuple[JobRow, set[str]]:
    row = queries.cancel(conn, job_id, now, reason)
    return row, settle(conn, [(row.id, row.state)], now)


def rescue_and_settle(
    conn: sqlite3.Connection, now: float, max_rescues: int, limit: int
) -> tuple[list[Rescued], set[str]]:
    rescued = queries.rescue_expired(conn, now, max_rescues, limit)
    return rescued, settle(conn, [(r.id, r.state) for r in rescued], now)


def discard_unknown_and_settle(
    conn: sqlite3.Connection, known: Sequence[str], before: float, now: float, limit: int
) -> tuple[list[Rescued], set[str]]:
    discarded = queries.discard_unknown(conn, known, before, now, limit)
    return discarded, settle(conn, [(r.id, r.state) for r in discarded], now)


def discard_expired_and_settle(
    conn: sqlite3.Connection, now: float, limit: int
) -> tuple[list[Rescued], set[str]]:
    discarded = queries.discard_expired(conn, now, limit)
    return discarded, settle(conn, [(r.id, r.state) for r in discarded], now)


def promote_due_and_settle(conn: sqlite3.Connection, now: float) -> list[str]:
    """:func:`.queries.promote_due`, settling the dependents of the jobs its expiry sweep
    discards; the tasks that got due jobs (promoted or released)."""
    _, released = discard_expired_and_settle(conn, now, queries.PROMOTE_BATCH)
    return [*queries.promote_due(conn, now), *sorted(released)]


def cancel_many_and_settle(
    conn: sqlite3.Connection, where: JobFilter, now: float, reason: str
) -> tuple[BulkBatch, set[str]]:
    batch = bulk.cancel_many(conn, where, now, reason)
    return batch, settle(conn, [(i, JobState.CANCELLED) for i in batch.ids], now)


def delete_many_and_settle(
    conn: sqlite3.Connection, where: JobFilter, now: float
) -> tuple[BulkBatch, set[str]]:
    """:func:`.bulk.delete_many`; a deleted job never completes, so its dependents settle as
    for a cancelled one, and its own edges go with it."""
    batch = bulk.delete_many(conn, where)
    if not batch.ids:
        return batch, set()
    conn.execute("DELETE FROM job_deps WHERE job_id IN (SELECT value FROM json_each(?))",
                 (json.dumps(batch.ids),))
    return batch, settle(conn, [(i, JobState.CANCELLED) for i in batch.ids], now)
