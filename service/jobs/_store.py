"""The storage protocol every backend implements, with its frozen params and rows.

Method names are noun-verb (``job_claim``, ``job_rescue_expired``). Timestamps are seconds since
the epoch, taken from the store's injected clock or passed in as ``now``. No SQL lives here.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import attrs

from ._attempt_error import AttemptError
from ._progress import JobProgress, ProgressUpdate
from ._states import JobState
from ._task import Task

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from ._clock import Clock
    from ._dependency import Dependency
    from ._limits import LimitedClaim, Limits, QueueLimitsRow


#: What a push does when its unique key is held: ``keep`` the holder as it is, or ``replace`` its
#: args, run_at, priority and expiry if it has not started.
OnConflict = Literal["keep", "replace"]


class UniqueOutcome(enum.StrEnum):
    """What a push did (``PushResult.unique``; ``"unique"`` in the ``POST /api/jobs`` answer)."""

    #: A new job was stored.
    INSERTED = "inserted"
    #: The unique key was held (an unfinished job, or a finished one inside ``unique_for``): the
    #: holder is returned untouched.
    KEPT = "kept"
    #: ``on_conflict="replace"``: the holder, not yet started, took this push's args, run_at,
    #: priority and expiry.
    REPLACED = "replaced"


@attrs.frozen(kw_only=True)
class Push:
    """A task plus the options of one push; ``push_many`` takes these (or bare tasks).

    ``delay`` (seconds) and ``run_at`` (a datetime or epoch seconds) are exclusive.
    ``expires_at`` (a datetime or epoch seconds) and ``expire_after`` (seconds from the push)
    are exclusive: a job whose next attempt has not started by then is ``discarded`` with an
    error of kind ``expired``, and never runs.
    ``unique_key``: while a job of the same task with this key is unfinished, pushing again
    returns that job's id instead of adding one. ``unique_for`` (seconds) makes a finished job
    with the key block the push too, if it was pushed less than that long ago.
    ``on_conflict="replace"`` rewrites a holder that has not started (args, run_at, priority,
    expiry) instead of keeping it as it is.
    """

    task: Task
    delay: float | None = None
    run_at: dt.datetime | float | None = None
    priority: int | None = None
    unique_key: str | None = None
    max_attempts: int | None = None
    #: The W3C ``traceparent`` to store with the job (see :func:`set_job_tracer`); None: the
    #: installed tracer's, if any.
    traceparent: str | None = None
    expires_at: dt.datetime | float | None = None
    expire_after: float | None = None
    unique_for: float | None = None
    on_conflict: OnConflict = "keep"
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
    traceparent: str | None = None
    expires_at: float | None = None
    #: A held key blocks this insert even if its holder finished, when the holder was created
    #: less than this many seconds before ``created_at``.
    unique_for: float | None = None
    #: On a held key, rewrite the holder if it has not started (``on_conflict="replace"``).
    replace: bool = False
    concurrency_key: str | None = None


@attrs.frozen(kw_only=True)
class InsertResult:
    id: int
    #: False when a unique key was held: ``id`` is the holder's.
    inserted: bool
    #: True when the holder took this push's args, run_at, priority and expiry.
    replaced: bool = False

    @property
    def unique(self) -> UniqueOutcome:
        return _outcome(self.inserted, self.replaced)


def _outcome(inserted: bool, replaced: bool) -> UniqueOutcome:
    if inserted:
        return UniqueOutcome.INSERTED
    return UniqueOutcome.REPLACED if replaced else UniqueOutcome.KEPT


@attrs.frozen
class Wake:
    """Whom a committed insert wakes: the tasks of the jobs it added and the earliest run_at."""

    tasks: frozenset[str]
    earliest: float
    #: The earliest ``expires_at`` among them (inf if none expires): the worker's schedule loop
    #: must look at the store then, to discard the job if it has not started.
    expiry: float = math.inf

    def merged(self, other: Wake | None) -> Wake:
        if other is None:
            return self
        return Wake(self.tasks | other.tasks, min(self.earliest, other.earliest),
                    min(self.expiry, other.expiry))

    def tell(self, listener: PushListener) -> None:
        """Call ``listener`` for these jobs; an expiry is told as a time with no task to wake."""
        listener(self.tasks, self.earliest)
        if self.expiry != math.inf:
            listener(frozenset(), self.expiry)


def wake_for(job: JobInsert) -> Wake:
    """The :class:`Wake` of one job that was inserted or replaced."""
    return Wake(frozenset([job.task]), job.run_at,
                math.inf if job.expires_at is None else job.expires_at)


def wake_of(jobs: Sequence[JobInsert], results: Sequence[InsertResult]) -> Wake | None:
    """The :class:`Wake` of the jobs that ``results`` say were inserted or replaced (None if
    none was).

    A pass over every row: for a big batch the stores compute it off the event loop.
    """
    return wake_of_jobs(job for job, result in zip(jobs, results, strict=True)
                        if result.inserted or result.replaced)


def wake_of_jobs(jobs: Iterable[JobInsert]) -> Wake | None:
    """The :class:`Wake` of ``jobs``, all of them inserted (None if there are none)."""
    tasks: set[str] = set()
    earliest = math.inf
    expiry = math.inf
    for job in jobs:
        tasks.add(job.task)
        if job.run_at < earliest:
            earliest = job.run_at
        if job.expires_at is not None and job.expires_at < expiry:
            expiry = job.expires_at
    return Wake(frozenset(tasks), earliest, expiry) if tasks else None


#: What a workflow member does when a dependency ends discarded or cancelled.
OnFailure = Literal["cancel", "run"]


@attrs.frozen(kw_only=True)
class MemberInsert:
    """One member to insert: its row (``pending`` if it has dependencies) and its edges."""

    row: JobInsert
    on_failure: OnFailure
    #: Indexes of earlier members it runs after.
    after_members: tuple[int, ...]
    #: Ids of stored jobs it runs after.
    after_jobs: tuple[int, ...]

    @property
    def dependencies(self) -> int:
        return len(self.after_members) + len(self.after_jobs)


@attrs.frozen(kw_only=True)
class WorkflowInsert:
    """A workflow ready to store (``JobStore.workflow_insert``)."""

    name: str
    created_at: float
    members: list[MemberInsert]

    def external_ids(self) -> list[int]:
        return sorted({job_id for m in self.members for job_id in m.after_jobs})

    def due_wake(self) -> Wake | None:
        """Whom the members without dependencies wake once the push commits."""
        due = [m.row for m in self.members if m.row.state is not JobState.PENDING]
        if not due:
            return None
        expiries = [r.expires_at for r in due if r.expires_at is not None]
        return Wake(frozenset(r.task for r in due), min(r.run_at for r in due),
                    min(expiries, default=math.inf))

    def edges(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        """(dependent id, dependency id) of every edge, given the members' new ids."""
        return [
            (ids[index], dep)
            for index, member in enumerate(self.members)
            for dep in (*(ids[i] for i in member.after_members), *member.after_jobs)
        ]


@attrs.frozen(kw_only=True)
class WorkflowInserted:
    """What a stored workflow got: its id and its members' job ids, in ``add`` order."""

    id: int
    job_ids: list[int]


class WorkflowSource(Protocol):
    """What ``push_workflow`` needs of a ``Workflow``: its checked rows, and where to record
    what the push gave it."""

    @property
    def name(self) -> str: ...

    def member_rows(self, now: float, traceparent: str | None) -> Iterator[MemberInsert]:
        """Each member's row and edges, checked (``InvalidWorkflow`` naming the member);
        ``traceparent`` (the tracer's) is stored unless a member's push gives its own."""
        ...

    def unknown_job(self, job_id: int) -> Exception:
        """The error for an ``after=`` id that names no job, naming the member."""
        ...

    def pushed(self, inserted: WorkflowInserted) -> None:
        """Record the workflow's id and its members' job ids."""
        ...


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
    #: The W3C ``traceparent`` stored by the push (opaque to the engine), if it had one.
    traceparent: str | None = None
    #: After this instant its next attempt may not start: it is discarded (kind ``expired``).
    expires_at: float | None = None
    #: The workflow the job is a member of (see ``Workflow``), if any.
    workflow_id: int | None = None
    workflow_name: str | None = None
    #: The last progress its task reported that reached the store (kept after it finished,
    #: and across retries until the next attempt reports), or None.
    progress: JobProgress | None = None
    #: The last checkpoint its task reported (JSON text), handed to its next attempt.
    checkpoint: str | None = None


@attrs.frozen(kw_only=True)
class PushResult:
    """What one push stored: the job's row as it is now, and what the push did with it.

    ``inserted`` is False when the push's unique key was held by another job of the same task:
    ``row`` is then that job -- untouched (``unique`` is ``kept``), or rewritten by an
    ``on_conflict="replace"`` push (``replaced`` is True, ``unique`` is ``replaced``).
    """

    row: JobRow
    inserted: bool
    replaced: bool = False

    @property
    def unique(self) -> UniqueOutcome:
        """``inserted``, ``kept`` or ``replaced``."""
        return _outcome(self.inserted, self.replaced)


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
    #: Set for a workflow member.
    workflow_id: int | None = None
    #: How many dependencies the member has: its context reads them before it runs.
    dependencies: int = 0
    traceparent: str | None = None
    #: The schedule tick this job was pushed for (epoch seconds); None if not from a schedule.
    tick: float | None = None
    #: Known when a limited claim took it (``RateLimited(per_key=True)`` pauses this key).
    concurrency_key: str | None = None
    #: The last checkpoint an earlier attempt reported (JSON text), or None.
    checkpoint: str | None = None


@attrs.frozen(kw_only=True)
class ScheduleDefinition:
    """A schedule as the code declares it, stored so operators see it (``schedule_register``)."""

    name: str
    cron: str
    timezone: str
    task: str
    catch_up: str


@attrs.frozen(kw_only=True)
class ScheduleRow:
    """A schedule as stored: its last definition, whether it is paused, and the last tick
    handled (pushed or skipped by its catch-up policy) with the id of the last job pushed.

    ``created_at`` is when a worker first saw it: ticks before it never run.
    """

    name: str
    cron: str
    timezone: str
    task: str
    catch_up: str
    paused: bool
    last_tick: float | None
    last_job_id: int | None
    created_at: float
    updated_at: float


@attrs.frozen(kw_only=True)
class TickInsert:
    """One job a schedule pushes for one of its ticks (``schedule_enqueue``)."""

    job: JobInsert
    tick: float


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
    #: The attempt's last progress report not yet written, written with the outcome.
    progress: ProgressUpdate | None = None


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
class JobStats:
    """The jobs of one task in one state (``JobStore.job_stats_by_state``)."""

    count: int
    #: The earliest ``run_at`` among them: for ``available`` jobs, since when the oldest one
    #: has been waiting for a worker.
    oldest_run_at: float


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
    #: Jobs in any of these states (with ``state``: in it or any of these); empty: no condition.
    states: frozenset[JobState] = frozenset()

    def state_set(self) -> frozenset[JobState] | None:
        """The states a job must be in to match; None when any state matches."""
        chosen = self.states | ({self.state} if self.state is not None else set())
        return frozenset(chosen) or None


@attrs.frozen(kw_only=True)
class BulkBatch:
    """What one batch of a bulk operation (``job_retry_many`` ...) did.

    ``selected`` jobs matched (at most the filter's ``limit``), ``changed`` of them were acted on
    (a job that changed state meanwhile is left alone), ``lowest_id`` is the smallest selected id:
    the next batch's ``before_id``. ``raised`` counts retried jobs whose ``max_attempts`` was
    raised (they had used all their attempts); ``tasks`` are the tasks of the changed jobs.
    """

    selected: int
    changed: int
    lowest_id: int | None
    raised: int = 0
    tasks: frozenset[str] = frozenset()
    #: The ids of the changed jobs (a cancel or delete settles their dependents).
    ids: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class WorkerBeat:
    """A worker process's heartbeat (``worker_beat``), written with each lease renewal tick.

    ``owner`` is the worker's lease owner id; ``interval`` the seconds between its beats (how
    readers tell a live worker from a gone one).
    """

    owner: str
    host: str
    pid: int
    tasks: tuple[str, ...]
    in_flight: int
    started_at: float
    seen_at: float
    interval: float


@attrs.frozen(kw_only=True)
class WorkerRow:
    """A worker as stored: its last heartbeat, and when it stopped cleanly (None if it has not,
    or died)."""

    owner: str
    host: str
    pid: int
    tasks: tuple[str, ...]
    in_flight: int
    started_at: float
    seen_at: float
    interval: float
    stopped_at: float | None


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


class PushListener(Protocol):
    def __call__(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        ...


class CancelListener(Protocol):
    def __call__(self, job_ids: frozenset[int] | None) -> None:
        ...
