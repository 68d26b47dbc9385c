"""The frozen params and rows the storage protocol (:mod:`._store`) takes and gives.

Timestamps are seconds since the epoch. No SQL lives here.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from ._attempt_error import AttemptError
from ._progress import JobProgress, ProgressUpdate
from ._states import JobState
from ._task import Task

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence




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


class PushListener(Protocol):
    """Told of jobs that became due (``Wake.tell``); see ``JobStore.add_push_listener``."""

    def __call__(self, tasks: frozenset[str], earliest_run_at: float) -> None:
        ...
