"""Operators' bulk actions on PostgreSQL: one batch each, picked (locked) then changed in one
transaction; and the count of the jobs a filter selects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from .._attempt_error import operator_cancelled
from .._rows import (
    FRESH_CHECKPOINT,
    batch_of,
    batch_query,
    count_query,
    error_json,
    release_for_retry_many,
    state_list,
)
from .._states import CANCEL_SOURCES, DELETE_SOURCES, RETRY_SOURCES, JobState
from .notify import DUE, notify_tasks

if TYPE_CHECKING:
    from .._store import BulkBatch, JobFilter
    from .connection import Conn


def count(conn: Conn, where: JobFilter) -> int:
    """How many jobs ``where`` selects."""
    sql, params = count_query(where, "%s")
    row = conn.execute(sql, params).fetchone()
    return 0 if row is None else int(row[0])


def _pick(conn: Conn, where: JobFilter, allowed: frozenset[JobState]) -> list[tuple[Any, ...]]:
    # SKIP LOCKED: a job a worker is changing at this instant is left out of the batch.
    sql, params = batch_query(where, "%s", allowed, " FOR UPDATE SKIP LOCKED")
    return [tuple(r) for r in conn.execute(sql, params)]


_RELEASE_FOR_RETRY_MANY = release_for_retry_many("= ANY(%s::bigint[])",
                                                 "<> ALL(%s::bigint[])")
_RETRY_MANY = (
    "UPDATE jobs SET state = 'available', run_at = %s, finished_at = NULL, result = NULL,"
    " rescues = 0, max_attempts = greatest(max_attempts, attempt + 1),"
    " expires_at = NULL, unique_held = (unique_key IS NOT NULL), " + FRESH_CHECKPOINT
    + f" WHERE id = ANY(%s::bigint[]) AND state IN {state_list(RETRY_SOURCES)} RETURNING id, task"
)


def _retry_each(conn: Conn, ids: list[int], now: float) -> list[tuple[Any, ...]]:
    """One by one, each in a savepoint: a job whose unique key another unfinished job holds
    stays as it is."""
    changed: list[tuple[Any, ...]] = []
    for job_id in ids:
        try:
            with conn.transaction():
                changed += conn.execute(_RETRY_MANY, (now, [job_id])).fetchall()
        except psycopg.errors.UniqueViolation:
            continue
    return changed


def retry_many(conn: Conn, where: JobFilter, now: float, channel: str, origin: str) -> BulkBatch:
    """Operator retry of one batch, and a NOTIFY for the tasks it made available."""
    with conn.transaction():
        picked = _pick(conn, where, RETRY_SOURCES)
        ids = [r[0] for r in picked]
        conn.execute(_RELEASE_FOR_RETRY_MANY, (ids, ids))
        try:
            with conn.transaction():
                changed = conn.execute(_RETRY_MANY, (now, ids)).fetchall()
        except psycopg.errors.UniqueViolation:
            changed = _retry_each(conn, ids, now)
        batch = batch_of(picked, changed, retried=True)
        notify_tasks(conn, channel, origin, dict.fromkeys(batch.tasks, DUE))
    return batch


def cancel_many(conn: Conn, where: JobFilter, now: float, reason: str) -> BulkBatch:
    """Operator cancel of one batch, recording ``reason`` on each job."""
    error = error_json(operator_cancelled(now, reason))
    with conn.transaction():
        picked = _pick(conn, where, CANCEL_SOURCES)
        changed = conn.execute(
            "UPDATE jobs SET state = 'cancelled', finished_at = %s, lease_owner = NULL,"
            " lease_expires_at = NULL, errors = errors || jsonb_build_array(%s::jsonb)"
            f" WHERE id = ANY(%s::bigint[]) AND state IN {state_list(CANCEL_SOURCES)}"
            " RETURNING id, task",
            (now, error, [r[0] for r in picked]),
        ).fetchall()
    return batch_of(picked, changed)


def delete_many(conn: Conn, where: JobFilter) -> BulkBatch:
    """Delete one batch of jobs, running ones excepted."""
    with conn.transaction():
        picked = _pick(conn, where, DELETE_SOURCES)
        changed = conn.execute(
            "DELETE FROM jobs WHERE id = ANY(%s::bigint[])"
            f" AND state IN {state_list(DELETE_SOURCES)} RETURNING id, task",
            ([r[0] for r in picked],),
        ).fetchall()
    return batch_of(picked, changed)
