"""Column lists and row mapping shared by the SQL backends. Pure: no driver, no trio."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._attempt_error import AttemptError, RescueStep, from_stored, to_stored
from ._errors import PayloadError
from ._states import JobState
from ._store import ClaimedJob, JobFilter, JobRow

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Every column of a job, in :class:`JobRow` order.
COLUMNS = (
    "id, task, args, state, priority, attempt, max_attempts, run_at, created_at, attempted_at,"
    " finished_at, lease_owner, lease_expires_at, rescues, unique_key, errors, result"
)
#: What a claim returns, in :class:`ClaimedJob` order.
CLAIMED_COLUMNS = "id, task, args, priority, attempt, max_attempts, run_at"


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


def to_row(r: Sequence[Any], errors: object) -> JobRow:
    """A :class:`JobRow` from a row of :data:`COLUMNS`; ``errors`` is the stored array as the
    backend's driver decoded it from JSON, typed here."""
    return JobRow(
        id=r[0], task=r[1], args=r[2], state=JobState(r[3]), priority=r[4], attempt=r[5],
        max_attempts=r[6], run_at=r[7], created_at=r[8], attempted_at=r[9], finished_at=r[10],
        lease_owner=r[11], lease_expires_at=r[12], rescues=r[13], unique_key=r[14],
        errors=errors_from_json(errors), result=r[16],
    )


def to_claimed(r: Sequence[Any], key: str | None = None) -> ClaimedJob:
    """A :class:`ClaimedJob` from a row of :data:`CLAIMED_COLUMNS` (``key``: its concurrency
    key, which limited claims also return)."""
    return ClaimedJob(id=r[0], task=r[1], args=r[2], priority=r[3], attempt=r[4],
                      max_attempts=r[5], run_at=r[6], concurrency_key=key)


def claim_order(job: ClaimedJob) -> tuple[int, float, int]:
    """Claims hand jobs out by priority, then run_at, then id (RETURNING keeps no order)."""
    return (job.priority, job.run_at, job.id)


def list_query(where: JobFilter, mark: str) -> tuple[str, list[Any]]:
    """The SELECT for a listing, newest first, with ``mark`` as the driver's placeholder."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("state", where.state and where.state.value), ("task", where.task)):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if where.before_id is not None:
        clauses.append(f"id < {mark}")
        params.append(where.before_id)
    sql = f"SELECT {COLUMNS} FROM jobs"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return sql + f" ORDER BY id DESC LIMIT {mark}", [*params, where.limit]
