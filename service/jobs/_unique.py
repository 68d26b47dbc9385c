"""What a push does when its unique key is held, shared by the SQL backends. No driver, no trio.

Every job pushed with a ``unique_key`` holds the key (``unique_held``) from its insert on, and a
partial unique index on ``(task, unique_key) WHERE unique_held`` lets one job at a time hold it.
The index, not a lookup before the insert, decides races between processes and hosts: a push
inserts with ``ON CONFLICT DO NOTHING`` and, when that skips the row, settles with the holder:

- the holder is unfinished, or finished less than the push's ``unique_for`` after it was
  created: **keep** it (or, with ``on_conflict="replace"``, **replace** its args, run_at,
  priority, expiry and concurrency key, if it has not started);
- the holder finished otherwise: **release** its key (a compare-and-set) and insert again.

A finished job keeps holding its key until a push releases it, so a job that finishes while a
push looks at it is seen either unfinished (kept) or finished (judged by ``unique_for``), never
missed. Every step is a compare-and-set; one whose row changed meanwhile starts the round over.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from ._errors import ConstraintViolation
from ._rows import state_list
from ._states import FINISHED, REPLACEABLE, JobState
from ._store import InsertResult, JobInsert

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: Rounds of insert/settle before giving up (each lost only to a concurrent change of holder).
UNIQUE_ROUNDS = 8

INSERT_COLUMNS = ("task, args, state, priority, max_attempts, run_at, created_at, unique_key,"
                  " expires_at, unique_held, traceparent, concurrency_key")
#: How many values an insert of :data:`INSERT_COLUMNS` takes.
INSERT_WIDTH = len(INSERT_COLUMNS.split(","))


def insert_values(job: JobInsert) -> tuple[Any, ...]:
    """The values of :data:`INSERT_COLUMNS` for ``job``."""
    return (job.task, job.args, job.state.value, job.priority, job.max_attempts, job.run_at,
            job.created_at, job.unique_key, job.expires_at, job.unique_key is not None,
            job.traceparent, job.concurrency_key)


@attrs.frozen(kw_only=True)
class Holder:
    """The job holding a unique key, as a conflicting push reads it."""

    id: int
    state: JobState
    created_at: float
    attempted_at: float | None


class Settle(enum.Enum):
    KEEP = "keep"
    RELEASE = "release"
    REPLACE = "replace"


def settle(job: JobInsert, holder: Holder) -> Settle:
    """What a push of ``job`` does with the job holding its key (see the module's text)."""
    if holder.state in FINISHED:
        if job.unique_for is not None and job.created_at - holder.created_at < job.unique_for:
            return Settle.KEEP
        return Settle.RELEASE
    if job.replace and holder.state in REPLACEABLE and holder.attempted_at is None:
        return Settle.REPLACE
    return Settle.KEEP


class Connection(Protocol):
    """What both drivers' connections offer: ``execute(sql, params).fetchone()``."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Any: ...


def statements(mark: str) -> dict[str, str]:
    """The SQL of one settling round, with ``mark`` as the driver's placeholder."""
    values = ", ".join([mark] * INSERT_WIDTH)
    return {
        "insert": f"INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ({values})"
                  " ON CONFLICT DO NOTHING RETURNING id",
        "holder": "SELECT id, state, created_at, attempted_at FROM jobs"
                  f" WHERE task = {mark} AND unique_key = {mark} AND unique_held",
        "release": f"UPDATE jobs SET unique_held = false WHERE id = {mark} AND unique_held"
                   f" AND state IN {state_list(FINISHED)} RETURNING id",
        "replace": f"UPDATE jobs SET args = {mark}, priority = {mark}, run_at = {mark},"
                   f" state = {mark}, expires_at = {mark}, concurrency_key = {mark}"
                   f" WHERE id = {mark} AND state IN {state_list(REPLACEABLE)}"
                   " AND attempted_at IS NULL RETURNING id",
    }


C = TypeVar("C", bound=Connection)


def insert_unique(conn: C, sql: dict[str, str], job: JobInsert, *,
                  before_replace: Callable[[C, int], None] | None = None) -> InsertResult:
    """Insert ``job`` (which has a unique key) or settle with its key's holder, inside the
    caller's write transaction; ``sql`` is :func:`statements` for the driver (or statements
    taking the same parameters). ``before_replace(conn, holder_id)`` runs before a replace
    (SQLite moves a holder waiting in ``scheduled_jobs`` to where ``sql["replace"]`` works)."""
    for _ in range(UNIQUE_ROUNDS):
        new = conn.execute(sql["insert"], insert_values(job)).fetchone()
        if new is not None:
            return InsertResult(id=new[0], inserted=True)
        found = conn.execute(sql["holder"], (job.task, job.unique_key)).fetchone()
        if found is None:  # it was released meanwhile (PostgreSQL): insert again
            continue
        holder = Holder(id=found[0], state=JobState(found[1]), created_at=found[2],
                        attempted_at=found[3])
        action = settle(job, holder)
        if action is Settle.KEEP:
            return InsertResult(id=holder.id, inserted=False)
        if action is Settle.RELEASE:
            conn.execute(sql["release"], (holder.id,)).fetchone()
            continue
        if before_replace is not None:
            before_replace(conn, holder.id)
        replaced = conn.execute(
            sql["replace"],
            (job.args, job.priority, job.run_at, job.state.value, job.expires_at,
             job.concurrency_key, holder.id),
        ).fetchone()
        if replaced is not None:
            return InsertResult(id=holder.id, inserted=False, replaced=True)
    raise ConstraintViolation(f"unique key {job.unique_key!r} kept changing hands; try again")
