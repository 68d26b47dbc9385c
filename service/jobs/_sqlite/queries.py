"""The SQL of the SQLite backend, as synchronous functions of a connection.

Each runs on the runner's thread. Functions that write expect to be called inside a transaction
(see :func:`.connection.in_transaction`); every state change is a compare-and-set whose row count
or RETURNING rows say whether it matched. Pushes are in :mod:`.inserts`, operators' bulk actions
in :mod:`.bulk`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

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
from .schema import ALL_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .._progress import ProgressUpdate

UNFINISHED_SQL = state_list(UNFINISHED)
FINISHED_SQL = state_list(FINISHED)
#: Repeats the ``jobs_expiring`` index's own terms, so that SQLite uses it.
EXPIRING = f"expires_at IS NOT NULL AND state IN {state_list(EXPIRABLE)}"


def to_row(r: Sequence[Any]) -> JobRow:
    return row_from_columns(r, json.loads(r[15]))


# -- a job waiting in ``scheduled_jobs`` (see :mod:`.inserts`) moves into ``jobs`` to change --

_UNSCHEDULE = (
    f"INSERT INTO jobs ({ALL_COLUMNS}) SELECT {ALL_COLUMNS} FROM scheduled_jobs"
    " WHERE id IN (SELECT value FROM json_each(?))"
)


def unschedule(conn: sqlite3.Connection, ids: int | Sequence[int]) -> None:
    """Move these jobs, if they wait in ``scheduled_jobs``, into ``jobs`` as they are (still
    'scheduled', same id), so that the statement that changes them next finds them there."""
    batch = json.dumps([ids] if isinstance(ids, int) else list(ids))
    if conn.execute(_UNSCHEDULE, (batch,)).rowcount:
        conn.execute("DELETE FROM scheduled_jobs WHERE id IN (SELECT value FROM json_each(?))",
                     (batch,))


def where_jobs_are(where: JobFilter, allowed: frozenset[JobState] | None = None) -> str:
    """What a listing, count or bulk pick of ``where`` (among ``allowed`` states) reads:
    ``jobs`` alone when it selects no scheduled job (``scheduled_jobs`` holds nothing else: a
    listing of failed jobs never walks the future ones), else the view of both tables."""
    states = where.state_set()
    if allowed is not None:
        states = allowed if states is None else states & allowed
    return "all_jobs" if states is None or JobState.SCHEDULED in states else "jobs"


def get(conn: sqlite3.Connection, job_id: int) -> JobRow:
    row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        row = conn.execute(f"SELECT {COLUMNS} FROM scheduled_jobs WHERE id = ?",
                           (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return to_row(row)


def list_jobs(conn: sqlite3.Connection, where: JobFilter) -> list[JobRow]:
    """Jobs matching ``where``, newest first."""
    sql, params = list_query(where, "?", table=where_jobs_are(where))
    return [to_row(r) for r in conn.execute(sql, params)]


def claim(
    conn: sqlite3.Connection, task: str, owner: str, limit: int, now: float, expires: float
) -> list[ClaimedJob]:
    found = conn.execute(
        "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempted_at = ?,"
        " lease_owner = ?, lease_expires_at = ?"
        " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND task = ?"
        "  AND (expires_at IS NULL OR expires_at > ?)"
        "  AND NOT EXISTS (SELECT 1 FROM job_queues WHERE task = ? AND paused = 1)"
        "  ORDER BY priority, run_at, id LIMIT ?)"
        f" RETURNING {CLAIMED_COLUMNS}",
        (now, owner, expires, task, now, task, limit),
    ).fetchall()
    return sorted((to_claimed(r) for r in found), key=claim_order)


PROMOTE_BATCH = 5000


#: Due rows of ``scheduled_jobs``, earliest first, into ``jobs`` as 'available' (same id).
_PROMOTE_APART = (
    f"INSERT INTO jobs ({ALL_COLUMNS}) SELECT "
    + ALL_COLUMNS.replace(" state,", " 'available',")
    + " FROM scheduled_jobs WHERE run_at <= ? ORDER BY run_at LIMIT ? RETURNING id, task"
)


def promote_due(conn: sqlite3.Connection, now: float) -> list[str]:
    discard_expired(conn, now, PROMOTE_BATCH)  # before: an expired job is never promoted
    moved = conn.execute(_PROMOTE_APART, (now, PROMOTE_BATCH)).fetchall()
    if moved:
        conn.execute("DELETE FROM scheduled_jobs WHERE id IN (SELECT value FROM json_each(?))",
                     (json.dumps([r[0] for r in moved]),))
    rows = moved + conn.execute(
        "UPDATE jobs SET state = 'available'"
        " WHERE id IN (SELECT id FROM jobs WHERE state IN ('scheduled', 'retryable')"
        "  AND run_at <= ? ORDER BY run_at LIMIT ?)"
        " RETURNING id, task",
        (now, PROMOTE_BATCH),
    ).fetchall()
    return [r[1] for r in rows]


def next_run_at(conn: sqlite3.Connection) -> float | None:
    """The earliest waiting job's run_at or unstarted job's expires_at (two index seeks)."""
    row = conn.execute(
        "SELECT min(t) FROM ("
        " SELECT min(run_at) AS t FROM jobs WHERE state IN ('scheduled', 'retryable')"
        f" UNION ALL SELECT min(expires_at) FROM jobs WHERE {EXPIRING}"
        " UNION ALL SELECT min(run_at) FROM scheduled_jobs"
        " UNION ALL SELECT min(expires_at) FROM scheduled_jobs WHERE expires_at IS NOT NULL)"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def discard_expired(conn: sqlite3.Connection, now: float, limit: int) -> list[Rescued]:
    """Discard jobs waiting for their next attempt whose ``expires_at`` is at or before now."""
    unschedule(conn, [r[0] for r in conn.execute(
        "SELECT id FROM scheduled_jobs WHERE expires_at IS NOT NULL AND expires_at <= ?"
        " ORDER BY expires_at LIMIT ?", (now, limit))])
    rows = conn.execute(
        "UPDATE jobs SET state = 'discarded', finished_at = :now,"
        " errors = json_insert(errors, '$[#]', json_object('attempt', attempt,"
        f"  'at', {_json_real(':now')}, 'kind', '{ErrorKind.EXPIRED}', 'error', 'Expired',"
        f"  'expires_at', {_json_real('expires_at')}))"
        f" WHERE id IN (SELECT id FROM jobs WHERE {EXPIRING} AND expires_at <= :now"
        "  ORDER BY expires_at LIMIT :limit)"
        " RETURNING id, task, state",
        {"now": now, "limit": limit},
    ).fetchall()
    return [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]


_RENEW_WITH_PROGRESS = (
    "UPDATE jobs SET lease_expires_at = ?, "
    + progress_sets("r.fraction", "r.message", "r.at", "r.checkpoint", table="jobs.")
    + " FROM (SELECT value ->> 0 AS id, value ->> 1 AS fraction, value ->> 2 AS message,"
    "  value ->> 3 AS at, value ->> 4 AS checkpoint FROM json_each(?)) AS r"
    " WHERE jobs.id = r.id AND jobs.state = 'running' AND jobs.lease_owner = ?"
    " RETURNING jobs.id"
)


def renew_leases(
    conn: sqlite3.Connection, owner: str, job_ids: Sequence[int], expires: float,
    progress: Mapping[int, ProgressUpdate] | None = None,
) -> list[int]:
    """One statement: the plain renewal, or (when any job reported progress) one that also
    writes each job's progress from the same JSON array as its id."""
    if not progress:
        rows = conn.execute(
            "UPDATE jobs SET lease_expires_at = ? WHERE state = 'running' AND lease_owner = ?"
            " AND id IN (SELECT value FROM json_each(?)) RETURNING id",
            (expires, owner, json.dumps(list(job_ids))),
        ).fetchall()
    else:
        each = [[job_id, *progress_values(progress.get(job_id))] for job_id in job_ids]
        rows = conn.execute(_RENEW_WITH_PROGRESS, (expires, json.dumps(each), owner)).fetchall()
    return [r[0] for r in rows]


def _json_real(expr: str) -> str:
    """SQL for a REAL as an exact JSON number: ``json_object`` writes reals with 15 significant
    digits, which loses the sub-millisecond part of a timestamp; 17 round-trip every double."""
    return f"json(printf('%!.17g', {expr}))"


def rescue_expired(
    conn: sqlite3.Connection, now: float, max_rescues: int, limit: int
) -> list[Rescued]:
    # SET expressions all read the row as it was before the update.
    out_of_rescues = "rescues + 1 >= :max_rescues"
    out_of_attempts = "attempt >= max_attempts"
    # Rescued before: back after a random pause (see REPEAT_RESCUE_SPREAD_S).
    spread = "min(rescues * :spread, :spread_max)"
    rows = conn.execute(
        "UPDATE jobs SET"
        f" state = CASE WHEN {out_of_rescues} OR {out_of_attempts} THEN 'discarded'"
        "  WHEN rescues > 0 THEN 'retryable' ELSE 'available' END,"
        f" finished_at = CASE WHEN {out_of_rescues} OR {out_of_attempts} THEN :now ELSE NULL END,"
        # Codes only: AttemptError renders the prose (attempt_error.RescueStep).
        " errors = json_insert(errors, '$[#]', json_object("
        f"  'attempt', attempt, 'at', {_json_real(':now')}, 'kind', '{ErrorKind.LEASE_EXPIRED}',"
        "  'error', 'LeaseExpired', 'owner', lease_owner, 'rescues', rescues + 1,"
        f"  'step', {rescue_step(out_of_rescues, out_of_attempts)},"
        f"  'pause', CASE WHEN {out_of_rescues} OR {out_of_attempts} THEN 0.0 ELSE {spread} END,"
        f"  'lease_expires_at', {_json_real('lease_expires_at')})),"
        " run_at = CASE WHEN rescues > 0"
        f"  THEN :now + (random() & 1048575) / 1048576.0 * {spread} ELSE :now END,"
        " rescues = rescues + 1, lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < :now"
        "  LIMIT :limit)"
        " RETURNING id, task, state",
        {"now": now, "max_rescues": max_rescues, "limit": limit,
         "spread": REPEAT_RESCUE_SPREAD_S, "spread_max": REPEAT_RESCUE_SPREAD_MAX_S},
    ).fetchall()
    return [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]


#: The distinct tasks of available jobs, one index seek per task (a loose index scan over
#: ``jobs_available``) rather than a walk over every available job.
AVAILABLE_TASKS = (
    "WITH RECURSIVE t(task) AS ("
    " SELECT min(task) FROM jobs WHERE state = 'available'"
    " UNION ALL"
    " SELECT (SELECT min(task) FROM jobs WHERE state = 'available' AND task > t.task)"
    " FROM t WHERE t.task IS NOT NULL"
    ") SELECT task FROM t WHERE task IS NOT NULL"
)


def discard_unknown(
    conn: sqlite3.Connection, known: Sequence[str], before: float, now: float, limit: int
) -> list[Rescued]:
    """Discard available jobs of tasks not in ``known``, due before ``before``.

    Finds the unknown tasks first (:data:`AVAILABLE_TASKS`), so a million available jobs of
    known tasks cost a few index seeks, not a scan.
    """
    known_set = set(known)
    unknown = [r[0] for r in conn.execute(AVAILABLE_TASKS) if r[0] not in known_set]
    found: list[Rescued] = []
    for task in unknown:
        rows = conn.execute(
            "UPDATE jobs SET state = 'discarded', finished_at = :now,"
            " errors = json_insert(errors, '$[#]', json_object('attempt', attempt,"
            f"  'at', {_json_real(':now')}, 'kind', '{ErrorKind.UNKNOWN_TASK}',"
            "  'error', 'UnknownTask', 'task', task)),"
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND task = :task"
            "  AND run_at < :before LIMIT :limit)"
            " RETURNING id, task, state",
            {"now": now, "before": before, "task": task, "limit": limit - len(found)},
        ).fetchall()
        found += [Rescued(id=r[0], task=r[1], state=JobState(r[2])) for r in rows]
        if len(found) >= limit:
            break
    return found


_SET_STATE = (
    "UPDATE jobs SET state = :state, run_at = coalesce(:run_at, run_at),"
    " finished_at = :finished_at, attempt = attempt - :refund,"
    " errors = CASE WHEN :error IS NULL THEN errors"
    "  ELSE json_insert(errors, '$[#]', json(:error)) END,"
    " result = :result, lease_owner = NULL, lease_expires_at = NULL, "
    + progress_sets(":fraction", ":message", ":at", ":checkpoint")
    + " WHERE id = :id AND state = 'running' AND lease_owner = :owner AND attempt = :attempt"
)


def _plain(o: SetStateIfRunning) -> bool:
    """An outcome with nothing per-job to write but its state (a typical completion)."""
    return o.error is None and o.result is None and not o.refund_attempt and o.run_at is None


def _set_state_grouped(
    conn: sqlite3.Connection, outcomes: Sequence[SetStateIfRunning]
) -> set[int]:
    """Plain outcomes sharing (state, owner): one statement per group."""
    # (state, owner, whether any carries progress) -> each outcome's values
    groups: dict[tuple[str, str, bool], list[tuple[Any, ...]]] = {}
    for o in outcomes:
        if o.progress is None:
            groups.setdefault((o.state.value, o.owner, False), []).append(
                (o.id, o.attempt, o.finished_at))
        else:
            groups.setdefault((o.state.value, o.owner, True), []).append(
                (o.id, o.attempt, o.finished_at, *progress_values(o.progress)))
    matched: set[int] = set()
    for (state, owner, progress), each in groups.items():
        rows = conn.execute(_SET_STATE_GROUPED[progress],
                            (state, json.dumps(each), owner)).fetchall()
        matched.update(r[0] for r in rows)
    return matched


def _grouped_statement(progress: bool) -> str:
    """The outcomes of one (state, owner) group from a JSON array of
    ``[id, attempt, finished_at]`` -- with ``progress``, also ``fraction, message, at,
    checkpoint``, written beside the state (the usual outcome reports none: three columns fewer
    read and written)."""
    reported = (", value ->> 3 AS fraction, value ->> 4 AS message, value ->> 5 AS at,"
                " value ->> 6 AS checkpoint" if progress else "")
    sets = (", " + progress_sets("done.fraction", "done.message", "done.at", "done.checkpoint",
                                 table="jobs.") if progress else "")
    return (
        "UPDATE jobs SET state = ?, finished_at = done.finished_at, result = NULL,"
        f" lease_owner = NULL, lease_expires_at = NULL{sets}"
        " FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS finished_at"
        f"{reported} FROM json_each(?)) AS done"
        " WHERE jobs.id = done.id AND jobs.state = 'running' AND jobs.lease_owner = ?"
        "  AND jobs.attempt = done.attempt"
        " RETURNING jobs.id"
    )


_SET_STATE_GROUPED = {progress: _grouped_statement(progress) for progress in (False, True)}


def set_state_if_running_many(
    conn: sqlite3.Connection, outcomes: Sequence[SetStateIfRunning]
) -> list[bool]:
    plain = [o for o in outcomes if _plain(o)]
    grouped = _set_state_grouped(conn, plain) if len(plain) > 1 else set()
    matched = []
    for o in outcomes:
        if len(plain) > 1 and _plain(o):
            matched.append(o.id in grouped)
            continue
        fraction, message, at, checkpoint = progress_values(o.progress)
        cursor = conn.execute(_SET_STATE, {
            "state": o.state.value, "run_at": o.run_at, "finished_at": o.finished_at,
            "refund": 1 if o.refund_attempt else 0, "error": error_json(o.error),
            "result": o.result, "fraction": fraction, "message": message, "at": at,
            "checkpoint": checkpoint, "id": o.id, "owner": o.owner, "attempt": o.attempt,
        })
        matched.append(cursor.rowcount == 1)
    return matched


def _cas(conn: sqlite3.Connection, job_id: int, sql: str, params: Sequence[Any],
         target: JobState) -> JobRow:
    try:
        row = conn.execute(sql, params).fetchone()
    except sqlite3.IntegrityError as exc:
        raise InvalidTransition(
            f"job {job_id} cannot become {target}: another unfinished job holds its unique key"
        ) from exc
    if row is not None:
        return to_row(row)
    current = get(conn, job_id)
    raise InvalidTransition(f"job {job_id} is {current.state} and cannot become {target}")


_RELEASE_FOR_RETRY = release_for_retry("?")


def retry(conn: sqlite3.Connection, job_id: int, now: float) -> JobRow:
    unschedule(conn, job_id)
    conn.execute(_RELEASE_FOR_RETRY, (job_id, job_id))
    return _cas(
        conn,
        job_id,
        "UPDATE jobs SET state = 'available', run_at = ?, finished_at = NULL, result = NULL,"
        " rescues = 0, max_attempts = max(max_attempts, attempt + 1), expires_at = NULL,"
        " unique_held = (unique_key IS NOT NULL), " + FRESH_CHECKPOINT +
        f" WHERE id = ? AND state IN {state_list(RETRY_SOURCES)} RETURNING {COLUMNS}",
        (now, job_id),
        JobState.AVAILABLE,
    )


def cancel(conn: sqlite3.Connection, job_id: int, now: float, reason: str) -> JobRow:
    error = error_json(operator_cancelled(now, reason))
    unschedule(conn, job_id)
    return _cas(
        conn,
        job_id,
        "UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_owner = NULL,"
        " lease_expires_at = NULL, errors = json_insert(errors, '$[#]', json(?))"
        f" WHERE id = ? AND state IN {state_list(CANCEL_SOURCES)} RETURNING {COLUMNS}",
        (now, error, job_id),
        JobState.CANCELLED,
    )


#: One statement per finished state, written out. SQLite uses a partial index only when the
#: query repeats the index's own WHERE term: ``state = 'completed'`` alone (let alone a bound
#: parameter) does not prove ``state IN (...)``, and the pruner scanned the whole table.
_DELETE_FINISHED = {
    state: "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"
           f" WHERE state IN {FINISHED_SQL} AND state = '{state.value}'"
           " AND finished_at < ?"
           # A workflow member stays while a dependent is unfinished: it reads our result.
           " AND NOT EXISTS (SELECT 1 FROM job_deps JOIN jobs AS dependent"
           "  ON dependent.id = job_deps.job_id WHERE job_deps.dep_id = jobs.id"
           f"  AND dependent.state IN {UNFINISHED_SQL})"
           " LIMIT ?) RETURNING id"
    for state in FINISHED
}


def delete_finished(
    conn: sqlite3.Connection, state: JobState, before: float, limit: int
) -> int:
    ids = [r[0] for r in conn.execute(_DELETE_FINISHED[state], (before, limit)).fetchall()]
    if ids:
        conn.execute("DELETE FROM job_deps WHERE job_id IN (SELECT value FROM json_each(?))",
                     (json.dumps(ids),))
    return len(ids)


def stats_by_state(conn: sqlite3.Connection) -> dict[tuple[str, JobState], JobStats]:
    """(task, state) -> count and earliest run_at, in one pass over each table."""
    stats: dict[tuple[str, JobState], JobStats] = {}
    for table in ("jobs", "scheduled_jobs"):
        for task, state, n, oldest in conn.execute(
            f"SELECT task, state, count(*), min(run_at) FROM {table} GROUP BY task, state"
        ):
            key = (task, JobState(state))
            if key in stats:
                before = stats[key]
                n += before.count
                oldest = min(oldest, before.oldest_run_at)
            stats[key] = JobStats(count=n, oldest_run_at=oldest)
    return stats


def count_by_state(conn: sqlite3.Connection) -> dict[tuple[str, JobState], int]:
    counts: dict[tuple[str, JobState], int] = {}
    for table in ("jobs", "scheduled_jobs"):
        for task, state, n in conn.execute(
            f"SELECT task, state, count(*) FROM {table} GROUP BY task, state"
        ):
            key = (task, JobState(state))
            counts[key] = counts.get(key, 0) + n
    return counts


def queue_set_paused(conn: sqlite3.Connection, task: str, paused: bool, now: float) -> None:
    conn.execute(
        "INSERT INTO job_queues (task, paused, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (task) DO UPDATE SET paused = excluded.paused,"
        " updated_at = excluded.updated_at",
        (task, 1 if paused else 0, now),
    )


def queue_paused(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT task FROM job_queues WHERE paused = 1")}


# -- finished jobs per minute (operators' bulk actions are in :mod:`.bulk`) -----------------

#: One count per (minute, finished state), each a range of the covering index jobs_finished.
#: Sixty ranges cost a tenth of one GROUP BY over the hour, which sorts every row in a temporary
#: B-tree (450 ms against 37 ms for 200,000 jobs finished in the hour).
_FINISHED_PER_MINUTE = (
    "WITH RECURSIVE minute(start) AS ("
    " SELECT ? UNION ALL SELECT start + 60 FROM minute WHERE start + 60 < ?),"
    " kind(state) AS (VALUES " + ", ".join(f"('{s.value}')" for s in JobState if s in FINISHED)
    + ") SELECT minute.start, kind.state, (SELECT count(*) FROM jobs"
    f"  WHERE state IN {FINISHED_SQL} AND state = kind.state"
    "  AND finished_at >= minute.start AND finished_at < minute.start + 60)"
    " FROM minute, kind"
)


def finished_per_minute(
    conn: sqlite3.Connection, since: float, until: float
) -> dict[tuple[float, JobState], int]:
    return {
        (float(start), JobState(state)): n
        for start, state, n in conn.execute(_FINISHED_PER_MINUTE, (since, until))
        if n
    }


# -- worker processes -------------------------------------------------------------------------

def worker_beat(conn: sqlite3.Connection, beat: WorkerBeat) -> None:
    conn.execute(
        f"INSERT INTO job_workers ({WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        " ON CONFLICT (owner) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " tasks = excluded.tasks, in_flight = excluded.in_flight, seen_at = excluded.seen_at,"
        " beat_interval = excluded.beat_interval, stopped_at = NULL",
        worker_values(beat),
    )


def worker_stopped(conn: sqlite3.Connection, owner: str, now: float) -> None:
    conn.execute("UPDATE job_workers SET stopped_at = ?, seen_at = ?, in_flight = 0"
                 " WHERE owner = ?", (now, now, owner))


def worker_list(conn: sqlite3.Connection) -> list[WorkerRow]:
    return [to_worker(r) for r in conn.execute(
        f"SELECT {WORKER_COLUMNS} FROM job_workers ORDER BY seen_at DESC, owner")]


def worker_delete_seen_before(conn: sqlite3.Connection, before: float) -> int:
    return conn.execute("DELETE FROM job_workers WHERE seen_at < ?", (before,)).rowcount
