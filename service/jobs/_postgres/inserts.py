"""Pushing on PostgreSQL: inserting jobs, settling unique keys, and their NOTIFY.

The partial unique index on (task, unique_key) over the jobs holding their key decides races
between processes and hosts: ``INSERT ... ON CONFLICT DO NOTHING`` skips a row whose key is held
(waiting for the holder's transaction if it is still open), and the push then settles with the
holder (``_unique``): keeps it, replaces it, or releases its key and inserts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from .._rows import COLUMN_COUNT, COLUMNS
from .._states import JobState
from .._store import InsertResult, JobInsert, PushResult, Wake, wake_of, wake_of_jobs
from .._unique import INSERT_COLUMNS, INSERT_WIDTH, insert_unique, insert_values
from .._unique import statements as unique_statements
from .copy import COPY_FROM, CopyStream, copy_rows
from .notify import DUE, encode_payload, notify_tasks
from .queries import UNFINISHED_SQL, get, to_row

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .connection import Conn

_INSERT_VALUES = (
    f"INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ({', '.join(['%s'] * INSERT_WIDTH)})"
    " ON CONFLICT DO NOTHING"
)
_INSERT = _INSERT_VALUES + " RETURNING id"
#: The insert that reads the new row back in the same statement (``push_result``).
_INSERT_ROW = _INSERT_VALUES + f" RETURNING {COLUMNS}"
_UNIQUE = unique_statements("%s")
_values = insert_values


def insert_many(
    conn: Conn, jobs: Sequence[JobInsert], channel: str, origin: str
) -> list[InsertResult]:
    """Insert ``jobs`` (call inside a transaction) and NOTIFY ``channel`` of the new ones.

    A held unique key makes ``ON CONFLICT DO NOTHING`` skip the row; the push then settles with
    the holder (``_unique.insert_unique``), which may insert it after all. The notification
    is delivered when the transaction commits.
    """
    ids = insert_rows(conn, jobs)
    results = [
        InsertResult(id=job_id, inserted=True) if job_id is not None
        else insert_unique(conn, _UNIQUE, job)
        for job, job_id in zip(jobs, ids, strict=True)
    ]
    notify(conn, channel, origin,
           [j for j, r in zip(jobs, results, strict=True) if r.inserted or r.replaced])
    return results


def insert_rows(conn: Conn, jobs: Sequence[JobInsert]) -> list[int | None]:
    """Each job's new id, or None where a unique key was taken (call inside a transaction;
    a batch of :data:`.copy.COPY_FROM` rows or more must not be in a pipeline)."""
    if len(jobs) >= COPY_FROM:
        return copy_rows(conn, jobs)
    if len(jobs) == 1:  # executemany's pipeline costs more than it saves for one row
        row = conn.execute(_INSERT, _values(jobs[0])).fetchone()
        return [None if row is None else row[0]]
    cursor = conn.cursor()
    cursor.executemany(_INSERT, [_values(job) for job in jobs], returning=True)
    ids: list[int | None] = []
    while True:
        row = cursor.fetchone()
        ids.append(None if row is None else row[0])
        if not cursor.nextset():
            break
    return ids


def insert_many_committed(
    conn: Conn, jobs: Sequence[JobInsert], channel: str, origin: str
) -> list[InsertResult]:
    """:func:`insert_many` in a transaction of its own (the connection is in autocommit).

    One job takes one statement -- the insert and its NOTIFY together, one round trip -- plus a
    lookup if its unique key is taken; several take a pipelined transaction, two round trips;
    a big batch is copied (:mod:`.copy`), which a pipeline cannot hold.
    """
    if len(jobs) == 1:
        [job] = jobs
        row = conn.execute(
            f"WITH ins AS ({_INSERT}) SELECT id, pg_notify(%s, %s) FROM ins",
            (*_values(job), channel, encode_payload(origin, job.task, _when(job))),
        ).fetchone()
        if row is not None:
            return [InsertResult(id=row[0], inserted=True)]
        with conn.transaction():
            return insert_many(conn, jobs, channel, origin)
    if len(jobs) >= COPY_FROM:
        with conn.transaction():
            return insert_many(conn, jobs, channel, origin)
    with conn.pipeline(), conn.transaction():
        return insert_many(conn, jobs, channel, origin)


def insert_returning(conn: Conn, job: JobInsert, channel: str, origin: str) -> PushResult:
    """Insert one job (call inside a transaction) and read its row back with RETURNING; on a
    unique-key hit the holder's row. NOTIFY ``channel`` if it was inserted."""
    row = conn.execute(_INSERT_ROW, _values(job)).fetchone()
    if row is not None:
        result = PushResult(row=to_row(row), inserted=True)
    else:
        settled = insert_unique(conn, _UNIQUE, job)
        result = PushResult(row=get(conn, settled.id), inserted=settled.inserted,
                            replaced=settled.replaced)
    if result.inserted or result.replaced:
        notify(conn, channel, origin, [job])
    return result


#: ``push_result`` of a keyed job in one statement: the new row (and its NOTIFY), or else the
#: row of an unfinished holder as the statement's snapshot saw it -- what a plain keyed push
#: (``on_conflict="keep"``, no ``unique_for``) keeps.
_INSERT_ROW_OR_HOLDER = (
    f"WITH ins AS ({_INSERT_ROW})"
    f" SELECT {COLUMNS}, true, pg_notify(%s, %s) FROM ins"
    f" UNION ALL SELECT {COLUMNS}, false, NULL::void FROM jobs"
    f" WHERE task = %s AND unique_key = %s AND unique_held AND state IN {UNFINISHED_SQL}"
    " AND NOT EXISTS (SELECT 1 FROM ins)"
)


def insert_returning_committed(
    conn: Conn, job: JobInsert, channel: str, origin: str
) -> PushResult:
    """:func:`insert_returning` committed on its own, in one statement (one round trip): the
    insert, its row and its NOTIFY -- or, on a unique-key hit, the holder's row.

    A holder that committed while the insert waited on it is not in the statement's snapshot,
    nor is a finished holder kept: then a transaction settles, as :func:`insert_returning` does;
    so does every push with ``unique_for`` or ``on_conflict="replace"``.
    """
    payload = encode_payload(origin, job.task, _when(job))
    if job.unique_for is not None or job.replace:
        row = None
        inserted = False
    elif job.unique_key is None:
        row = conn.execute(
            f"WITH ins AS ({_INSERT_ROW}) SELECT {COLUMNS}, pg_notify(%s, %s) FROM ins",
            (*_values(job), channel, payload),
        ).fetchone()
        inserted = True
    else:
        row = conn.execute(
            _INSERT_ROW_OR_HOLDER,
            (*_values(job), channel, payload, job.task, job.unique_key),
        ).fetchone()
        inserted = row is not None and bool(row[COLUMN_COUNT])
    if row is not None:
        return PushResult(row=to_row(row), inserted=inserted)
    with conn.transaction():
        return insert_returning(conn, job, channel, origin)


class Announcement:
    """Whom a streamed batch wakes, gathered a chunk at a time as its rows are copied: its end
    then makes no pass over every row. (It made two, ~15 ms of Python for 100,000 rows in the
    worker thread, which the event loop waited out for the GIL: a 5-7 ms stall.)"""

    def __init__(self) -> None:
        #: What the NOTIFY says: per task, :data:`DUE` or its earliest ``run_at``.
        self.earliest: dict[str, float] = {}
        #: Whom the batch wakes in this process.
        self.wake: Wake | None = None

    def add(self, jobs: Sequence[JobInsert]) -> None:
        _earliest(jobs, self.earliest)
        wake = wake_of_jobs(jobs)
        if wake is not None:
            self.wake = wake.merged(self.wake)


def stream_write(conn: Conn, stream: CopyStream, announced: Announcement,
                 jobs: Sequence[JobInsert]) -> None:
    stream.write(jobs)
    announced.add(jobs)


def stream_finish(
    conn: Conn, stream: CopyStream, announced: Announcement, channel: str, origin: str
) -> tuple[list[int], Wake | None]:
    """End a streamed batch (still uncommitted): settle its keyed rows as :func:`insert_many`
    does, NOTIFY ``channel``; each row's id and whom it wakes in this process once
    committed."""
    found = stream.finish()
    if None not in found:  # every row copied or inserted: the chunks' announcement holds
        notify_tasks(conn, channel, origin, announced.earliest)
        return cast("list[int]", found), announced.wake
    jobs = stream.jobs
    ids: list[int] = []
    kept: set[int] = set()  # indexes of keyed jobs whose holder was kept as it was
    for n, job_id in enumerate(found):
        if job_id is None:
            result = insert_unique(conn, _UNIQUE, jobs[n])
            job_id = result.id
            if not (result.inserted or result.replaced):
                kept.add(n)
        ids.append(job_id)
    woken = [job for n, job in enumerate(jobs) if n not in kept] if kept else jobs
    notify(conn, channel, origin, woken)
    return ids, wake_of_jobs(woken)


def insert_many_and_wake(
    conn: Conn, jobs: Sequence[JobInsert], channel: str, origin: str
) -> tuple[list[InsertResult], Wake | None]:
    """:func:`insert_many`, and whom it wakes in this process once committed (computed here,
    in the worker thread: a pass over every row)."""
    results = insert_many(conn, jobs, channel, origin)
    return results, wake_of(jobs, results)


def insert_many_committed_and_wake(
    conn: Conn, jobs: Sequence[JobInsert], channel: str, origin: str
) -> tuple[list[InsertResult], Wake | None]:
    """:func:`insert_many_committed`, and whom it wakes in this process."""
    results = insert_many_committed(conn, jobs, channel, origin)
    return results, wake_of(jobs, results)


def _when(job: JobInsert) -> float:
    return DUE if job.state == JobState.AVAILABLE else job.run_at


def _earliest(jobs: Iterable[JobInsert], earliest: dict[str, float]) -> dict[str, float]:
    """Into ``earliest``, per task among ``jobs``: :data:`DUE`, or its earliest ``run_at``."""
    available = JobState.AVAILABLE
    for job in jobs:  # a pass over every row of a big batch: kept lean
        when = DUE if job.state is available else job.run_at
        if when < earliest.get(job.task, math.inf):
            earliest[job.task] = when
    return earliest


def notify(conn: Conn, channel: str, origin: str, jobs: Sequence[JobInsert]) -> None:
    """NOTIFY ``channel`` once per task among ``jobs``: due now, or its earliest ``run_at``."""
    notify_tasks(conn, channel, origin, _earliest(jobs, {}))
