"""The storage protocol every backend implements, with its frozen params and rows.

Method names are noun-verb (``job_claim``, ``job_rescue_expired``). Timestamps are seconds since
the epoch, taken from the store's injected clock or passed in as ``now``. No SQL lives here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self

from ._records import (
    REPEAT_RESCUE_SPREAD_MAX_S,
    REPEAT_RESCUE_SPREAD_S,
    BulkBatch,
    ClaimedJob,
    InsertResult,
    JobFilter,
    JobInsert,
    JobRow,
    JobStats,
    MemberInsert,
    OnConflict,
    OnFailure,
    Push,
    PushListener,
    PushResult,
    Rescued,
    ScheduleDefinition,
    ScheduleRow,
    SetStateIfRunning,
    TickInsert,
    UniqueOutcome,
    Wake,
    WorkerBeat,
    WorkerRow,
    WorkflowInsert,
    WorkflowInserted,
    WorkflowSource,
    wake_for,
    wake_of,
    wake_of_jobs,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from ._clock import Clock
    from ._dependency import Dependency
    from ._limits import LimitedClaim, Limits, QueueLimitsRow
    from ._progress import ProgressUpdate
    from ._states import JobState
    from ._task import Task


__all__ = [
    "REPEAT_RESCUE_SPREAD_MAX_S",
    "REPEAT_RESCUE_SPREAD_S",
    "BulkBatch",
    "CancelListener",
    "ClaimedJob",
    "InsertResult",
    "JobFilter",
    "JobInsert",
    "JobRow",
    "JobStats",
    "JobStore",
    "MemberInsert",
    "OnConflict",
    "OnFailure",
    "Push",
    "PushListener",
    "PushResult",
    "Rescued",
    "ScheduleDefinition",
    "ScheduleRow",
    "SetStateIfRunning",
    "TickInsert",
    "Transaction",
    "UniqueOutcome",
    "Wake",
    "WorkerBeat",
    "WorkerRow",
    "WorkflowInsert",
    "WorkflowInserted",
    "WorkflowSource",
    "wake_for",
    "wake_of",
    "wake_of_jobs",
]


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
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
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
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted it."""
        ...

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        """Insert prepared rows in the transaction (``push``/``push_many`` build them)."""
        ...

    async def push_workflow(self, workflow: WorkflowSource) -> list[int]:
        """Store a workflow in the transaction (see :meth:`JobStore.push_workflow`)."""
        ...

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        """Store a prepared workflow in the transaction (``push_workflow`` builds it)."""
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
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> int:
        """Store one job durably and return its id, once committed.

        On a unique-key hit (an unfinished job of the task holds ``unique_key``, or a finished
        one pushed less than ``unique_for`` s ago) nothing is added and the holder's id is
        returned; with ``on_conflict="replace"`` a holder that has not started takes this push's
        args, run_at, priority and expiry first. ``ValueError`` naming the option (``PayloadError``
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
        traceparent: str | None = None,
        expires_at: dt.datetime | float | None = None,
        expire_after: float | None = None,
        unique_for: float | None = None,
        on_conflict: OnConflict = "keep",
        concurrency_key: str | None = None,
    ) -> PushResult:
        """:meth:`push`, returning the stored row and whether this push inserted it.

        On a unique-key hit ``inserted`` is False and ``row`` is the holder, as it is now. Read
        in the same write, so it costs no second round trip.
        """
        ...

    async def push_workflow(self, workflow: WorkflowSource) -> list[int]:
        """Store every member of ``workflow`` and its edges in one transaction; the members'
        job ids in ``Workflow.add`` order, and ``workflow.id`` set.

        ``InvalidWorkflow`` naming the member (nothing written) when the graph, an option or a
        payload is invalid, or an ``after=`` id names no job.
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

    def add_push_listener(
        self, listener: PushListener, tasks: Iterable[str] | None = None
    ) -> None:
        """Call ``listener`` after each committed insert, here or in another process.

        ``tasks``: the tasks whose pushes it wants (None: all); a backend that reaches other
        processes asks them for only these.
        """
        ...

    def remove_push_listener(self, listener: PushListener) -> None:
        """Stop calling ``listener``; a worker does this when it stops (a no-op if absent)."""
        ...

    def add_cancel_listener(self, listener: CancelListener) -> None:
        """Call ``listener`` after an operator's cancel commits, here or in another process,
        with the ids it cancelled (None: too many to list) -- running jobs among them are
        still running under their worker until it stops them."""
        ...

    def remove_cancel_listener(self, listener: CancelListener) -> None:
        """Stop calling ``listener`` (a no-op if absent)."""
        ...

    async def job_insert_many(self, jobs: Sequence[JobInsert]) -> list[InsertResult]:
        """Insert prepared rows in one transaction (``push``/``push_many`` build them)."""
        ...

    async def workflow_insert(self, plan: WorkflowInsert) -> WorkflowInserted:
        """Store a prepared workflow in one transaction (``push_workflow`` builds it).

        Members without dependencies are due (or scheduled); the others ``pending``. Edges on
        jobs that already ended are settled at once. ``JobNotFound`` if an id names no job.
        """
        ...

    async def workflow_cancel(self, workflow_id: int, now: float, reason: str) -> list[int]:
        """Cancel every unfinished member of a workflow, running ones included, in one
        transaction; the ids cancelled. ``WorkflowNotFound`` if there is no such workflow."""
        ...

    async def job_dependencies(self, job_id: int) -> list[Dependency]:
        """The stored dependencies of ``job_id`` with their states and results, by id."""
        ...

    async def job_get(self, job_id: int) -> JobRow:
        ...

    async def job_wait(self, job_id: int, timeout: float) -> JobRow:  # noqa: ASYNC109 (the contract)
        """The job once it is final (completed, discarded, cancelled), woken by the outcome.

        Returns at once for a job already final. After ``timeout`` seconds (trio time) it
        returns the job as it is then -- check ``row.state``. :class:`JobNotFound` for an
        unknown id, ``ValueError`` for a negative timeout.
        """
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
        """Make ``scheduled``/``retryable`` jobs whose ``run_at`` passed ``available``, having
        first discarded the jobs whose expiry passed (as :meth:`job_discard_expired`).

        Returns the task names that got jobs.
        """
        ...

    async def job_next_run_at(self) -> float | None:
        """When the worker's schedule loop must next look: the earliest ``run_at`` among
        waiting (scheduled, retryable) jobs, or ``expires_at`` among jobs whose next attempt has
        not started, whichever comes first."""
        ...

    async def job_discard_expired(self, now: float, limit: int = 1000) -> list[Rescued]:
        """Discard up to ``limit`` jobs waiting for their next attempt (scheduled, available,
        retryable) whose ``expires_at`` is at or before ``now``, recording an ``expired`` error.
        Claims never start such a job even before this runs."""
        ...

    async def job_renew_leases(
        self, owner: str, job_ids: Sequence[int], lease_expires_at: float,
        progress: Mapping[int, ProgressUpdate] | None = None,
    ) -> list[int]:
        """Extend the leases of ``job_ids`` held by ``owner``, in one statement, which also
        writes the ``progress`` reported by those of them it names.

        Returns the ids still held; a missing id was cancelled or rescued meanwhile (its
        progress is not written).
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

    async def job_stats_by_state(self) -> dict[tuple[str, JobState], JobStats]:
        """(task, state) -> how many jobs, and their earliest ``run_at``: one grouped query (a
        metrics scrape's whole cost)."""
        ...

    async def queue_set_paused(self, task: str, paused: bool) -> None:
        """Pause (no claims, in any process) or resume the jobs of ``task``."""
        ...

    # -- operators' bulk actions (one batch per call; ``JobAdmin.bulk`` loops) ----------------

    async def job_count(self, where: JobFilter) -> int:
        """How many jobs ``where`` selects (``limit`` ignored)."""
        ...

    async def job_retry_many(self, where: JobFilter, now: float) -> BulkBatch:
        """Operator retry of up to ``where.limit`` jobs that ``where`` selects (newest first,
        ids below ``before_id``) and that may be retried, in one transaction."""
        ...

    async def job_cancel_many(self, where: JobFilter, now: float, reason: str) -> BulkBatch:
        """Operator cancel of up to ``where.limit`` unfinished jobs that ``where`` selects."""
        ...

    async def job_delete_many(self, where: JobFilter) -> BulkBatch:
        """Delete up to ``where.limit`` jobs that ``where`` selects, running ones excepted."""
        ...

    async def job_finished_per_minute(
        self, since: float, until: float
    ) -> dict[tuple[float, JobState], int]:
        """(start of the minute, finished state) -> how many jobs finished in that minute, for
        the minutes from ``since`` (the start of a minute) up to ``until``; minutes without any
        are left out. Counted over the finished jobs' index, never the whole table."""
        ...

    # -- worker processes -----------------------------------------------------------------

    async def worker_beat(self, beat: WorkerBeat) -> None:
        """Record a worker's heartbeat (one upsert); clears a ``stopped_at`` of the same owner."""
        ...

    async def worker_stopped(self, owner: str, now: float) -> None:
        """Record that the worker ``owner`` stopped cleanly."""
        ...

    async def worker_list(self) -> list[WorkerRow]:
        """Every recorded worker, most recently seen first."""
        ...

    async def worker_delete_seen_before(self, before: float) -> int:
        """Forget workers last seen before ``before``; how many."""
        ...

    async def queue_paused(self) -> set[str]:
        """The task types whose queues are paused."""
        ...

    async def schedule_register(
        self, definitions: Sequence[ScheduleDefinition], now: float
    ) -> None:
        """Store each schedule's definition; one never seen before starts at ``now`` (its
        ``created_at``), unpaused. Its tick state and pause are kept when it exists."""
        ...

    async def schedule_list(self) -> list[ScheduleRow]:
        """Every stored schedule, by name."""
        ...

    async def schedule_get(self, name: str) -> ScheduleRow | None:
        ...

    async def schedule_enqueue(
        self, name: str, expected_last_tick: float | None, last_tick: float,
        jobs: Sequence[TickInsert], now: float,
    ) -> list[int] | None:
        """Insert ``jobs`` in the same transaction as a compare-and-set of the schedule's last
        tick from ``expected_last_tick`` to ``last_tick``, if it is not paused.

        Returns the new jobs' ids, or None when the CAS found no match (another process
        handled the tick first, or the schedule is paused): then nothing is written. Any number
        of processes racing on one tick insert its jobs once.
        """
        ...

    async def schedule_set_paused(self, name: str, paused: bool, now: float) -> ScheduleRow:
        """Pause (no tick pushes a job, in any process) or resume a stored schedule;
        :class:`ScheduleNotFound` if none is stored under ``name``."""
        ...

    # -- flow control (limits are leases: see _limits.py) -----------------------------------

    async def job_claim_limited(
        self, task: str, owner: str, limit: int, now: float, lease_expires_at: float,
        limits: Limits, ended: Sequence[tuple[int, int]] = (),
    ) -> LimitedClaim:
        """:meth:`job_claim` within ``limits``, across every process: at most
        ``global_concurrency`` jobs of ``task`` running, ``per_key`` of each key, starts spaced
        by the rate, none while the task (or a key) is paused by ``RateLimited``; keyed jobs
        taken round-robin across keys. Running jobs are counted in the claim statement; the
        rate is consumed in its transaction. Says what throttled it, and until when.

        ``ended``: (id, attempt) of ``owner``'s attempts that have returned and whose outcomes
        are still being written. Their jobs are still ``running``, but they hold no slot for
        this claim (their task code is done), so a worker reuses a slot without waiting for the
        outcome's commit; every other claimer counts them until then.
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


class CancelListener(Protocol):
    def __call__(self, job_ids: frozenset[int] | None) -> None:
        ...
