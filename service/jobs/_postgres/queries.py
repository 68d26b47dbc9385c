"""The SQL of the PostgreSQL backend, as synchronous functions of a psycopg connection.

Connections are in autocommit mode: a function made of one statement is its own transaction;
one that needs several opens ``conn.transaction()`` itself, or is called inside the app's
transaction. Every state change is a compare-and-set whose RETURNING rows say whether it
matched. Claims and the other batch updates lock their rows with ``FOR UPDATE SKIP LOCKED``, so
workers on many hosts never wait on one another's rows, and the lock re-checks the row's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from .._attempt_error import ErrorKind, operator_cancelled
from .._errors import InvalidTransition, JobNotFound
from .._rows import (
    CLAIMED_COLUMNS,
    COLUMNS,
    FRESH_CHECKPOINT,
    WORKER_COLUMNS,
    claim_order,
    error_json,
    list_query,
    progress_sets,
    progress_values,
    release_for_retry,
    rescue_step,
    state_list,
    to_claimed,
    to_worker,
    worker_values,
)
from .._rows import to_row as row_from_columns
from .._states import (
    CANCEL_SOURCES,
    EXPIRABLE,
    FINISHED,
    RETRY_SOURCES,
    UNFINISHED,
    JobState,
)
from .._store import (
    REPEAT_RESCUE_SPREAD_MAX_S,
    REPEAT_RESCUE_SPREAD_S,
    ClaimedJob,
    JobFilter,
    JobRow,
    JobStats,
    Rescued,
    SetStateIfRunning,
    WorkerBeat,
    WorkerRow,
)
from .notify import DUE, notify_tasks

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .._progress import ProgressUpdate
    from .connection import Conn

UNFINISHED_SQL = state_list(UNFINISHED)
#: The ``jobs_expiring`` index's predicate.
EXPIRING = f"expires_at IS NOT NULL AND state IN {state_list(EXPIRABLE)}"


def to_row(r: Sequence[Any]) -> JobRow:
    """A :class:`JobRow` from a row of :data:`COLUMNS` (errors arrive decoded from jsonb)."""
    return row_from_columns(r, r[15])


# -- reading ---------------------------------------------------------------------------------

def get(conn: Conn, job_id: int) -> JobRow:
    """The job ``job_id``; :class:`JobNotFound` if there is none."""
    row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return to_row(row)


def list_jobs(conn: Conn, where: JobFilter) -> list[JobRow]:
    """Jobs matching ``where``, newest first."""
    sql, params = list_query(where, "%s")
    return [to_row(r) for r in conn.execute(sql, params)]


def next_run_at(conn: Conn) -> float | None:
    """The earliest ``run_at`` of a waiting job or ``expires_at`` of an unstarted one, or
    None."""
    row = conn.execute(
        "SELECT least((SELECT min(run_at) FROM jobs WHERE state IN ('scheduled', 'retryable')),"
        f" (SELECT min(expires_at) FROM jobs WHERE {EXPIRING}))"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def stats_by_state(conn: Conn) -> dict[tuple[str, JobState], JobStats]:
    """(task, state) -> count and earliest run_at, in one pass over the table."""
    return {
        (task, JobState(state)): JobStats(count=count, oldest_run_at=oldest)
        for task, state, count, oldest in conn.execute(
            "SELECT task, state, count(*), min(run_at) FROM jobs GROUP BY task, state"
        )
    }


def count_by_state(conn: Conn) -> dict[tuple[str, JobState], int]:
    """(task, state) -> number of jobs."""
    return {
        (task, JobState(state)): count
        for task, state, count in conn.execute(
            "SELECT task, state, count(*) FROM jobs GROUP BY task, state"
        )
    }


def queue_paused(conn: Conn) -> set[str]:
    """The tasks whose queues are paused."""
    return {r[0] for r in conn.execute("SELECT task FROM job_queues WHERE paused")}


# -- claiming and leases ---------------------------------------------------------------------

def claim(
    conn: Conn, task: str, owner: str, limit: int, now: float, expires: float
) -> list[ClaimedJob]:
    """Move up to ``limit`` available jobs of ``task`` to running, in one statement."""
    rows = conn.execute(
        "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = %(now)s,"
        " lease_owner = %(owner)s, lease_expires_at = %(expires)s"
        " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND task = %(task)s"
        "  AND (expires_at IS NULL OR expires_at > %(now)s)"
        "  AND NOT EXISTS (SELECT 1 FROM job_queues WHERE task = %(task)s AND paused)"
        "  ORDER BY priority, run_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        f" RETURNING {CLAIMED_COLUMNS}",
        {"now": now, "owner": owner, "expires": expires, "task": task, "limit": limit},
    ).fetchall()
    return sorted((to_claimed(r) for r in rows), key=claim_order)


PROMOTE_BATCH = 5000


def promote_due(conn: Conn, now: float) -> list[str]:
    """Make due scheduled and retryable jobs available; their task names."""
    discard_expired(conn, now, PROMOTE_BATCH)  # before: an expired job is never promoted
    rows = conn.execute(
        "UPDATE jobs SET state = 'available'"
        " WHERE id IN (SELECT id FROM jobs WHERE state IN ('scheduled', 'retryable')"
        "  AND run_at <= %s ORDER BY run_at LIMIT %s FOR UPDATE SKIP LOCKED)"
        " RETURNING task",
        (now, PROMOTE_BATCH),
    ).fetchall()
    return [r[0] for r in rows]


def _renew(progress: bool) -> str:
    """The lease renewal: ids (and, with ``progress``, the reports beside them) as arrays."""
    arrays = ("%(ids)s::bigint[], %(fraction)s::float8[], %(message)s::text[],"
              " %(at)s::float8[], %(checkpoint)s::text[]" if progress else "%(ids)s::bigint[]")
    names = "id, fraction, message, at, checkpoint" if progress else "id"
    sets = (", " + progress_sets("r.fraction", "r.message", "r.at", "r.checkpoint",
                                 table="jobs.") if progress else "")
    # A row another transaction holds is skipped, not waited for: an outcome being written
    # (the usual one) locks its rows in another order, and waiting made the two deadlock.
    # The final SELECT reads the statement's snapshot, taken before both: a skipped row still
    # running under ``owner`` there counts as held, and the next renewal looks again.
    return (
        f"WITH r AS (SELECT * FROM unnest({arrays}) AS r({names})),"
        " locked AS (SELECT jobs.id FROM jobs JOIN r ON jobs.id = r.id"
        "  WHERE jobs.state = 'running' AND jobs.lease_owner = %(owner)s"
        "  FOR UPDATE OF jobs SKIP LOCKED),"
        f" renewed AS (UPDATE jobs SET lease_expires_at = %(expires)s{sets}"
        "  FROM locked JOIN r ON r.id = locked.id WHERE jobs.id = locked.id RETURNING jobs.id)"
        " SELECT jobs.id FROM jobs JOIN r ON jobs.id = r.id"
        " WHERE jobs.state = 'running' AND jobs.lease_owner = %(owner)s"
    )


_RENEW = {progress: _renew(progress) for progress in (False, True)}


def renew_leases(conn: Conn, owner: str, job_ids: Sequence[int], expires: float,
                 progress: Mapping[int, ProgressUpdate] | None = None) -> list[int]:
    """Extend ``owner``'s leases on ``job_ids``; the ids still held. One statement, which
    also writes the progress of the jobs ``progress`` names (from arrays beside the ids).

    Joins with the ids, not ``id = ANY(array)``: with the planner's (often stale) guess of one
    running job per owner, that filters every running job of the owner through the whole
    array, quadratic in the jobs in flight (~0.2 s for 10,000 of them).
    """
    params: dict[str, Any] = {"ids": list(job_ids), "owner": owner, "expires": expires}
    if progress:
        columns = zip(*(progress_values(progress.get(i)) for i in job_ids), strict=True)
        params.update(zip(_PROGRESS_KEYS, map(list, columns), strict=True))
    return [r[0] for r in conn.execute(_RENEW[bool(progress)], params).fetchall()]


def rescue_expired(conn: Conn, now: float, max_rescues: int, limit: int) -> list[Rescued]:
    """Return running jobs whose lease expired to the queue (or discard them)."""
    # SET expressions all read the row as it was before the update.
    out_of_rescues = "rescues + 1 >= %(max_rescues)s"
    out_of_attempts = "attempt >= max_attempts"
    # Rescued before: back after a random pause (see REPEAT_RESCUE_SPREAD_S).
    spread = "least(rescues * %(spread)s::float8, %(spread_max)s::float8)"
    rows = conn.execute(
        "UPDATE jobs SET"
        f" state = CASE WHEN {out_of_rescues} OR {out_of_attempts} THEN 'discarded'"
        "  WHEN rescues > 0 THEN 'retryable' ELSE 'available' END,"
        f" finished_at = CASE WHEN {out_of_rescues} OR {out_of_attempts}"
        "  THEN %(now)s ELSE NULL END,"
        # Codes only: AttemptError renders the prose (attempt_error.RescueStep).
        " errors = errors || jsonb_build_array(jsonb_build_object("
        f"  'attempt', attempt, 'at', %(now)s::float8, 'kind', '{ErrorKind.LEASE_EXPIRED}',"
        "  'error', 'LeaseExpired', 'owner', lease_owner, 'rescues', rescues + 1,"
        f"  'step', {rescue_step(out_of_rescues, out_of_attempts)},"
        f"  'pause', CASE WHEN {out_of_rescues} OR {out_of_attempts} THEN 0.0::float8"
        f"   ELSE {spread} END,"
        "  'lease_expires_at', lease_expires_at)),"
        " run_at = CASE WHEN rescues > 0"
        f"  THEN %(now)s + random() * {spread} ELSE %(now)s END,"
        " rescues = rescues + 1, lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id IN (SELECT id FROM jobs WHERE state = 'running'"
        "  AND lease_expires_at < %(now)s LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, task, state",
        {"now": now, "max_rescues": max_rescues, "limit": limit,
         "spread": REPEAT_RESCUE_SPREAD_S, "spread_max": REPEAT_RESCUE_SPREAD_MAX_S},
    ).fetchall()
    return [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]


#: The distinct tasks of available jobs, one index probe per task (a loose index scan over
#: ``jobs_available``) rather than a walk over every available job.
AVAILABLE_TASKS = (
    "WITH RECURSIVE t(task) AS ("
    " (SELECT task FROM jobs WHERE state = 'available' ORDER BY task LIMIT 1)"
    " UNION ALL"
    " SELECT (SELECT j.task FROM jobs j WHERE j.state = 'available' AND j.task > t.task"
    "  ORDER BY j.task LIMIT 1) FROM t WHERE t.task IS NOT NULL"
    ") SELECT task FROM t WHERE task IS NOT NULL"
)


def discard_unknown(
    conn: Conn, known: Sequence[str], before: float, now: float, limit: int
) -> list[Rescued]:
    """Discard available jobs of tasks not in ``known``, due before ``before``.

    Finds the unknown tasks first (:data:`AVAILABLE_TASKS`), so a million available jobs of
    known tasks cost a few index probes, not a scan.
    """
    known_set = set(known)
    unknown = [r[0] for r in conn.execute(AVAILABLE_TASKS) if r[0] not in known_set]
    if not unknown:
        return []
    rows = conn.execute(
        "UPDATE jobs SET state = 'discarded', finished_at = %(now)s,"
        " errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt,"
        f"  'at', %(now)s::float8, 'kind', '{ErrorKind.UNKNOWN_TASK}', 'error', 'UnknownTask',"
        "  'task', task)),"
        " lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND run_at < %(before)s"
        "  AND task = ANY(%(unknown)s::text[]) LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, task, state",
        {"now": now, "before": before, "unknown": unknown, "limit": limit},
    ).fetchall()
    return [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]


def discard_expired(conn: Conn, now: float, limit: int) -> list[Rescued]:
    """Discard jobs waiting for their next attempt whose ``expires_at`` is at or before now."""
    rows = conn.execute(
        "UPDATE jobs SET state = 'discarded', finished_at = %(now)s,"
        " errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt,"
        f"  'at', %(now)s::float8, 'kind', '{ErrorKind.EXPIRED}', 'error', 'Expired',"
        "  'expires_at', expires_at))"
        f" WHERE id IN (SELECT id FROM jobs WHERE {EXPIRING} AND expires_at <= %(now)s"
        "  ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, task, state",
        {"now": now, "limit": limit},
    ).fetchall()
    return [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]


# -- outcomes and operator actions -----------------------------------------------------------

_SET_STATE = (
    "UPDATE jobs SET state = %(state)s, run_at = coalesce(%(run_at)s::float8, run_at),"
    " finished_at = %(finished_at)s::float8, attempt = attempt - %(refund)s::integer,"
    " errors = CASE WHEN %(error)s::jsonb IS NULL THEN errors"
    "  ELSE errors || jsonb_build_array(%(error)s::jsonb) END,"
    " result = %(result)s::text, lease_owner = NULL, lease_expires_at = NULL, "
    + progress_sets("%(fraction)s::float8", "%(message)s::text", "%(at)s::float8",
                    "%(checkpoint)s::text")
    + " WHERE id = %(id)s AND state = 'running' AND lease_owner = %(owner)s"
    " AND attempt = %(attempt)s::integer RETURNING id"
)


def set_state_params(outcomes: Sequence[SetStateIfRunning]) -> list[dict[str, Any]]:
    """Parameters of each outcome's compare-and-set; PayloadError before anything is sent."""
    return [
        {"state": o.state.value, "run_at": o.run_at, "finished_at": o.finished_at,
         "refund": 1 if o.refund_attempt else 0, "error": error_json(o.error), "result": o.result,
         "id": o.id, "owner": o.owner, "attempt": o.attempt,
         **dict(zip(_PROGRESS_KEYS, progress_values(o.progress), strict=True))}
        for o in outcomes
    ]


_PROGRESS_KEYS = ("fraction", "message", "at", "checkpoint")


def _set_state_many(progress: bool) -> str:
    """The compare-and-set of many outcomes over arrays (the columns of :func:`_columns`);
    ``progress``: they also write what their attempts reported."""
    progress_columns = ("%s::float8[], %s::text[], %s::float8[], %s::text[]," if progress
                        else "")
    return (
        "UPDATE jobs SET state = o.state, run_at = coalesce(o.run_at, jobs.run_at),"
        " finished_at = o.finished_at, attempt = jobs.attempt - o.refund,"
        " errors = CASE WHEN o.error IS NULL THEN jobs.errors"
        "  ELSE jobs.errors || jsonb_build_array(o.error) END,"
        " result = o.result, lease_owner = NULL, lease_expires_at = NULL"
        + (", " + progress_sets("o.fraction", "o.message", "o.at", "o.checkpoint",
                                table="jobs.") if progress else "")
        + " FROM unnest(" + progress_columns + "%s::bigint[], %s::text[], %s::integer[],"
        "  %s::text[], %s::float8[], %s::float8[], %s::integer[], %s::jsonb[], %s::text[])"
        "  AS o(" + ("fraction, message, at, checkpoint, " if progress else "")
        + "id, owner, attempt, state, run_at, finished_at, refund, error, result)"
        " WHERE jobs.id = o.id AND jobs.state = 'running' AND jobs.lease_owner = o.owner"
        "  AND jobs.attempt = o.attempt"
        " RETURNING jobs.id"
    )


_SET_STATE_KEYS = (
    "id", "owner", "attempt", "state", "run_at", "finished_at", "refund", "error", "result",
)


def _columns(params: Sequence[dict[str, Any]]) -> tuple[bool, list[list[Any]]]:
    """(whether any outcome carries progress, the arrays of :func:`_set_state_many`): the
    usual outcomes, reporting nothing, send four arrays of NULLs fewer."""
    progress = any(p["at"] is not None or p["checkpoint"] is not None for p in params)
    keys = (*_PROGRESS_KEYS, *_SET_STATE_KEYS) if progress else _SET_STATE_KEYS
    return progress, [[p[key] for p in params] for key in keys]


def _set_state_resolving(progress: bool) -> str:
    """:func:`_set_state_many`, and the first step of settling dependents (``graph.settle``)
    in the same statement: the edges on the jobs it finished are marked resolved. Rows with a
    NULL second column are the jobs updated; the others are edges ``(job_id, dep_id)``."""
    return (
        "WITH done AS (" + _set_state_many(progress).replace(
            "RETURNING jobs.id", "RETURNING jobs.id, jobs.state")
        + "), edges AS (UPDATE job_deps SET resolved = true FROM done"
        " WHERE job_deps.dep_id = done.id AND NOT job_deps.resolved"
        f" AND done.state IN {state_list(FINISHED)} RETURNING job_deps.job_id, job_deps.dep_id)"
        " SELECT id, NULL::bigint FROM done UNION ALL SELECT job_id, dep_id FROM edges"
    )


_SET_STATE_MANY = {progress: _set_state_many(progress) for progress in (False, True)}
_SET_STATE_RESOLVING = {progress: _set_state_resolving(progress) for progress in (False, True)}


def _set_state_independent(progress: bool) -> str:
    return _set_state_many(progress).replace(
        " RETURNING jobs.id",
        f" AND (NOT jobs.has_dependents OR o.state NOT IN {state_list(FINISHED)})"
        " RETURNING jobs.id")


_SET_STATE_INDEPENDENT = {progress: _set_state_independent(progress)
                          for progress in (False, True)}


def set_state_independent(conn: Conn, params: Sequence[dict[str, Any]]) -> set[int] | None:
    """Record, in one statement of its own (the connection is in autocommit), the outcomes
    (from :func:`set_state_params`) that leave nothing to settle: of jobs no other job
    depends on, or that do not finish the job. The ids it recorded; None, having done
    nothing, if a job is named twice."""
    ids = [p["id"] for p in params]
    if len(set(ids)) != len(ids):
        return None
    progress, columns = _columns(params)
    # Prepared (psycopg's default: from its fifth run): planning it each time cost the server
    # a fifth more CPU in a burn-down at concurrency 10 (groups of ~10 outcomes, 2.2 vs 1.8 s
    # for 20,000 jobs); at concurrency 100 (groups of ~100) neither is cheaper.
    rows = conn.execute(_SET_STATE_INDEPENDENT[progress], columns).fetchall()
    return {r[0] for r in rows}


def set_state_resolving(
    conn: Conn, params: Sequence[dict[str, Any]]
) -> tuple[list[bool], list[tuple[int, int]]] | None:
    """:func:`set_state_if_running_many` of distinct jobs in one statement that also resolves
    the dependency edges on the jobs it finished; (matched, the edges resolved). None, having
    done nothing, if a job is named twice."""
    ids = [p["id"] for p in params]
    if len(set(ids)) != len(ids):
        return None
    progress, columns = _columns(params)
    updated: set[int] = set()
    edges: list[tuple[int, int]] = []
    # Never prepared: the generic plan PostgreSQL switches a prepared statement to after five
    # runs costs the server twice the CPU of a plan made for the arrays at hand (measured:
    # ~35 vs ~19 us a job for batches of 100).
    for first, dep_id in conn.execute(_SET_STATE_RESOLVING[progress], columns,
                                           prepare=False).fetchall():
        if dep_id is None:
            updated.add(first)
        else:
            edges.append((first, dep_id))
    return [job_id in updated for job_id in ids], edges


def set_state_if_running_many(conn: Conn, params: Sequence[dict[str, Any]]) -> list[bool]:
    """Apply each compare-and-set (from :func:`set_state_params`) atomically.

    Distinct jobs (the usual batch) take one statement over arrays; a batch naming a job twice
    runs its updates in order, in one transaction, so the first outcome wins as it would alone.
    """
    ids = [p["id"] for p in params]
    if len(set(ids)) == len(ids):
        progress, columns = _columns(params)
        updated = {r[0] for r in conn.execute(_SET_STATE_MANY[progress], columns).fetchall()}
        return [job_id in updated for job_id in ids]
    matched = []
    with conn.pipeline(), conn.transaction():
        cursor = conn.cursor()
        cursor.executemany(_SET_STATE, params, returning=True)
        while True:
            matched.append(cursor.fetchone() is not None)
            if not cursor.nextset():
                break
    return matched


def _cas(conn: Conn, job_id: int, sql: str, params: Sequence[Any], target: JobState) -> JobRow:
    try:
        row = conn.execute(sql, params).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise InvalidTransition(
            f"job {job_id} cannot become {target}: another unfinished job holds its unique key"
        ) from exc
    if row is not None:
        return to_row(row)
    current = get(conn, job_id)
    raise InvalidTransition(f"job {job_id} is {current.state} and cannot become {target}")


_RELEASE_FOR_RETRY = release_for_retry("%s")


def retry(conn: Conn, job_id: int, now: float, channel: str, origin: str) -> JobRow:
    """Operator retry, and a NOTIFY so workers on every host hear of it at commit."""
    with conn.transaction():
        conn.execute(_RELEASE_FOR_RETRY, (job_id, job_id))
        row = _cas(
            conn,
            job_id,
            "UPDATE jobs SET state = 'available', run_at = %s, finished_at = NULL, result = NULL,"
            " rescues = 0, max_attempts = greatest(max_attempts, attempt + 1),"
            " expires_at = NULL, unique_held = (unique_key IS NOT NULL), " + FRESH_CHECKPOINT
            + f" WHERE id = %s AND state IN {state_list(RETRY_SOURCES)} RETURNING {COLUMNS}",
            (now, job_id),
            JobState.AVAILABLE,
        )
        notify_tasks(conn, channel, origin, {row.task: DUE})
    return row


def cancel(conn: Conn, job_id: int, now: float, reason: str) -> JobRow:
    """Operator cancel of an unfinished job, recording ``reason``."""
    error = error_json(operator_cancelled(now, reason))
    return _cas(
        conn,
        job_id,
        "UPDATE jobs SET state = 'cancelled', finished_at = %s, lease_owner = NULL,"
        " lease_expires_at = NULL, errors = errors || jsonb_build_array(%s::jsonb)"
        f" WHERE id = %s AND state IN {state_list(CANCEL_SOURCES)} RETURNING {COLUMNS}",
        (now, error, job_id),
        JobState.CANCELLED,
    )


#: One statement per finished state, written out: a partial index (``jobs_finished``) is usable
#: only when the planner can prove its predicate, which a bound parameter in a generic plan
#: never lets it do.
_DELETE_FINISHED = {
    state: "WITH gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
           f" WHERE state = '{state.value}' AND finished_at < %s"
           # A workflow member stays while a dependent is unfinished: it reads our result.
           " AND NOT EXISTS (SELECT 1 FROM job_deps JOIN jobs AS dependent"
           "  ON dependent.id = job_deps.job_id WHERE job_deps.dep_id = jobs.id"
           f"  AND dependent.state IN {UNFINISHED_SQL})"
           " LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id),"
           " edges AS (DELETE FROM job_deps WHERE job_id IN (SELECT id FROM gone))"
           " SELECT count(*) FROM gone"
    for state in FINISHED
}


def delete_finished(conn: Conn, state: JobState, before: float, limit: int) -> int:
    """Delete up to ``limit`` jobs in ``state`` finished before ``before`` (and their edges)."""
    [(count,)] = conn.execute(_DELETE_FINISHED[state], (before, limit)).fetchall()
    return int(count)


def queue_set_paused(
    conn: Conn, task: str, paused: bool, now: float, channel: str, origin: str
) -> None:
    """Pause or resume ``task``; a resume NOTIFYs so idle workers everywhere look again."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO job_queues (task, paused, updated_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (task) DO UPDATE SET paused = excluded.paused,"
            " updated_at = excluded.updated_at",
            (task, paused, now),
        )
        if not paused:
            notify_tasks(conn, channel, origin, {task: DUE})


# -- finished jobs per minute (operators' bulk actions are in :mod:`.bulk`) -----------------

def finished_per_minute(
    conn: Conn, since: float, until: float
) -> dict[tuple[float, JobState], int]:
    """(minute start, state) -> jobs finished then, from ``since`` up to ``until``: one hash
    aggregate over a range of ``jobs_finished``."""
    return {
        (since + 60 * float(minute), JobState(state)): n
        for minute, state, n in conn.execute(
            "SELECT floor((finished_at - %(since)s) / 60)::bigint, state, count(*) FROM jobs"
            f" WHERE state IN {state_list(FINISHED)} AND finished_at >= %(since)s"
            "  AND finished_at < %(until)s GROUP BY 1, 2",
            {"since": since, "until": until},
        )
    }


# -- worker processes -------------------------------------------------------------------------

def worker_beat(conn: Conn, beat: WorkerBeat) -> None:
    """Upsert a worker's heartbeat."""
    conn.execute(
        f"INSERT INTO job_workers ({WORKER_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL)"
        " ON CONFLICT (owner) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " tasks = excluded.tasks, in_flight = excluded.in_flight, seen_at = excluded.seen_at,"
        " beat_interval = excluded.beat_interval, stopped_at = NULL",
        worker_values(beat),
    )


def worker_stopped(conn: Conn, owner: str, now: float) -> None:
    """Record a clean stop."""
    conn.execute("UPDATE job_workers SET stopped_at = %s, seen_at = %s, in_flight = 0"
                 " WHERE owner = %s", (now, now, owner))


def worker_list(conn: Conn) -> list[WorkerRow]:
    """Every worker, most recently seen first."""
    return [to_worker(r) for r in conn.execute(
        f"SELECT {WORKER_COLUMNS} FROM job_workers ORDER BY seen_at DESC, owner")]


def worker_delete_seen_before(conn: Conn, before: float) -> int:
    """Forget workers last seen before ``before``."""
    return conn.execute("DELETE FROM job_workers WHERE seen_at < %s", (before,)).rowcount
