"""Column lists and row mapping shared by the SQL backends. Pure: no driver, no trio."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._attempt_error import AttemptError, RescueStep, from_stored, to_stored
from ._errors import PayloadError
from ._progress import JobProgress, ProgressUpdate
from ._states import FINISHED, RETRY_SOURCES, JobState
from ._store import (
    BulkBatch,
    ClaimedJob,
    JobFilter,
    JobRow,
    ScheduleRow,
    TickInsert,
    WorkerBeat,
    WorkerRow,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Every column of a job, in :class:`JobRow` order.
COLUMNS = (
    "id, task, args, state, priority, attempt, max_attempts, run_at, created_at, attempted_at,"
    " finished_at, lease_owner, lease_expires_at, rescues, unique_key, errors, result, traceparent,"
    " expires_at, workflow_id, workflow_name, progress_fraction, progress_message, progress_at,"
    " checkpoint"
)
#: How many columns :data:`COLUMNS` names (a statement may select more after them).
COLUMN_COUNT = len(COLUMNS.split(","))
#: What a claim returns, in :class:`ClaimedJob` order.
CLAIMED_COLUMNS = (
    "id, task, args, priority, attempt, max_attempts, run_at, traceparent, tick, workflow_id,"
    " deps_total, checkpoint"
)
#: How many columns :data:`CLAIMED_COLUMNS` names (a limited claim returns the key after them).
CLAIMED_COUNT = len(CLAIMED_COLUMNS.split(","))
#: What a schedule's tick inserts into ``jobs``: :func:`tick_insert_values` gives the values.
TICK_INSERT_COLUMNS = (
    "task, args, state, priority, max_attempts, run_at, created_at, expires_at, traceparent, tick,"
    " concurrency_key"
)
#: Every column of a schedule, in :class:`ScheduleRow` order.
SCHEDULE_COLUMNS = (
    "name, cron, timezone, task, catch_up, paused, last_tick, last_job_id, created_at, updated_at"
)


def error_json(error: AttemptError | None) -> str | None:
    """An error entry as the compact JSON the backends store; :class:`PayloadError` if it
    cannot be (a time that is not a finite number). The only encoder of entries written from
    Python: outcomes, operator cancels."""
    if error is None:
        return None
    try:
        return json.dumps(to_stored(error), separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise PayloadError(error.error or "?",
                           {"$.error": f"cannot be stored as JSON: {exc}"}) from exc


def errors_from_json(entries: object) -> list[AttemptError]:
    """A stored ``errors`` array (decoded JSON) as typed entries; tolerant of older formats."""
    if not isinstance(entries, list):
        return [] if entries is None else [from_stored(entries)]
    return [from_stored(entry) for entry in entries]


def rescue_step(out_of_rescues: str, out_of_attempts: str) -> str:
    """The SQL ``CASE`` giving a rescue's :class:`RescueStep` code, from the two SQL conditions
    that discard the job (read on the row as it was before the rescue)."""
    return (
        f"CASE WHEN {out_of_rescues} THEN '{RescueStep.OUT_OF_RESCUES}'"
        f" WHEN {out_of_attempts} THEN '{RescueStep.OUT_OF_ATTEMPTS}'"
        f" WHEN rescues > 0 THEN '{RescueStep.PAUSED}' ELSE '{RescueStep.REQUEUED}' END"
    )


def state_list(states: frozenset[JobState]) -> str:
    """``('a', 'b')``: an SQL list of state literals, for ``state IN ...``, in declaration order.

    The order matters on SQLite: it uses a partial index only when the query repeats the index's
    ``state IN (...)`` term as written, and the indexes list states in declaration order.
    """
    return "(" + ", ".join(f"'{s.value}'" for s in JobState if s in states) + ")"


def release_for_retry(mark: str) -> str:
    """Before an operator's retry of a job: a finished job holding the same key lets it go (an
    unfinished one keeps it, and the retry fails on the unique index). ``mark`` is the driver's
    placeholder; the parameters are the retried job's id, twice."""
    return (
        "UPDATE jobs SET unique_held = false WHERE unique_held"
        f" AND id <> {mark} AND state IN {state_list(FINISHED)}"
        " AND (task, unique_key) = (SELECT task, unique_key FROM jobs"
        f"  WHERE id = {mark} AND unique_key IS NOT NULL AND state IN {state_list(RETRY_SOURCES)})"
    )


def release_for_retry_many(member: str, non_member: str) -> str:
    """:func:`release_for_retry` for an operator's bulk retry of a batch of ids: ``member`` and
    ``non_member`` test ``id`` against the batch in the driver's dialect (each takes the batch as
    one parameter: the parameters are the batch, twice)."""
    return (
        "UPDATE jobs SET unique_held = false WHERE unique_held"
        f" AND id {non_member} AND state IN {state_list(FINISHED)}"
        " AND (task, unique_key) IN (SELECT task, unique_key FROM jobs"
        f"  WHERE id {member} AND unique_key IS NOT NULL AND state IN {state_list(RETRY_SOURCES)})"
    )


def to_row(r: Sequence[Any], errors: object) -> JobRow:
    """A :class:`JobRow` from a row of :data:`COLUMNS`; ``errors`` is the stored array as the
    backend's driver decoded it from JSON, typed here."""
    return JobRow(
        id=r[0], task=r[1], args=r[2], state=JobState(r[3]), priority=r[4], attempt=r[5],
        max_attempts=r[6], run_at=r[7], created_at=r[8], attempted_at=r[9], finished_at=r[10],
        lease_owner=r[11], lease_expires_at=r[12], rescues=r[13], unique_key=r[14],
        errors=errors_from_json(errors), result=r[16], traceparent=r[17], expires_at=r[18],
        workflow_id=r[19], workflow_name=r[20],
        progress=None if r[23] is None else JobProgress(fraction=r[21], message=r[22], at=r[23]),
        checkpoint=r[24],
    )


def to_claimed(r: Sequence[Any], key: str | None = None) -> ClaimedJob:
    """A :class:`ClaimedJob` from a row of :data:`CLAIMED_COLUMNS` (``key``: its concurrency
    key, which limited claims also return)."""
    return ClaimedJob(id=r[0], task=r[1], args=r[2], priority=r[3], attempt=r[4],
                      max_attempts=r[5], run_at=r[6], traceparent=r[7], tick=r[8],
                      workflow_id=r[9], dependencies=r[10], checkpoint=r[11],
                      concurrency_key=key)


def progress_values(update: ProgressUpdate | None) -> tuple[Any, Any, Any, Any]:
    """(fraction, message, at, checkpoint) of a progress write, each None when not written:
    the SQL keeps the stored value where ``at`` (the progress) or the checkpoint is NULL."""
    if update is None:
        return (None, None, None, None)
    p = update.progress
    return (p.fraction, p.message, p.at, update.checkpoint)


def progress_sets(fraction: str, message: str, at: str, checkpoint: str, *,
                  table: str = "") -> str:
    """The SET terms writing a progress update given as SQL expressions (as from
    :func:`progress_values`): the message goes with its progress, even when NULL."""
    return (f"progress_fraction = coalesce({fraction}, {table}progress_fraction),"
            f" progress_message = CASE WHEN {at} IS NULL THEN {table}progress_message"
            f" ELSE {message} END,"
            f" progress_at = coalesce({at}, {table}progress_at),"
            f" checkpoint = coalesce({checkpoint}, {table}checkpoint)")


#: An operator's retry keeps the checkpoint of a job that failed or was cancelled (its next
#: attempt resumes), but not that of a completed job: retrying that one means running it again.
FRESH_CHECKPOINT = "checkpoint = CASE WHEN state = 'completed' THEN NULL ELSE checkpoint END"


def tick_insert_values(item: TickInsert) -> tuple[Any, ...]:
    """The values of :data:`TICK_INSERT_COLUMNS` for one tick's job."""
    job = item.job
    return (job.task, job.args, job.state.value, job.priority, job.max_attempts, job.run_at,
            job.created_at, job.expires_at, job.traceparent, item.tick, job.concurrency_key)


def tick_insert(mark: str) -> str:
    """The insert of one tick's job, returning its id, with ``mark`` as the placeholder."""
    marks = ", ".join([mark] * len(TICK_INSERT_COLUMNS.split(",")))
    return f"INSERT INTO jobs ({TICK_INSERT_COLUMNS}) VALUES ({marks}) RETURNING id"


def to_schedule(r: Sequence[Any]) -> ScheduleRow:
    """A :class:`ScheduleRow` from a row of :data:`SCHEDULE_COLUMNS`."""
    return ScheduleRow(name=r[0], cron=r[1], timezone=r[2], task=r[3], catch_up=r[4],
                       paused=bool(r[5]), last_tick=r[6], last_job_id=r[7], created_at=r[8],
                       updated_at=r[9])


def claim_order(job: ClaimedJob) -> tuple[int, float, int]:
    """Claims hand jobs out by priority, then run_at, then id (RETURNING keeps no order)."""
    return (job.priority, job.run_at, job.id)


def _conditions(
    where: JobFilter, mark: str, allowed: frozenset[JobState] | None = None
) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (or nothing) for the jobs ``where`` selects among ``allowed`` states."""
    clauses: list[str] = []
    params: list[Any] = []
    states = where.state_set()
    if allowed is not None:
        states = allowed if states is None else states & allowed
    if states is not None and len(states) == 1 and allowed is None:
        [only] = states
        clauses.append(f"state = {mark}")
        params.append(only.value)
    elif states is not None:
        # Literals (from the enum), never user text; an empty set matches nothing.
        clauses.append(f"state IN {state_list(states)}" if states else "0 = 1")
    if where.task is not None:
        clauses.append(f"task = {mark}")
        params.append(where.task)
    if where.before_id is not None:
        clauses.append(f"id < {mark}")
        params.append(where.before_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def list_query(where: JobFilter, mark: str, table: str = "jobs") -> tuple[str, list[Any]]:
    """The SELECT for a listing, newest first, with ``mark`` as the driver's placeholder;
    ``table`` names where every job is (SQLite: the view of both its job tables)."""
    conditions, params = _conditions(where, mark)
    return (f"SELECT {COLUMNS} FROM {table}{conditions} ORDER BY id DESC LIMIT {mark}",
            [*params, where.limit])


def count_query(where: JobFilter, mark: str, allowed: frozenset[JobState] | None = None,
                table: str = "jobs") -> tuple[str, list[Any]]:
    """The SELECT count(*) of the jobs ``where`` selects among ``allowed`` states."""
    conditions, params = _conditions(where, mark, allowed)
    return f"SELECT count(*) FROM {table}{conditions}", params


def batch_query(
    where: JobFilter, mark: str, allowed: frozenset[JobState], lock: str = "",
    table: str = "jobs",
) -> tuple[str, list[Any]]:
    """One batch of a bulk action: ``id`` and whether the job used all its attempts, of up to
    ``where.limit`` jobs ``where`` selects among ``allowed`` states, newest first."""
    conditions, params = _conditions(where, mark, allowed)
    return (f"SELECT id, attempt >= max_attempts FROM {table}{conditions}"
            f" ORDER BY id DESC LIMIT {mark}{lock}", [*params, where.limit])


def batch_of(picked: Sequence[Sequence[Any]], changed: Sequence[Sequence[Any]], *,
             retried: bool = False) -> BulkBatch:
    """A :class:`BulkBatch` from the picked ``(id, spent)`` rows and the changed ``(id, task)``
    rows; ``retried``: the action was a retry, which raises the spent jobs' ``max_attempts``."""
    changed_ids = {r[0] for r in changed}
    return BulkBatch(
        selected=len(picked), changed=len(changed_ids),
        lowest_id=min((r[0] for r in picked), default=None),
        raised=sum(1 for r in picked if retried and r[1] and r[0] in changed_ids),
        tasks=frozenset(r[1] for r in changed),
        ids=tuple(sorted(changed_ids)),
    )


def to_worker(r: Sequence[Any]) -> WorkerRow:
    """A :class:`WorkerRow` from a row of :data:`WORKER_COLUMNS`."""
    return WorkerRow(owner=r[0], host=r[1], pid=r[2], tasks=tuple(json.loads(r[3])),
                     in_flight=r[4], started_at=r[5], seen_at=r[6], interval=r[7],
                     stopped_at=r[8])


#: Every column of a worker, in :class:`WorkerRow` order.
WORKER_COLUMNS = ("owner, host, pid, tasks, in_flight, started_at, seen_at, beat_interval,"
                  " stopped_at")


def worker_values(beat: WorkerBeat) -> tuple[Any, ...]:
    """The values of a heartbeat's upsert, in :data:`WORKER_COLUMNS` order but ``stopped_at``."""
    return (beat.owner, beat.host, beat.pid, json.dumps(list(beat.tasks)), beat.in_flight,
            beat.started_at, beat.seen_at, beat.interval)
