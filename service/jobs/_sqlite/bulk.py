"""Operators' bulk actions on SQLite: one batch each, picked then changed in the caller's
transaction; and the count of the jobs a filter selects."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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
from .queries import unschedule, where_jobs_are

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from .._store import BulkBatch, JobFilter

_RELEASE_FOR_RETRY_MANY = release_for_retry_many(
    "IN (SELECT value FROM json_each(?))", "NOT IN (SELECT value FROM json_each(?))"
)


def count(conn: sqlite3.Connection, where: JobFilter) -> int:
    sql, params = count_query(where, "?", table=where_jobs_are(where))
    return int(conn.execute(sql, params).fetchone()[0])


def _pick(conn: sqlite3.Connection, where: JobFilter,
          allowed: frozenset[JobState]) -> list[tuple[Any, ...]]:
    table = where_jobs_are(where, allowed)
    sql, params = batch_query(where, "?", allowed, table=table)
    picked = [tuple(r) for r in conn.execute(sql, params)]
    if table != "jobs":
        unschedule(conn, [r[0] for r in picked])
    return picked


def _ids(picked: Sequence[Sequence[Any]]) -> str:
    return json.dumps([r[0] for r in picked])


def retry_many(conn: sqlite3.Connection, where: JobFilter, now: float) -> BulkBatch:
    picked = _pick(conn, where, RETRY_SOURCES)
    ids = _ids(picked)
    conn.execute(_RELEASE_FOR_RETRY_MANY, (ids, ids))
    # OR IGNORE: a job whose unique key another unfinished job now holds stays as it is.
    changed = conn.execute(
        "UPDATE OR IGNORE jobs SET state = 'available', run_at = ?, finished_at = NULL,"
        " result = NULL, rescues = 0, max_attempts = max(max_attempts, attempt + 1),"
        " expires_at = NULL, unique_held = (unique_key IS NOT NULL), " + FRESH_CHECKPOINT +
        f" WHERE id IN (SELECT value FROM json_each(?)) AND state IN {state_list(RETRY_SOURCES)}"
        " RETURNING id, task",
        (now, ids),
    ).fetchall()
    return batch_of(picked, changed, retried=True)


def cancel_many(
    conn: sqlite3.Connection, where: JobFilter, now: float, reason: str
) -> BulkBatch:
    picked = _pick(conn, where, CANCEL_SOURCES)
    error = error_json(operator_cancelled(now, reason))
    changed = conn.execute(
        "UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_owner = NULL,"
        " lease_expires_at = NULL, errors = json_insert(errors, '$[#]', json(?))"
        f" WHERE id IN (SELECT value FROM json_each(?)) AND state IN {state_list(CANCEL_SOURCES)}"
        " RETURNING id, task",
        (now, error, _ids(picked)),
    ).fetchall()
    return batch_of(picked, changed)


def delete_many(conn: sqlite3.Connection, where: JobFilter) -> BulkBatch:
    picked = _pick(conn, where, DELETE_SOURCES)
    changed = conn.execute(
        "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
        f" AND state IN {state_list(DELETE_SOURCES)} RETURNING id, task",
        (_ids(picked),),
    ).fetchall()
    return batch_of(picked, changed)
