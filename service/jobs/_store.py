"""The storage protocol every backend implements, with its frozen params and rows.

Method names are noun-verb (``job_claim``, ``job_rescue_expired``). Timestamps are seconds since
the epoch, taken from the store's injected clock or passed in as ``now``. No SQL lives here.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Protocol, Self

import attrs

from ._attempt_error import AttemptError
from ._states import JobState
from ._task import Task

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from contextlib import AbstractAsyncContextManager

    from ._clock import Clock
    from ._limits import LimitedClaim, Limits, QueueLimitsRow


@attrs.frozen(kw_only=True)
class Push:
    """A task plus the options of one push; ``push_many`` takes these (or bare tasks).

    ``delay`` (seconds) and ``run_at`` (a datetime or epoch seconds) are exclusive.
    ``unique_key``: while a job of the same task with this key is unfinished, pushing again
    returns that job's id instead of adding one.
    """

    task: Task
    delay: float | None = None
    run_at: dt.datetime | float | None = None
    priority: int | None = None
    unique_key: str | None = None
    max_attempts: int | None = None
    #: Overrides the key the task's ``concurrency_key`` function would give (see TaskOptions).
    concurrency_key: str | None = None


@attrs.frozen(kw_only=True)
class JobInsert:
    """One job to insert. ``state`` is ``available`` or ``scheduled`` (``run_at`` in the future)."""

    task: str
    args: str  # JSON text
    state: JobState
    priority: int
    max_attempts: int
    run_at: float
    created_at: float
    unique_key: str | None = None
    concurrency_key: str | None = None


@attrs.frozen(kw_only=True)
class InsertResult:
    id: int
    #: False when a unique key matched an unfinished job: ``id`` is that job's.
    inserted: bool


@attrs.frozen
class Wake:
    """Whom a committed insert wakes: the tasks of the jobs it added and the earliest run_at."""

    tasks: frozenset[str]
    earliest: float

    def merged(self, other: Wake | None) -> Wake:
        if other is None:
            return self
        return Wake(self.tasks | other.tasks, min(self.earliest, other.earliest))


def wake_of(jobs: Sequence[JobInsert], results: Sequence[InsertResult]) -> Wake | None:
    """The :class:`Wake` of the jobs that ``results`` say were inserted (None if none was).

    A pass over every row: for a big batch the stores compute it off the event loop.
    """
    tasks: set[str] = set()
    earliest = math.inf
    for job, result in zip(jobs, results, strict=True):
        if result.inserted:
            tasks.add(job.task)
            if job.run_at < earliest:
                earliest = job.run_at
    return Wake(frozenset(tasks), earliest) if tasks else None


@attrs.frozen(kw_only=True)
class JobRow:
    """A job as stored: what ``job_get``, listings and ``PushResult.row`` return.

    Timestamps are seconds since the epoch; ``args`` and ``result`` are JSON text (decode ``args``
    with the task's class, or render the whole row with ``job_json``).
    """

    id: int
    task: str
    args: str
    state: JobState
    priority: int
    attempt: int
    max_attempts: int
    run_at: float
    created_at: float
    attempted_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    rescues: int
    unique_key: str | None
    errors: list[AttemptError]  # oldest first
    result: str | None  # JSON text


@attrs.frozen(kw_only=True)
class PushResult:
    """What one push stored: the job's row as it is now, and whether the push added it.

    ``inserted`` is False when the push's unique key matched an unfinished job of the same task:
    ``row`` is then that job, untouched.
    """

    row: JobRow
    inserted: bool


@attrs.frozen(kw_only=True)
class ClaimedJob:
    """What a claim hands a worker: enough to run the attempt and record its outcome.

    The job is now ``running``, leased to the claimer until the lease expiry it passed.
    """

    id: int
    task: str
    args: str  # JSON text
    priority: int
    attempt: int  # this attempt's number, counted at the claim
    max_attempts: int
    run_at: float
    #: Known when a limited claim took it (``RateLimited(per_key=True)`` pauses this key).
    concurrency_key: str | None = None


@attrs.frozen(kw_only=True)
class SetStateIfRunning:
    """The outcome of one attempt, applied only if the job is still ``running`` under ``owner``
    in that same ``attempt`` (a stale outcome never lands on a later attempt of the job).

    ``refund_attempt`` gives the attempt back (snooze, shutdown interruption).
    ``error`` is appended to the job's error list.
    """

    id: int
    owner: str
    attempt: int
    state: JobState
    run_at: float | None = None
    finished_at: float | None = None
    refund_attempt: bool = False
    error: AttemptError | None = None
    result: str | None = None


#: A job rescued before (its lease expired in an earlier crash too) comes back ``retryable``
#: after a random pause of up to ``rescues x REPEAT_RESCUE_SPREAD_S`` seconds (at most
#: ``REPEAT_RESCUE_SPREAD_MAX_S``), not ``available`` at once: the jobs that died in one process
#: then run apart, and a job that kills its process no longer takes the same bystanders down
#: with it at every restart until they too are discarded. A first rescue is immediate.
REPEAT_RESCUE_SPREAD_S = 1.0
REPEAT_RESCUE_SPREAD_MAX_S = 10.0


@attrs.frozen(kw_only=True)
class Rescued:
    id: int
    task: str
    state: JobState  # available again, retryable after a pause (rescued before), or discarded


@attrs.frozen(kw_only=True)
class JobFilter:
    """Which jobs a listing returns (``JobStore.job_list``, ``JobAdmin.list``), newest first.

    Page through a long history by passing the last id seen as ``before_id``.
    """

    state: JobState | None = None
    task: str | None = None
    limit: int = 100
    #: Cursor: only jobs with a smaller id (listings run newest first).
    before_id: int | None = None


class Transaction(Protocol):
    """An open database transaction (``JobStore.transaction``): app rows and pushed jobs commit
    or roll back together. Jobs pushed through it wake workers only once it commits.

    Its methods raise ``StoreError`` once the transaction is committed or rolled back.
    """

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement of the app's own SQL (``?`` placeholders); rows it returns, if any."""
        ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement inside the transaction (it sees the transaction's own writes);
        its rows."""
        ...

    async def push(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
    ) -> int:
        """Insert one job in the transaction; its id (the holder's id on a unique-key hit).

        ``ValueError`` naming the option (``PayloadError`` naming the field) before anything is
        written when an option or the task's fields are invalid.
        """
        ...

    async def push_many(self, requests: Iterable[Task | Push]) -> list[int]:
        """Insert many jobs in the transaction; their ids in the order given."""
        ...

    async def push_result(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted it."""
        ...

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        """Insert prepared rows in the transaction (``push``/``push_many`` build them)."""
        ...


class JobStore(Protocol):
    """Durable job storage. Every state change is a compare-and-set on the current state."""

    clock: Clock

    @property
    def applied_migrations(self) -> Sequence[str]:
        """The migrations the last :meth:`open` applied (empty when the schema was current)."""
        ...

    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent, safe across processes)."""
        ...

    async def aclose(self) -> None:
        """Close every connection; the store may be opened again. Shielded from cancellation."""
        ...

    async def __aenter__(self) -> Self:
        """:meth:`open`, for ``async with store:``."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """:meth:`aclose`."""
        ...

    # -- the app's API ---------------------------------------------------------------------

    async def push(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
    ) -> int:
        """Store one job durably and return its id, once committed.

        On a unique-key hit (an unfinished job of the task holds ``unique_key``) nothing is
        added and the holder's id is returned. ``ValueError`` naming the option (``PayloadError``
        naming the field) before anything is written when an option or the task's fields are
        invalid. See :class:`Push` for the options.
        """
        ...

    async def push_many(self, requests: Iterable[Task | Push]) -> list[int]:
        """Store many jobs in one transaction; their ids in the order given (as :meth:`push`)."""
        ...

    async def push_result(
        self,
        task: Task,
        *,
        delay: float | None = None,
        run_at: dt.datetime | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted it.

        On a unique-key hit ``inserted`` is False and ``row`` is the holder, as it is now. Read
        in the same write, so it costs no second round trip.
        """
        ...

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only statement of the app's own SQL (``?`` placeholders) outside any
        transaction; its rows."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Begin a write transaction; commit on normal exit, roll back on any exception.

        The task that holds it must use the transaction's own methods until it ends: the store's
        methods called from inside it raise ``StoreError`` rather than deadlock.
        """
        ...

    # -- the engine's API ------------------------------------------------------------------

    def add_push_listener(self, listener: PushListener) -> None:
        """Call ``listener`` after each committed insert (in-process wake-ups)."""
        ...

    def remove_push_listener(self, listener: PushListener) -> None:
        """Stop calling ``listener``; a worker does this when it stops (a no-op if absent)."""
        ...

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        """Insert prepared rows in one transaction (``push``/``push_many`` build them)."""
        ...

    async def job_get(self, job_id: int) -> JobRow:
        ...

    async def job_list(self, where: JobFilter) -> list[JobRow]:
        ...

    async def job_claim(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float
    ) -> list[ClaimedJob]:
        """Move up to ``limit`` ``available`` jobs of ``task`` to ``running``, in one statement.

        Returns them in claim order (priority, run_at, id).
        """
        ...

    async def job_promote_due(self, now: float) -> list[str]:
        """Make ``scheduled``/``retryable`` jobs whose ``run_at`` passed ``available``.

        Returns the task names that got jobs.
        """
        ...

    async def job_next_run_at(self) -> float | None:
        """The earliest ``run_at`` among waiting (scheduled, retryable) jobs."""
        ...

    async def job_renew_leases(
        self, owner: str, job_ids: Sequence[int], lease_expires_at: float
    ) -> list[int]:
        """Extend the leases of ``job_ids`` held by ``owner``, in one statement.

        Returns the ids still held; a missing id was cancelled or rescued meanwhile.
        """
        ...

    async def job_rescue_expired(
        self, now: float, max_rescues: int, limit: int = 1000
    ) -> list[Rescued]:
        """Return running jobs whose lease expired to ``available`` (or discard them)."""
        ...

    async def job_discard_unknown(
        self, known: Sequence[str], available_before: float, now: float, limit: int = 1000
    ) -> list[Rescued]:
        """Discard ``available`` jobs of tasks not in ``known``, due before ``available_before``."""
        ...

    async def job_set_state_if_running_many(
        self, outcomes: Sequence[SetStateIfRunning]
    ) -> list[bool]:
        """Record attempt outcomes in one transaction; False where the CAS found no match."""
        ...

    async def job_retry(self, job_id: int, now: float) -> JobRow:
        """Operator retry: make a finished or waiting job ``available`` now."""
        ...

    async def job_cancel(self, job_id: int, now: float, reason: str) -> JobRow:
        """Operator cancel of an unfinished job."""
        ...

    async def job_delete_finished(
        self, state: JobState, finished_before: float, limit: int
    ) -> int:
        """Delete up to ``limit`` jobs in a finished ``state`` older than ``finished_before``."""
        ...

    async def job_count_by_state(self) -> dict[tuple[str, JobState], int]:
        """(task, state) -> number of jobs."""
        ...

    async def queue_set_paused(self, task: str, paused: bool) -> None:
        """Pause (no claims, in any process) or resume the jobs of ``task``."""
        ...

    async def queue_paused(self) -> set[str]:
        """The task types whose queues are paused."""
        ...

    # -- flow control (limits are leases: see _limits.py) -----------------------------------

    async def job_claim_limited(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float,
        limits: Limits,
    ) -> LimitedClaim:
        """:meth:`job_claim` within ``limits``, across every process: at most
        ``global_concurrency`` jobs of ``task`` running, ``per_key`` of each key, starts spaced
        by the rate, none while the task (or a key) is paused by ``RateLimited``; keyed jobs
        taken round-robin across keys. Running jobs are counted in the claim statement; the
        rate is consumed in its transaction. Says what throttled it, and until when.
        """
        ...

    async def queue_block(self, task: str, key: str | None, until: float) -> None:
        """No job of ``task`` (of concurrency ``key``, if given) starts before ``until``."""
        ...

    async def queue_set_limits(self, task: str, override: str | None) -> None:
        """Store an operator's override of ``task``'s limits (JSON text); None clears it."""
        ...

    async def queue_limits(self) -> list[QueueLimitsRow]:
        """The queue rows that hold an override, a pause from ``RateLimited`` or a rate."""
        ...

    async def job_keyed_tasks(self) -> list[str]:
        """The tasks with available jobs that carry a concurrency key."""
        ...


class PushListener(Protocol):
    def __call__(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        ...
