"""Pushing on SQLite: which table a job waits in, and the inserts that put it there.

Each runs on the runner's thread inside the push's write transaction (see
:func:`.connection.in_transaction`).
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from typing import TYPE_CHECKING, Any

from .._errors import ConstraintViolation
from .._rows import COLUMNS
from .._states import JobState
from .._store import InsertResult, JobInsert, PushResult, Wake, wake_of_jobs
from .._unique import INSERT_COLUMNS, INSERT_WIDTH, insert_unique, insert_values
from .._unique import statements as unique_statements
from .queries import get, to_row, unschedule
from .schema import ALL_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

# -- where a job waits: ``jobs``, or ``scheduled_jobs`` when pushed for the future -----------
#
# A job pushed with a future run_at (state 'scheduled') is inserted into ``scheduled_jobs``,
# with an id from jobs' own AUTOINCREMENT sequence (:data:`SCHEDULED_ID`, and the trigger
# ``scheduled_jobs_id`` moves the sequence past it): one id space, and the id never changes.
# ``queries.promote_due`` moves due rows into ``jobs`` (same id, now 'available'); any other
# change to a row there (cancel, retry, replace, expiry, delete) first moves it into ``jobs``
# as it is (``queries.unschedule``), and then runs the statement every job takes. So
# ``scheduled_jobs`` only ever holds untouched 'scheduled' rows, and a 'scheduled' row in
# ``jobs`` is just as valid (a snooze, a replacing push, a workflow member, a tick, a row moved
# out to be changed): both are promoted. Reads of any job go through the view ``all_jobs``.

#: The id of a row inserted into ``scheduled_jobs``: the next one of jobs' sequence.
SCHEDULED_ID = "(SELECT seq + 1 FROM sqlite_sequence WHERE name = 'jobs')"
_MARKS = ", ".join(["?"] * INSERT_WIDTH)
_INSERT = f"INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ({_MARKS})"
_INSERT_SCHEDULED = (
    f"INSERT INTO scheduled_jobs (id, {INSERT_COLUMNS}) VALUES ({SCHEDULED_ID}, {_MARKS})"
)
#: ``task`` and ``unique_key`` among :data:`INSERT_COLUMNS` (1-based parameter numbers).
_TASK, _KEY = 1, 1 + INSERT_COLUMNS.replace(" ", "").split(",").index("unique_key")
_NUMBERED = ", ".join(f"?{n}" for n in range(1, INSERT_WIDTH + 1))


def _held_in(table: str) -> str:
    return (f" WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE task = ?{_TASK}"
            f" AND unique_key = ?{_KEY} AND unique_held)")


#: The nullable columns a run of jobs without a unique key may leave empty, as
#: ``INSERT_COLUMNS`` names them. A run whose rows all leave one empty inserts a literal NULL
#: there (and ``unique_held`` is a literal 0 for every such run): SQLite then knows at prepare
#: time which partial indexes the rows skip (1,000 rows insert ~30% faster).
_OPTIONAL = ("expires_at", "traceparent", "concurrency_key")
_ALWAYS = ("task", "args", "state.value", "priority", "max_attempts", "run_at", "created_at")
#: Most rows one ``INSERT`` of a run writes. One statement with many ``VALUES`` rows costs
#: ~4 µs a row against ~10 for ``executemany`` of one row at a time (1,000 rows a transaction,
#: the engine's schema): the rows are bound at once, then SQLite inserts them all in one step,
#: without the GIL. Capped so that a statement stays within the bound-parameter limit of an
#: SQLite older than 3.32 (999).
PLAIN_ROWS = 256 if sqlite3.sqlite_version_info >= (3, 32) else 64

#: Per combination of empty optional columns: how many values a row binds and how.
_BINDS: dict[tuple[bool, ...], tuple[int, Callable[[JobInsert], tuple[Any, ...]]]] = {}
#: Per combination and number of rows: the statement.
_STATEMENTS: dict[tuple[tuple[bool, ...], int], str] = {}


def _binds(empty: tuple[bool, ...]) -> tuple[int, Callable[[JobInsert], tuple[Any, ...]]]:
    found = _BINDS.get(empty)
    if found is None:
        bound = [*_ALWAYS, *(c for c, none in zip(_OPTIONAL, empty, strict=True) if not none)]
        found = _BINDS[empty] = (len(bound), operator.attrgetter(*bound))
    return found


def _statement(empty: tuple[bool, ...], rows: int) -> str:
    sql = _STATEMENTS.get((empty, rows))
    if sql is None:
        marks = {column: "?" for column in INSERT_COLUMNS.split(", ")}
        marks["unique_key"] = "NULL"
        marks["unique_held"] = "0"
        for column, none in zip(_OPTIONAL, empty, strict=True):
            if none:
                marks[column] = "NULL"
        row = f"({', '.join(marks.values())})"
        sql = _STATEMENTS[empty, rows] = (
            f"INSERT INTO jobs ({INSERT_COLUMNS}) VALUES {', '.join([row] * rows)}")
    return sql


def _pieces(count: int) -> Iterator[int]:
    """``count`` rows as statements of :data:`PLAIN_ROWS` and then of powers of two: a handful
    of distinct statements, which the connection's statement cache keeps prepared."""
    yield from [PLAIN_ROWS] * (count // PLAIN_ROWS)
    size = PLAIN_ROWS // 2
    rest = count % PLAIN_ROWS
    while rest:
        if rest >= size:
            yield size
            rest -= size
        size //= 2


def _unique_sql(into: str, id_column: str, id_value: str, other: str) -> dict[str, str]:
    """The settling statements of a keyed push into ``into``: its insert also finds a holder
    in ``other`` (each table's unique index sees only its own rows; the write lock keeps the
    pair consistent), and the holder may be in either table."""
    sql = unique_statements("?")
    sql["insert"] = (f"INSERT INTO {into} ({id_column}{INSERT_COLUMNS}) SELECT {id_value}"
                     f"{_NUMBERED}{_held_in(other)} ON CONFLICT DO NOTHING RETURNING id")
    sql["holder"] = ("SELECT id, state, created_at, attempted_at FROM all_jobs"
                     " WHERE task = ?1 AND unique_key = ?2 AND unique_held")
    return sql


_UNIQUE = _unique_sql("jobs", "", "", "scheduled_jobs")
_UNIQUE_SCHEDULED = _unique_sql("scheduled_jobs", "id, ", f"{SCHEDULED_ID}, ", "jobs")


def _waits_apart(job: JobInsert, hot: bool) -> bool:
    return not hot and job.state is JobState.SCHEDULED


def _insert_keyed(conn: sqlite3.Connection, job: JobInsert, hot: bool) -> InsertResult:
    apart = _waits_apart(job, hot)
    result = insert_unique(conn, _UNIQUE_SCHEDULED if apart else _UNIQUE, job,
                           before_replace=unschedule)
    if result.replaced and apart:  # a debounced job pushed for later waits apart again
        _reschedule(conn, result.id)
    return result


#: A job the replace just left 'scheduled' in ``jobs`` (a workflow's member stays there).
_RESCHEDULE = (
    f"INSERT INTO scheduled_jobs ({ALL_COLUMNS}) SELECT {ALL_COLUMNS} FROM jobs"
    " WHERE id = ? AND state = 'scheduled' AND workflow_id IS NULL"
)


def _reschedule(conn: sqlite3.Connection, job_id: int) -> None:
    if conn.execute(_RESCHEDULE, (job_id,)).rowcount:
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def _insert_plain(conn: sqlite3.Connection, jobs: Sequence[JobInsert], scheduled: bool
                  ) -> range:
    """Jobs without a unique key, all into one table; their ids. Into ``jobs``
    :data:`PLAIN_ROWS` to a statement; into ``scheduled_jobs`` (``scheduled``) in one
    ``executemany``, each row's id read from ``jobs``' sequence as it is inserted.

    Their ids are consecutive and end at ``last_insert_rowid()``: AUTOINCREMENT (or
    :data:`SCHEDULED_ID`) gives each row one more than the largest id ever used, and the write
    lock (``BEGIN IMMEDIATE``) keeps every other writer out until the commit.
    """
    if scheduled:
        cursor = conn.executemany(_INSERT_SCHEDULED, [insert_values(job) for job in jobs])
        inserted = cursor.rowcount
    else:
        empty = (
            all(job.expires_at is None for job in jobs),
            all(job.traceparent is None for job in jobs),
            all(job.concurrency_key is None for job in jobs),
        )
        width, values = _binds(empty)
        bound = list(itertools.chain.from_iterable(map(values, jobs)))
        start = inserted = 0
        for rows in _pieces(len(jobs)):
            cursor = conn.execute(_statement(empty, rows), bound[start:start + rows * width])
            start += rows * width
            inserted += cursor.rowcount
    if inserted != len(jobs):
        raise ConstraintViolation(f"inserted {inserted} of {len(jobs)} jobs")
    [(last,)] = conn.execute("SELECT last_insert_rowid()").fetchall()
    return range(int(last) - len(jobs) + 1, int(last) + 1)


def _inserted(conn: sqlite3.Connection, jobs: Sequence[JobInsert], hot: bool
              ) -> Iterator[range | InsertResult]:
    """Insert ``jobs`` in order: runs of jobs without a unique key for the same table together
    (the run's ids), keyed jobs one by one (each settled with its key's holder, see
    ``_unique``: its result). ``hot``: every job into ``jobs``, future ones too."""
    start = 0
    for end, job in enumerate(jobs):
        keyed = job.unique_key is not None
        if start < end and (keyed or _waits_apart(job, hot) != _waits_apart(jobs[start], hot)):
            yield _insert_plain(conn, jobs[start:end], _waits_apart(jobs[start], hot))
            start = end
        if keyed:
            yield _insert_keyed(conn, job, hot)
            start = end + 1
    if start < len(jobs):
        yield _insert_plain(conn, jobs[start:], _waits_apart(jobs[start], hot))


def insert_many(conn: sqlite3.Connection, jobs: Sequence[JobInsert], *,
                hot: bool = False) -> list[InsertResult]:
    """Insert in order (see :func:`_inserted`); a result per job. ``hot``: every job into
    ``jobs``, future ones too (a workflow's members, whose graph updates them there)."""
    results: list[InsertResult] = []
    for part in _inserted(conn, jobs, hot):
        if isinstance(part, range):
            results += [InsertResult(id=n, inserted=True) for n in part]
        else:
            results.append(part)
    return results


def insert_ids(conn: sqlite3.Connection, jobs: Sequence[JobInsert]
               ) -> tuple[list[int], Wake | None]:
    """:func:`insert_many`, answering only what ``push_many`` needs: each job's id (the
    holder's on a unique-key hit) and whom the jobs it inserted or replaced wake once
    committed. No result object per row."""
    ids: list[int] = []
    kept: set[int] = set()  # indexes of keyed jobs whose holder was kept as it was
    for part in _inserted(conn, jobs, False):
        if isinstance(part, range):
            ids += part
        else:
            if not (part.inserted or part.replaced):
                kept.add(len(ids))
            ids.append(part.id)
    woken = [job for n, job in enumerate(jobs) if n not in kept] if kept else jobs
    return ids, wake_of_jobs(woken)


def insert_returning(conn: sqlite3.Connection, job: JobInsert) -> PushResult:
    """Insert one job and read its row in the same statement; with a unique key, the row of
    the job that holds it after the push (inside the same write transaction)."""
    if job.unique_key is None:
        sql = _INSERT_SCHEDULED if _waits_apart(job, False) else _INSERT
        [row] = conn.execute(sql + f" RETURNING {COLUMNS}", insert_values(job)).fetchall()
        return PushResult(row=to_row(row), inserted=True)
    result = _insert_keyed(conn, job, False)
    return PushResult(row=get(conn, result.id), inserted=result.inserted,
                      replaced=result.replaced)


def insert_returning_many(conn: sqlite3.Connection, jobs: Sequence[JobInsert]
                          ) -> list[PushResult]:
    """:func:`insert_returning` for each job in turn, in one transaction (group commit)."""
    return [insert_returning(conn, job) for job in jobs]
