"""Big batches of jobs inserted with ``COPY``: ids reserved first, rows streamed in binary.

An ``INSERT`` per row costs the server a statement each (bind, plan, execute), even pipelined;
``COPY ... FROM STDIN`` streams every row through one statement. ``COPY`` has no ``RETURNING``,
so the batch first reserves its ids from the table's identity sequence (one statement, in push
order) and writes them with the rows -- ``COPY`` writes given identity values as ``INSERT ...
OVERRIDING SYSTEM VALUE`` does. The ids are then known before the rows are written, which keeps
them in push order (a workflow's dependents after their dependencies) and lets the caller
return them in the order given.

``COPY`` cannot skip a conflicting row, so only rows without a unique key are copied; keyed rows
take ``INSERT ... ON CONFLICT DO NOTHING`` with their reserved ids, pipelined, and the caller
settles those it skipped with their key's holder, as for any push. Everything runs in the
caller's transaction (``COPY`` is not allowed in pipeline mode: the caller must not be in one).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .._unique import INSERT_COLUMNS, INSERT_WIDTH, insert_values

if TYPE_CHECKING:
    from collections.abc import Sequence

    from psycopg import Copy

    from .._store import JobInsert
    from .connection import Conn

#: From this many rows on, a batch is copied rather than inserted row by row. Below it the
#: reservation and the COPY's extra round trips cost more than the per-row statements they
#: save. ``python -m bench.pg_paths --crossover`` (commits dominate, so it is noisy): COPY won
#: at 32 rows and more in every run, and at 8-16 rows in some.
COPY_FROM = 32

#: The identity sequence of ``jobs.id``, as ``CREATE TABLE`` named it (jobs:1): a constant, so
#: the name is resolved once per statement, not once per row as ``pg_get_serial_sequence``
#: would be (three times the cost).
SEQUENCE = "jobs_id_seq"
_RESERVE = f"SELECT nextval('{SEQUENCE}') FROM generate_series(1, %s)"
#: Reserved ids are read this many at a time: psycopg turns fetched rows into Python objects
#: in one C call that keeps the GIL (100,000 ids: ~20 ms, during which the event loop's thread
#: cannot run); 2,048 take ~0.5 ms.
RESERVE_FETCH = 2048
_COPY = f"COPY jobs (id, {INSERT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
#: PostgreSQL's types of ``id`` and :data:`INSERT_COLUMNS`, in order, for the binary format.
_TYPES = ("int8", "text", "text", "text", "int4", "int4", "float8", "float8", "text", "float8",
          "bool", "text", "text")
_INSERT_KEYED = (
    f"INSERT INTO jobs (id, {INSERT_COLUMNS}) OVERRIDING SYSTEM VALUE"
    f" VALUES ({', '.join(['%s'] * (INSERT_WIDTH + 1))}) ON CONFLICT DO NOTHING RETURNING id"
)


def _reserve(conn: Conn, count: int) -> list[int]:
    """``count`` new ids from the jobs' sequence, ascending (a slice of rows at a time)."""
    cursor = conn.execute(_RESERVE, (count,))
    ids: list[int] = []
    while rows := cursor.fetchmany(RESERVE_FETCH):
        ids += [r[0] for r in rows]
    ids.sort()
    return ids


def copy_rows(conn: Conn, jobs: Sequence[JobInsert]) -> list[int | None]:
    """Insert ``jobs`` (inside a transaction, outside a pipeline); each one's new id, or None
    where its unique key was taken."""
    ids = _reserve(conn, len(jobs))
    keyed: list[int] = []
    with conn.cursor().copy(_COPY) as copy:
        copy.set_types(_TYPES)
        _write(copy, jobs, ids, 0, keyed)
    return _insert_keyed(conn, jobs, list(ids), keyed)


def _write(copy: Copy, jobs: Sequence[JobInsert], ids: Sequence[int], offset: int,
           keyed: list[int]) -> None:
    """Copy the rows of ``jobs`` without a unique key, ``jobs[n]`` with id ``ids[n]``; the
    indexes (plus ``offset``) of the others go to ``keyed``."""
    write = copy.write_row
    for index, job in enumerate(jobs):
        if job.unique_key is None:  # insert_values(job), spelt out: ~1 µs a row less
            write((ids[index], job.task, job.args, str(job.state), job.priority,
                   job.max_attempts, job.run_at, job.created_at, None, job.expires_at,
                   False, job.traceparent, job.concurrency_key))
        else:
            keyed.append(offset + index)


def _insert_keyed(conn: Conn, jobs: Sequence[JobInsert], ids: list[int],
                  keyed: list[int]) -> list[int | None]:
    """Insert the ``keyed`` rows with their reserved ids; every row's id, None where a unique
    key was taken."""
    if not keyed:
        return list(ids)
    found: list[int | None] = list(ids)
    with conn.pipeline():
        cursor = conn.cursor()
        cursor.executemany(
            _INSERT_KEYED, [(ids[i], *insert_values(jobs[i])) for i in keyed], returning=True
        )
        for index in keyed:
            if cursor.fetchone() is None:
                found[index] = None
            cursor.nextset()
    return found


#: Ids a streamed copy of unknown length reserves at first, and at most at once: a batch that
#: runs out of them ends its ``COPY``, reserves more (twice as many as it has used) and copies
#: on. Those it does not use are left unused (a gap in the ids, as a rolled-back insert
#: leaves). A batch whose length is known reserves exactly that many.
RESERVE_FIRST = 1024
RESERVE_MOST = 16384


class CopyStream:
    """One batch copied as it arrives, chunk by chunk (in the caller's transaction, outside a
    pipeline). :meth:`write` and :meth:`finish` run in a worker thread, one call at a time."""

    def __init__(self, conn: Conn, expected: int | None = None) -> None:
        self._conn = conn
        self._expected = expected
        self.jobs: list[JobInsert] = []
        self._ids: list[int] = []  # every row's id so far, then the reserved ones not yet used
        self._keyed: list[int] = []
        self._copy: contextlib.ExitStack | None = None
        self._writer: Copy | None = None

    def write(self, jobs: Sequence[JobInsert]) -> None:
        start = len(self.jobs)
        if len(self._ids) < start + len(jobs):
            self._end_copy()
            if start == 0 and self._expected is not None:
                more = max(len(jobs), self._expected)
            else:
                more = max(len(jobs), min(RESERVE_MOST, max(RESERVE_FIRST, 2 * start)))
            self._ids += _reserve(self._conn, more)
        if self._writer is None:
            self._copy = contextlib.ExitStack()
            self._writer = self._copy.enter_context(self._conn.cursor().copy(_COPY))
            self._writer.set_types(_TYPES)
        _write(self._writer, jobs, self._ids[start:start + len(jobs)], start, self._keyed)
        self.jobs += jobs

    def finish(self) -> list[int | None]:
        """End the copy and insert the keyed rows: each row's new id, or None where its unique
        key was taken."""
        self._end_copy()
        del self._ids[len(self.jobs):]
        return _insert_keyed(self._conn, self.jobs, self._ids, self._keyed)

    def abort(self) -> None:
        """Fail the copy if it is open (the transaction is then the caller's to roll back)."""
        copy, self._copy, self._writer = self._copy, None, None
        if copy is not None:
            with contextlib.suppress(Exception):
                copy.__exit__(RuntimeError, RuntimeError("push_many gave up"), None)

    def _end_copy(self) -> None:
        copy, self._copy, self._writer = self._copy, None, None
        if copy is not None:
            copy.close()

