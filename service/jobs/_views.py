"""The public JSON shapes of a job, a push's answer, a queue, a schedule and a worker, as attrs
classes.

The operator API answers them, the CLI prints them, and the HTTP layer derives its OpenAPI
schemas from these same classes: a field added here is in the answer and in the document.
A field whose default is None is left out of the JSON while it is None. A field's
``description`` (its metadata) is its sentence in the document.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any, Literal, cast

import attrs
from cattrs.preconf.json import make_converter

from ._attempt_error import ErrorKind
from ._clock import to_datetime
from ._schedule import CatchUp
from ._states import JobState
from ._store import UniqueOutcome
from ._workers import STALE_BEATS, WorkerStatus, worker_status

if TYPE_CHECKING:
    from ._admin import QueueSummary
    from ._schedule_admin import ScheduleSummary
    from ._store import JobRow, PushResult, WorkerRow


def _doc(description: str) -> dict[str, str]:
    """A field's metadata: its sentence for the API's document."""
    return {"description": description}


@attrs.frozen(kw_only=True)
class AttemptErrorView:
    """One thing that went wrong with a job, oldest first in its ``errors``."""

    attempt: int | None = attrs.field(default=None, metadata=_doc(
        "The attempt it happened in; left out for an operator's cancel."))
    at: dt.datetime | None = attrs.field(default=None, metadata=_doc(
        "When it was recorded, ISO 8601 (left out by entries of old versions)."))
    kind: ErrorKind = attrs.field(metadata=_doc("Why it was recorded."))
    error: str = attrs.field(metadata=_doc(
        "The exception type, or a name for the event (LeaseExpired, Cancel, Cancelled,"
        " UnknownTask...)."))
    message: str = attrs.field(metadata=_doc("A sentence for people; for a cancel, the reason."))
    traceback: str | None = attrs.field(default=None, metadata=_doc(
        "The task's traceback (kind error only)."))


@attrs.frozen(kw_only=True)
class WorkflowView:
    """The workflow a job is a member of (``Workflow``): every member carries it."""

    id: int = attrs.field(metadata=_doc(
        "The workflow's id (POST /api/workflows/{id}/cancel cancels it)."))
    name: str = attrs.field(metadata=_doc("The name the workflow was pushed with."))


@attrs.frozen(kw_only=True)
class WorkflowCancelView:
    """What cancelling a workflow did."""

    workflow: int = attrs.field(metadata=_doc("The workflow's id."))
    cancelled: list[int] = attrs.field(metadata=_doc(
        "The ids of the members it cancelled (every one unfinished, running ones included);"
        " empty when all had ended."))


@attrs.frozen(kw_only=True)
class ProgressView:
    """How far a job's task said it got (``await ctx.progress(...)``): its last report that
    reached the store, written with a lease renewal or the outcome."""

    fraction: float = attrs.field(metadata=_doc("From 0 to 1."))
    message: str | None = attrs.field(metadata=_doc("What the task said, or null."))
    at: dt.datetime = attrs.field(metadata=_doc("When the task reported it (ISO 8601 UTC)."))


@attrs.frozen(kw_only=True)
class JobView:
    """A job: what it runs, where it is in its life, and what went wrong so far."""

    id: int
    task: str = attrs.field(metadata=_doc("The registered name of the job's task."))
    args: Any = attrs.field(metadata=_doc("The task's arguments as stored (JSON)."))
    state: JobState = attrs.field(metadata=_doc("Where the job is in its life."))
    attempt: int = attrs.field(metadata=_doc("Attempts started so far."))
    max_attempts: int = attrs.field(metadata=_doc("Attempts it may have before it is discarded."))
    priority: int = attrs.field(metadata=_doc("Lower runs first."))
    run_at: dt.datetime = attrs.field(metadata=_doc("When it may run next (ISO 8601 UTC)."))
    created_at: dt.datetime = attrs.field(metadata=_doc("When it was pushed (ISO 8601 UTC)."))
    attempted_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When its last attempt started, or null."))
    finished_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When it was completed, cancelled or discarded, or null."))
    unique_key: str | None = attrs.field(metadata=_doc(
        "The key that deduplicates its pushes while it is unfinished (or, with unique_for,"
        " for that long after it was pushed), or null."))
    expires_at: dt.datetime | None = attrs.field(metadata=_doc(
        "If its next attempt has not started by then (ISO 8601 UTC), it is discarded (error"
        " kind expired); null: it never expires."))
    traceparent: str | None = attrs.field(metadata=_doc(
        "The W3C trace context its push stored (its attempts' spans join that trace), or"
        " null."))
    rescues: int = attrs.field(metadata=_doc(
        "How often its lease expired and a rescue took it back."))
    lease_owner: str | None = attrs.field(metadata=_doc(
        "The worker holding it while it runs, else null."))
    lease_expires_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When that lease ends, else null."))
    errors: list[AttemptErrorView] = attrs.field(metadata=_doc("What went wrong, oldest first."))
    result: Any = attrs.field(metadata=_doc(
        "What the task returned (JSON), once completed; else null."))
    workflow: WorkflowView | None = attrs.field(metadata=_doc(
        "The workflow the job is a member of; null for a job pushed on its own."))
    progress: ProgressView | None = attrs.field(metadata=_doc(
        "The last progress its task reported, or null if it never did. Kept once the job"
        " finishes; a retried job shows its previous attempt's until the next one reports."))


@attrs.frozen(kw_only=True)
class PushView(JobView):
    """The answer to a push: the job, as a read of it shows it, and what the push did."""

    unique: UniqueOutcome = attrs.field(metadata=_doc(
        "inserted: a new job; kept: its unique_key was held, and the holder (this job) is"
        " untouched; replaced: on_conflict replace rewrote the holder, not yet started, with"
        " this push's args, run_at, priority and expiry."))


@attrs.frozen(kw_only=True)
class QueueView:
    """One task type's queue."""

    task: str
    registered: bool = attrs.field(metadata=_doc(
        "Whether this process has the task registered (else it is only seen in stored jobs)."))
    concurrency: int | None = attrs.field(metadata=_doc(
        "Jobs of this task one worker runs at once; null when not registered."))
    paused: bool = attrs.field(metadata=_doc("A paused queue is claimed by no process."))
    counts: dict[str, int] = attrs.field(metadata=_doc(
        "Jobs by state: every state, zeros included."))
    global_concurrency: int | None = attrs.field(metadata=_doc(
        "Jobs of this task running at once in every process, at most; null: no such limit."))
    per_key: int | None = attrs.field(metadata=_doc(
        "Jobs of one concurrency key running at once in every process, at most; null: no such"
        " limit."))
    running: int = attrs.field(metadata=_doc("Jobs of this task running now, in every process."))
    rate: RateView | None = attrs.field(metadata=_doc(
        "At most limit starts in any per seconds, in every process (per key if per_key);"
        " null: no rate."))
    tokens_left: int | None = attrs.field(metadata=_doc(
        "Starts the rate allows right now: 0 or 1, starts being spaced evenly; null without a"
        " task-wide rate."))
    next_start_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When the rate next allows a start (ISO 8601 UTC), if later than now; else null."))
    paused_until: dt.datetime | None = attrs.field(metadata=_doc(
        "No job of this task starts before then (ISO 8601 UTC): a task raised RateLimited;"
        " else null."))
    limits: Literal["code", "override"] = attrs.field(metadata=_doc(
        "Whose limits these are: the code's, or an operator's override"
        " (POST /api/queues/{task}/limits)."))


@attrs.frozen(kw_only=True)
class RateView:
    """A rate limit: at most ``limit`` starts in any interval of ``per`` seconds."""

    limit: int = attrs.field(metadata=_doc("Starts allowed per interval."))
    per: float = attrs.field(metadata=_doc("The interval, in seconds."))
    per_key: bool = attrs.field(metadata=_doc("Whether each concurrency key has its own rate."))


@attrs.frozen(kw_only=True)
class ScheduleView:
    """A schedule: the code's, or a stored one the code no longer has (orphaned, never run)."""

    name: str = attrs.field(metadata=_doc("The schedule's unique name."))
    cron: str = attrs.field(metadata=_doc("Its five-field cron expression."))
    timezone: str = attrs.field(metadata=_doc("The IANA time zone its cron is read in."))
    task: str = attrs.field(metadata=_doc("The task each tick pushes a job of."))
    catch_up: CatchUp = attrs.field(metadata=_doc(
        "What happens to ticks missed while no worker ran or while paused: latest pushes"
        " the most recent, all pushes each, none skips them."))
    next_run_at: dt.datetime | None = attrs.field(metadata=_doc(
        "Its next tick (ISO 8601 UTC); null while paused, when orphaned, or when it never"
        " fires again."))
    last_tick: dt.datetime | None = attrs.field(metadata=_doc(
        "The last tick handled (pushed, or skipped by its catch-up policy), or null."))
    last_job_id: int | None = attrs.field(metadata=_doc(
        "The id of the last job it pushed, or null."))
    paused: bool = attrs.field(metadata=_doc("A paused schedule pushes no job, in any process."))
    orphaned: bool = attrs.field(metadata=_doc(
        "Stored, but no longer in the code: it never runs; its state is kept."))


@attrs.frozen(kw_only=True)
class WorkerView:
    """A worker process, as its heartbeats recorded it."""

    owner: str = attrs.field(metadata=_doc(
        "The worker's lease owner id (a job's lease_owner while it runs it)."))
    host: str = attrs.field(metadata=_doc("The host name it runs on."))
    pid: int = attrs.field(metadata=_doc("Its process id on that host."))
    status: WorkerStatus = attrs.field(metadata=_doc(
        "live: beating; stopped: shut down cleanly; gone: silent for more than"
        f" {STALE_BEATS} heartbeat intervals without saying it stopped (killed, host lost)."))
    tasks: list[str] = attrs.field(metadata=_doc("The tasks it runs."))
    in_flight: int = attrs.field(metadata=_doc("Jobs it was running at its last heartbeat."))
    started_at: dt.datetime = attrs.field(metadata=_doc("When it started (ISO 8601 UTC)."))
    last_seen_at: dt.datetime = attrs.field(metadata=_doc(
        "Its last heartbeat (ISO 8601 UTC)."))
    stopped_at: dt.datetime | None = attrs.field(metadata=_doc(
        "When it stopped cleanly, or null."))
    heartbeat_interval: float = attrs.field(metadata=_doc(
        "Seconds between its heartbeats."))


def _build() -> Any:
    conv = make_converter(omit_if_default=True)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    conv.register_unstructure_hook(uuid.UUID, str)
    return conv


#: Unstructures the views above (and the HTTP layer's answers) to JSON-able data.
view_converter = _build()


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # an edited payload that is not JSON is shown as text, never evaluated


def job_view(row: JobRow) -> JobView:
    """The public view of a stored job."""
    return JobView(**_job_fields(row))


def _job_fields(row: JobRow) -> dict[str, Any]:
    return dict(
        id=row.id, task=row.task, args=_json(row.args), state=row.state, attempt=row.attempt,
        max_attempts=row.max_attempts, priority=row.priority, run_at=_moment(row.run_at),
        created_at=_moment(row.created_at), attempted_at=to_datetime(row.attempted_at),
        finished_at=to_datetime(row.finished_at), unique_key=row.unique_key,
        expires_at=to_datetime(row.expires_at), traceparent=row.traceparent,
        rescues=row.rescues, lease_owner=row.lease_owner,
        lease_expires_at=to_datetime(row.lease_expires_at),
        errors=[AttemptErrorView(attempt=e.attempt, at=to_datetime(e.at), kind=e.kind,
                                 error=e.error, message=e.message, traceback=e.traceback)
                for e in row.errors],
        result=_json(row.result),
        workflow=None if row.workflow_id is None
        else WorkflowView(id=row.workflow_id, name=row.workflow_name or ""),
        progress=None if row.progress is None
        else ProgressView(fraction=row.progress.fraction, message=row.progress.message,
                          at=_moment(row.progress.at)),
    )


def push_view(pushed: PushResult) -> PushView:
    """The public view of a push's outcome: the job and ``unique``."""
    return PushView(**_job_fields(pushed.row), unique=pushed.unique)


def _moment(timestamp: float) -> dt.datetime:
    moment = to_datetime(timestamp)
    assert moment is not None
    return moment


def schedule_view(summary: ScheduleSummary) -> ScheduleView:
    """The public view of a schedule."""
    return ScheduleView(
        name=summary.name, cron=summary.cron, timezone=summary.timezone, task=summary.task,
        catch_up=cast("CatchUp", summary.catch_up),
        next_run_at=to_datetime(summary.next_run_at), last_tick=to_datetime(summary.last_tick),
        last_job_id=summary.last_job_id, paused=summary.paused, orphaned=summary.orphaned,
    )


def worker_view(row: WorkerRow, now: float) -> WorkerView:
    """The public view of a worker at ``now`` (its status depends on it)."""
    return WorkerView(
        owner=row.owner, host=row.host, pid=row.pid, status=worker_status(row, now),
        tasks=list(row.tasks), in_flight=row.in_flight, started_at=_moment(row.started_at),
        last_seen_at=_moment(row.seen_at), stopped_at=to_datetime(row.stopped_at),
        heartbeat_interval=row.interval,
    )


def queue_view(queue: QueueSummary) -> QueueView:
    """The public view of a queue summary."""
    rate = queue.rate
    return QueueView(task=queue.task, registered=queue.registered,
                     concurrency=queue.concurrency, paused=queue.paused,
                     counts={state.value: count for state, count in queue.counts.items()},
                     global_concurrency=queue.global_concurrency, per_key=queue.per_key,
                     running=queue.running,
                     rate=None if rate is None else RateView(limit=rate.limit, per=rate.per,
                                                             per_key=rate.per_key),
                     tokens_left=queue.tokens_left,
                     next_start_at=to_datetime(queue.next_start_at),
                     paused_until=to_datetime(queue.paused_until),
                     limits="override" if queue.limits_overridden else "code")


def job_json(row: JobRow) -> dict[str, Any]:
    """The public shape of a job (``GET /api/jobs/{id}``): :class:`JobView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(job_view(row))
    return data


def queue_json(queue: QueueSummary) -> dict[str, Any]:
    """The public shape of a queue (``GET /api/queues``): :class:`QueueView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(queue_view(queue))
    return data


def push_json(pushed: PushResult) -> dict[str, Any]:
    """The answer to a push (``POST /api/jobs``, ``jobs push``): :class:`PushView` as JSON
    data: the job as :func:`job_json` shows it, and ``unique``."""
    data: dict[str, Any] = view_converter.unstructure(push_view(pushed))
    return data


def schedule_json(summary: ScheduleSummary) -> dict[str, Any]:
    """The public shape of a schedule (``GET /api/schedules``): :class:`ScheduleView` as JSON
    data; times are ISO 8601 in UTC."""
    data: dict[str, Any] = view_converter.unstructure(schedule_view(summary))
    return data


def worker_json(row: WorkerRow, now: float) -> dict[str, Any]:
    """The public shape of a worker (``GET /api/workers``, ``workers --json``):
    :class:`WorkerView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(worker_view(row, now))
    return data


def workflow_cancel_view(workflow_id: int, cancelled: list[int]) -> WorkflowCancelView:
    """The public view of a workflow's cancel."""
    return WorkflowCancelView(workflow=workflow_id, cancelled=cancelled)


def workflow_cancel_json(workflow_id: int, cancelled: list[int]) -> dict[str, Any]:
    """What cancelling a workflow answers (``POST /api/workflows/{id}/cancel``, ``workflows
    cancel``): :class:`WorkflowCancelView` as JSON data."""
    data: dict[str, Any] = view_converter.unstructure(
        workflow_cancel_view(workflow_id, cancelled))
    return data
