"""Workflows on PostgreSQL: storing a graph, settling dependents when a dependency ends,
cancelling a whole workflow, and what a member reads of its dependencies.

A dependency's outcome and the counts of its dependents commit in one transaction (design
invariant 13). Rows are locked in ascending id order -- a dependent always has a larger id than
its dependencies -- so outcomes, pushes and cancels running at once never deadlock one another.
Released tasks are NOTIFYed inside the transaction, so other processes hear of them at commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._attempt_error import operator_cancelled
from .._dependency import Dependency, Ended, ended_among
from .._errors import WorkflowNotFound
from .._rows import error_json, state_list
from .._states import CANCEL_SOURCES, FINISHED, JobState
from .._store import BulkBatch, JobFilter, JobRow, Rescued, Wake, WorkflowInsert, WorkflowInserted
from .._workflow import dependency_failed
from . import bulk, queries
from .inserts import insert_rows
from .notify import DUE, notify_cancelled, notify_tasks

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .connection import Conn



#: Lock the jobs a new workflow's members wait for (in id order), mark the unfinished ones as
#: having dependents, and read their states.
_MARK_DEPENDENCIES = (
    "WITH l AS (SELECT id, state FROM jobs WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE),"
    " m AS (UPDATE jobs SET has_dependents = true FROM l WHERE jobs.id = l.id"
    f"  AND NOT jobs.has_dependents AND l.state NOT IN {state_list(FINISHED)})"
    " SELECT id, state FROM l"
)


def insert_workflow(
    conn: Conn, plan: WorkflowInsert, channel: str, origin: str
) -> tuple[WorkflowInserted, Wake | None]:
    """Store the workflow, its members and edges (call inside a transaction); settle edges on
    jobs that already ended. :class:`JobNotFound` when an ``after=`` id names no job."""
    external = plan.external_ids()
    ended: list[Ended] = []
    if external:
        # Locked, and marked ``has_dependents`` if unfinished: a dependency cannot end between
        # this read and our commit unseen. An outcome already being written is waited for and
        # read as it ends; one that starts meanwhile waits for our commit and then finds the
        # mark, so it settles the new edges (a statement's snapshot predates them).
        found = dict(conn.execute(_MARK_DEPENDENCIES, (external,)).fetchall())
        ended = ended_among(external, found)
    [(workflow_id,)] = conn.execute(
        "INSERT INTO job_workflows (name, created_at) VALUES (%s, %s) RETURNING id",
        (plan.name, plan.created_at),
    ).fetchall()
    rows = [m.row for m in plan.members]
    ids = [job_id for job_id in insert_rows(conn, rows) if job_id is not None]
    conn.execute(
        "UPDATE jobs SET workflow_id = %s, workflow_name = %s, on_failure = m.on_failure,"
        " deps_total = m.deps, deps_left = m.deps"
        " FROM unnest(%s::bigint[], %s::text[], %s::integer[]) AS m(id, on_failure, deps)"
        " WHERE jobs.id = m.id",
        (workflow_id, plan.name, ids, [m.on_failure for m in plan.members],
         [m.dependencies for m in plan.members]),
    )
    edges = plan.edges(ids)
    if edges:
        conn.execute(
            "INSERT INTO job_deps (job_id, dep_id)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
            ([e[0] for e in edges], [e[1] for e in edges]),
        )
        members = set(ids)
        inside = sorted({dep for _, dep in edges if dep in members})
        if inside:  # new rows, invisible to others until our commit: no lock to wait for
            conn.execute("UPDATE jobs SET has_dependents = true WHERE id = ANY(%s::bigint[])",
                         (inside,))
    wake = plan.due_wake()
    if wake is not None:
        notify_tasks(conn, channel, origin, {task: DUE for task in wake.tasks})
    released = settle(conn, ended, plan.created_at, channel, origin)
    if released:
        wake = Wake(frozenset(released), plan.created_at).merged(wake)
    return WorkflowInserted(id=workflow_id, job_ids=ids), wake


def settle(
    conn: Conn, ended: Iterable[Ended], now: float, channel: str, origin: str,
    resolved: Sequence[tuple[int, int]] | None = None,
) -> set[str]:
    """Settle the edges of jobs that just ended; the tasks of the dependents it released.
    ``resolved``: the edges ``(job_id, dep_id)`` on ``ended`` already marked resolved by the
    caller's statement (``queries.set_state_resolving``), if it did that first step.

    See the SQLite twin (``_sqlite/graph.py``): the same steps, with rows locked in id order.
    """
    released: set[str] = set()
    frontier = [(job_id, state) for job_id, state in ended if state in FINISHED]
    edges = resolved
    while frontier:
        state_of = dict(frontier)
        if edges is None:
            edges = conn.execute(
                "UPDATE job_deps SET resolved = true WHERE NOT resolved"
                " AND dep_id = ANY(%s::bigint[]) RETURNING job_id, dep_id",
                (list(state_of),),
            ).fetchall()
        if not edges:
            break
        counts: dict[int, int] = {}
        failed: dict[int, tuple[int, JobState]] = {}
        for job_id, dep_id in edges:
            counts[job_id] = counts.get(job_id, 0) + 1
            if state_of[dep_id] is not JobState.COMPLETED and job_id not in failed:
                failed[job_id] = (dep_id, state_of[dep_id])
        conn.execute(
            "SELECT id FROM jobs WHERE id = ANY(%s::bigint[]) AND state = 'pending'"
            " ORDER BY id FOR UPDATE", (sorted(counts),),
        )
        cancelled: list[int] = []
        if failed:
            cancelled = [r[0] for r in conn.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = %s,"
                " errors = errors || jsonb_build_array(f.error)"
                " FROM unnest(%s::bigint[], %s::jsonb[]) AS f(id, error)"
                " WHERE jobs.id = f.id AND jobs.state = 'pending' AND jobs.on_failure = 'cancel'"
                " RETURNING jobs.id",
                (now, list(failed),
                 [error_json(dependency_failed(now, *dep)) for dep in failed.values()]),
            ).fetchall()]
        for job_id in cancelled:
            counts.pop(job_id, None)
        if counts:
            rows = conn.execute(
                "UPDATE jobs SET deps_left = deps_left - c.n,"
                " state = CASE WHEN deps_left - c.n <= 0 THEN 'available' ELSE state END,"
                " run_at = CASE WHEN deps_left - c.n <= 0 THEN %s ELSE run_at END"
                " FROM unnest(%s::bigint[], %s::integer[]) AS c(id, n)"
                " WHERE jobs.id = c.id AND jobs.state = 'pending'"
                " RETURNING jobs.task, jobs.state",
                (now, list(counts), list(counts.values())),
            ).fetchall()
            released.update(task for task, state in rows if state == JobState.AVAILABLE)
        frontier = [(job_id, JobState.CANCELLED) for job_id in cancelled]
        edges = None
    if released:
        notify_tasks(conn, channel, origin, {task: DUE for task in released})
    return released


def cancel_workflow(
    conn: Conn, workflow_id: int, now: float, reason: str, channel: str, origin: str
) -> tuple[list[int], set[str]]:
    """Cancel every unfinished member of the workflow (running ones included); their ids, and
    the tasks of dependents outside it that this released (``on_failure='run'``)."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM job_workflows WHERE id = %s",
                        (workflow_id,)).fetchone() is None:
            raise WorkflowNotFound(workflow_id)
        ids = [r[0] for r in conn.execute(
            "UPDATE jobs SET state = 'cancelled', finished_at = %s, lease_owner = NULL,"
            " lease_expires_at = NULL, errors = errors || jsonb_build_array(%s::jsonb)"
            " WHERE id IN (SELECT id FROM jobs WHERE workflow_id = %s"
            f"  AND state IN {state_list(CANCEL_SOURCES)} ORDER BY id FOR UPDATE)"
            " RETURNING id",
            (now, error_json(operator_cancelled(now, reason)), workflow_id),
        ).fetchall()]
        released = settle(conn, [(job_id, JobState.CANCELLED) for job_id in ids], now, channel,
                          origin)
        notify_cancelled(conn, channel, origin, ids)
    return sorted(ids), released


def dependencies(conn: Conn, job_id: int) -> list[Dependency]:
    """The dependencies of ``job_id`` still stored, with their states and results."""
    return [
        Dependency(id=r[0], state=JobState(r[1]), result=r[2])
        for r in conn.execute(
            "SELECT jobs.id, jobs.state, jobs.result FROM job_deps"
            " JOIN jobs ON jobs.id = job_deps.dep_id WHERE job_deps.job_id = %s"
            " ORDER BY jobs.id",
            (job_id,),
        ).fetchall()
    ]


# -- the engine's state changes, each followed by the settling of what it ended ---------------

def set_state_and_settle(
    conn: Conn, params: Sequence[dict[str, Any]], channel: str, origin: str
) -> tuple[list[bool], set[str]]:
    """:func:`.queries.set_state_if_running_many` and the settling of the jobs it ended;
    (matched, the tasks of the dependents released).

    One round trip for the usual outcomes: a single statement (autocommit) records those of
    jobs nothing depends on (``has_dependents``, set under the row's lock by a workflow's
    push). The others -- a dependency that ends, a job named twice, a lease lost -- take a
    transaction of their own, in which recording the outcome and settling its dependents
    commit together: BEGIN, one statement that records and resolves the edges
    (``queries.set_state_resolving``), COMMIT when nothing is released.
    """
    updated = queries.set_state_independent(conn, params)
    if updated is None:
        rest = list(params)
    elif len(updated) == len(params):
        return [True] * len(params), set()
    else:
        rest = [p for p in params if p["id"] not in updated]
    matched_rest, released = _set_state_and_settle(conn, rest, channel, origin)
    if updated is None:
        return matched_rest, released
    of_rest = dict(zip((p["id"] for p in rest), matched_rest, strict=True))
    return [p["id"] in updated or of_rest[p["id"]] for p in params], released


def _set_state_and_settle(
    conn: Conn, params: Sequence[dict[str, Any]], channel: str, origin: str
) -> tuple[list[bool], set[str]]:
    finished = {s.value for s in FINISHED}
    with conn.transaction():
        first = queries.set_state_resolving(conn, params)
        if first is None:  # a job named twice: its outcomes apply in order
            matched, resolved = queries.set_state_if_running_many(conn, params), None
        else:
            matched, resolved = first
        ended = [(p["id"], JobState(p["state"])) for p, hit in zip(params, matched, strict=True)
                 if hit and p["state"] in finished]
        if not ended or resolved == []:
            return matched, set()
        now = max((p["finished_at"] or 0.0) for p in params)
        return matched, settle(conn, ended, now, channel, origin, resolved)


def cancel_and_settle(
    conn: Conn, job_id: int, now: float, reason: str, channel: str, origin: str
) -> tuple[JobRow, set[str]]:
    with conn.transaction():
        row = queries.cancel(conn, job_id, now, reason)
        notify_cancelled(conn, channel, origin, [row.id])
        return row, settle(conn, [(row.id, row.state)], now, channel, origin)


def insert_workflow_committed(
    conn: Conn, plan: WorkflowInsert, channel: str, origin: str
) -> tuple[WorkflowInserted, Wake | None]:
    """:func:`insert_workflow` in a transaction of its own."""
    with conn.transaction():
        return insert_workflow(conn, plan, channel, origin)


def rescue_and_settle(
    conn: Conn, now: float, max_rescues: int, limit: int, channel: str, origin: str
) -> tuple[list[Rescued], set[str]]:
    with conn.transaction():
        rescued = queries.rescue_expired(conn, now, max_rescues, limit)
        return rescued, settle(conn, [(r.id, r.state) for r in rescued], now, channel, origin)


def discard_unknown_and_settle(
    conn: Conn, known: Sequence[str], before: float, now: float, limit: int, channel: str,
    origin: str,
) -> tuple[list[Rescued], set[str]]:
    with conn.transaction():
        found = queries.discard_unknown(conn, known, before, now, limit)
        return found, settle(conn, [(r.id, r.state) for r in found], now, channel, origin)


def discard_expired_and_settle(
    conn: Conn, now: float, limit: int, channel: str, origin: str
) -> tuple[list[Rescued], set[str]]:
    with conn.transaction():
        found = queries.discard_expired(conn, now, limit)
        return found, settle(conn, [(r.id, r.state) for r in found], now, channel, origin)


def promote_due_and_settle(conn: Conn, now: float, channel: str, origin: str) -> list[str]:
    """:func:`.queries.promote_due`, settling the dependents of the jobs its expiry sweep
    discards; the tasks that got due jobs (promoted or released)."""
    with conn.transaction():
        _, released = discard_expired_and_settle(conn, now, queries.PROMOTE_BATCH, channel,
                                                 origin)
        return [*queries.promote_due(conn, now), *sorted(released)]


def cancel_many_and_settle(
    conn: Conn, where: JobFilter, now: float, reason: str, channel: str, origin: str
) -> tuple[BulkBatch, set[str]]:
    with conn.transaction():
        batch = bulk.cancel_many(conn, where, now, reason)
        notify_cancelled(conn, channel, origin, batch.ids)
        cancelled = [(i, JobState.CANCELLED) for i in batch.ids]
        return batch, settle(conn, cancelled, now, channel, origin)


def delete_many_and_settle(
    conn: Conn, where: JobFilter, now: float, channel: str, origin: str
) -> tuple[BulkBatch, set[str]]:
    """:func:`.bulk.delete_many`; a deleted job never completes, so its dependents settle as
    for a cancelled one, and its own edges go with it."""
    with conn.transaction():
        batch = bulk.delete_many(conn, where)
        if not batch.ids:
            return batch, set()
        conn.execute("DELETE FROM job_deps WHERE job_id = ANY(%s::bigint[])", (list(batch.ids),))
        deleted = [(i, JobState.CANCELLED) for i in batch.ids]
        return batch, settle(conn, deleted, now, channel, origin)
