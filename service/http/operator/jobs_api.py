"""The operator API: jobs, queues and workers (``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import attrs
from quart import Blueprint, Response, request

from ...jobs import (
    CANCEL_REASON,
    InvalidLimits,
    InvalidPush,
    InvalidTransition,
    JobAdmin,
    JobFilter,
    JobNotFound,
    JobState,
    JobView,
    OnConflict,
    PushView,
    QueueNotFound,
    QueueView,
    WorkerView,
    WorkflowCancelView,
    WorkflowNotFound,
    job_view,
    push_view,
    queue_view,
    worker_view,
    workflow_cancel_view,
)
from ..plumbing.answers import json_answer
from ..plumbing.bodies import read_json, read_optional_json, structure
from ..plumbing.errors import ApiError
from ..plumbing.operations import Link, Param, operation
from ..plumbing.request_state import app_state
from .auth import admin_only
from .job_views import job_id_param, workflow_id_param

blueprint = Blueprint("jobs_api", __name__)

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500
#: The longest long-poll ``GET /api/jobs/{id}?wait=`` takes (seconds).
WAIT_MAX = 60


def _admin() -> JobAdmin:
    state = app_state()
    return state.admin()


def _query_param(name: str) -> str | None:
    """The query parameter ``name``; 422 naming it when it is given more than once."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ApiError(422, "invalid", f"invalid query parameter {name}",
                       {name: "give it at most once"})
    return values[0] if values else None


def _int_param(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = _query_param(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(422, "invalid", f"invalid query parameter {name}",
                       {name: f"expected an integer from {low} to {high}"})
    return int(raw)


def _wait_param() -> float | None:
    """``wait``: seconds from 0 to :data:`WAIT_MAX`; 422 naming it otherwise."""
    raw = _query_param("wait")
    if raw is None or raw == "":
        return None
    try:
        seconds = float(raw) if raw.isascii() else math.nan
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= WAIT_MAX:  # NaN too
        raise ApiError(422, "invalid", "invalid query parameter wait",
                       {"wait": f"expected a number of seconds from 0 to {WAIT_MAX}"})
    return seconds


@attrs.frozen(kw_only=True)
class JobPage:
    """A page of jobs, newest first; ``next`` is the ``cursor`` of the next page (null on the
    last)."""

    jobs: list[JobView]
    next: str | None = attrs.field(metadata={
        "description": "The cursor of the next page, or null on the last."})


@attrs.frozen(kw_only=True)
class RetriedJob(JobView):
    """The job after a retry; ``notice`` says when the retry had to raise ``max_attempts``
    (the job had used all its attempts), else null."""

    notice: str | None = attrs.field(metadata={
        "description": "Null, or a sentence saying that max_attempts was raised."})


@attrs.frozen(kw_only=True)
class QueueList:
    """Every queue: the registered tasks and any other task that has jobs."""

    queues: list[QueueView]


JOB_ID = Param(name="job_id", schema={"type": "integer", "minimum": 1},
               description="The job's id (anything but a positive integer is 404).")
WORKFLOW_ID = Param(name="workflow_id", schema={"type": "integer", "minimum": 1},
                    description="The workflow's id (anything but a positive integer is 404).")
QUEUE_TASK = Param(name="task", description="A registered task's name (else 404).",
                   example="send_welcome_email")
WAIT = Param(name="wait", schema={"type": "number", "minimum": 0, "maximum": WAIT_MAX},
             description="Long-poll: answer once the job is final (completed, discarded,"
                         f" cancelled) or after this many seconds (at most {WAIT_MAX}),"
                         " whichever comes first; 200 with the job as it is either way.")
LIST_QUERY = (
    Param(name="state", schema={"enum": [s.value for s in JobState]},
          description="Only jobs in this state."),
    Param(name="task", schema={"type": "string", "maxLength": 100},
          description="Only jobs of this task: a registered task, or one that has jobs or a"
                      " queue row in the store (else 422)."),
    Param(name="limit", schema={"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX},
          description=f"Jobs per page (default {LIST_LIMIT_DEFAULT})."),
    Param(name="cursor", schema={"type": "integer", "minimum": 1, "maximum": 2**62},
          description="The `next` of the previous page."),
)


@blueprint.get("/api/jobs")
@operation(summary="List jobs", tag="jobs", answers={200: JobPage}, query=LIST_QUERY)
@admin_only
async def list_jobs() -> Response:
    """Jobs newest first, filtered by state and task, paged by ``cursor``."""
    state_raw = _query_param("state") or None
    state = None
    if state_raw is not None:
        try:
            state = JobState(state_raw)
        except ValueError:
            raise ApiError(422, "invalid", "invalid query parameter state", {
                "state": "expected one of " + ", ".join(s.value for s in JobState)
            }) from None
    limit = _int_param("limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    cursor = _int_param("cursor", None, 1, 2**62)
    task = _query_param("task") or None
    if task is not None and len(task) > 100:
        raise ApiError(422, "invalid", "invalid query parameter task", {"task": "too long"})
    if task is not None and not await _admin().task_known(task):
        raise ApiError(422, "invalid", "invalid query parameter task", {
            "task": f"unknown task {task!r}: not registered, and no job or queue of it is stored"
        })
    assert limit is not None
    rows = await _admin().list(
        JobFilter(state=state, task=task, limit=limit + 1, before_id=cursor)
    )
    page = rows[:limit]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    return json_answer(JobPage(jobs=[job_view(r) for r in page], next=next_cursor))


@blueprint.get("/api/jobs/<job_id>")
@operation(summary="Read a job", tag="jobs", answers={200: JobView}, path=(JOB_ID,),
           query=(WAIT,))
@admin_only
async def get_job(job_id: str) -> Response:
    """The job with its errors per attempt; with ``wait``, once it is final or the wait ends."""
    wait = _wait_param()
    job = job_id_param(job_id)
    try:
        row = await (_admin().get(job) if wait is None else _admin().wait(job, wait))
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {job_id}") from None
    return json_answer(job_view(row))


@attrs.frozen(kw_only=True)
class PushRequest:
    """The body of ``POST /api/jobs``: a registered task's name and its arguments; ``delay``
    or ``run_at`` schedule it, ``expires_at`` or ``expire_after`` give it a deadline, the
    uniqueness options deduplicate it; the other options override the task's (see
    ``service.jobs.Push``). A field added here is in the OpenAPI document at once (its
    ``description`` metadata is its sentence there)."""

    task: str = attrs.field(metadata={"description": "A registered task's name."})
    args: dict[str, Any] = attrs.field(factory=dict, metadata={
        "description": "The task's fields (JSON); unknown keys and wrong types are 422."})
    delay: float | None = attrs.field(default=None, metadata={
        "description": "Seconds from now until it may run (not with run_at)."})
    run_at: dt.datetime | float | None = attrs.field(default=None, metadata={
        "description": "When it may run: an RFC 3339 timestamp with an offset"
                       " (2030-01-01T09:00:00+01:00) or epoch seconds; a timestamp without"
                       " an offset is refused."})
    priority: int | None = attrs.field(default=None, metadata={
        "description": "Lower runs first (default: the task's)."})
    unique_key: str | None = attrs.field(default=None, metadata={
        "description": "While a job of the task with this key is unfinished (or was pushed"
                       " less than unique_for seconds ago), a push answers that job (200)"
                       " instead of adding another."})
    max_attempts: int | None = attrs.field(default=None, metadata={
        "description": "Attempts before it is discarded (default: the task's)."})
    expires_at: dt.datetime | float | None = attrs.field(default=None, metadata={
        "description": "If its next attempt has not started by then, it is discarded: an"
                       " RFC 3339 timestamp with an offset or epoch seconds (not with"
                       " expire_after)."})
    expire_after: float | None = attrs.field(default=None, metadata={
        "description": "The same deadline, in seconds from now (not with expires_at)."})
    unique_for: float | None = attrs.field(default=None, metadata={
        "description": "Seconds (> 0) the unique_key stays held after the push, even once"
                       " the job has finished; needs unique_key."})
    on_conflict: OnConflict = attrs.field(default="keep", metadata={
        "description": "When the unique_key is held: keep answers the holder untouched;"
                       " replace rewrites the holder, if not yet started, with this push's"
                       " args, run_at, priority and expiry (needs unique_key)."})
    concurrency_key: str | None = attrs.field(default=None, metadata={
        "description": "The job's concurrency key (1-255 characters), instead of the one the"
                       " task's concurrency_key function gives: per_key limits and round-robin"
                       " claims go by it.", "schema": {"minLength": 1, "maxLength": 255}})


@blueprint.post("/api/jobs")
@operation(summary="Push a job", tag="jobs", body=PushRequest,
           answers={201: PushView, 200: PushView}, location=True, links=(
               Link(name="GetJob", endpoint="jobs_api.get_job", parameter="job_id"),
               Link(name="RetryJob", endpoint="jobs_api.retry_job", parameter="job_id"),
               Link(name="CancelJob", endpoint="jobs_api.cancel_job", parameter="job_id"),
           ), body_by_task=True, example={"task": "send_welcome_email", "delay": 3600,
                       "args": {"user_id": "00000000-0000-4000-8000-000000000000"}})
@admin_only
async def push_job() -> Response:
    """201 with the new job (``scheduled`` when delayed); 200 with the job holding the
    ``unique_key`` (kept, or replaced by this push); 422 naming the task or field."""
    body = structure(await read_json(), PushRequest, what="job")
    try:
        pushed = await _admin().push(
            body.task, body.args, delay=body.delay, run_at=body.run_at, priority=body.priority,
            unique_key=body.unique_key, max_attempts=body.max_attempts,
            expires_at=body.expires_at, expire_after=body.expire_after,
            unique_for=body.unique_for, on_conflict=body.on_conflict,
            concurrency_key=body.concurrency_key,
        )
    except InvalidPush as exc:
        raise ApiError(422, "invalid", exc.title, exc.fields) from None
    # 201 for a new job; 200 when its unique key was held: the holder, kept or replaced.
    return json_answer(push_view(pushed), 201 if pushed.inserted else 200,
                       {"Location": f"/api/jobs/{pushed.row.id}"})


@attrs.frozen(kw_only=True)
class CancelRequest:
    """The body of ``POST /api/jobs/{id}/cancel``, optional: a reason (an empty body or
    reason records "cancelled by an operator"); kept to its first 500 characters."""

    reason: str | None = attrs.field(default=None, metadata={
        "description": "Recorded on the job (kept to 500 characters)."})


REASON_MAX = 500


async def _cancel_reason() -> str:
    """The reason a cancel request gives; 422 naming ``$.reason`` (or an unknown key) when the
    body does not fit :class:`CancelRequest`. An empty body means the default reason."""
    raw = await read_optional_json()
    if raw is None:
        return CANCEL_REASON
    body = structure(raw, CancelRequest, what="cancel request")
    return (body.reason or "")[:REASON_MAX] or CANCEL_REASON


async def _transition(raw_id: str, action: str) -> Response:
    admin = _admin()
    job_id = job_id_param(raw_id)
    try:
        if action == "retry":
            retried = await admin.retry_explained(job_id)
            view = job_view(retried.row)
            return json_answer(RetriedJob(**attrs.asdict(view, recurse=False),
                                          notice=retried.notice))
        reason = await _cancel_reason()
        row = await admin.cancel(job_id, reason)
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    except InvalidTransition as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return json_answer(job_view(row))


@blueprint.post("/api/jobs/<job_id>/retry")
@operation(summary="Retry a job", tag="jobs", answers={200: RetriedJob}, path=(JOB_ID,),
           errors=(409,))
@admin_only
async def retry_job(job_id: str) -> Response:
    """Make a finished or waiting job available now; 409 when it is available or running."""
    return await _transition(job_id, "retry")


@blueprint.post("/api/jobs/<job_id>/cancel")
@operation(summary="Cancel a job", tag="jobs", body=CancelRequest, body_required=False,
           answers={200: JobView}, path=(JOB_ID,), errors=(409,),
           example={"reason": "pushed by mistake"})
@admin_only
async def cancel_job(job_id: str) -> Response:
    """Cancel an unfinished job, recording the reason; 409 when it is finished."""
    return await _transition(job_id, "cancel")


@blueprint.post("/api/workflows/<workflow_id>/cancel")
@operation(summary="Cancel a workflow", tag="workflows", body=CancelRequest,
           body_required=False, answers={200: WorkflowCancelView}, path=(WORKFLOW_ID,),
           example={"reason": "the upload was withdrawn"})
@admin_only
async def cancel_workflow(workflow_id: str) -> Response:
    """Cancel every unfinished member of the workflow, running ones included, in one
    transaction, recording the reason; 404 for an unknown workflow."""
    wanted = workflow_id_param(workflow_id)
    reason = await _cancel_reason()
    try:
        cancelled = await _admin().cancel_workflow(wanted, reason)
    except WorkflowNotFound:
        raise ApiError(404, "not_found", f"no workflow {workflow_id}") from None
    return json_answer(workflow_cancel_view(wanted, cancelled))


@blueprint.get("/api/queues")
@operation(summary="List queues", tag="queues", answers={200: QueueList})
@admin_only
async def list_queues() -> Response:
    """Per task: counts by state, concurrency, paused."""
    return json_answer(QueueList(queues=[queue_view(q) for q in await _admin().queues()]))


async def _set_paused(task: str, paused: bool) -> Response:
    admin = _admin()
    try:
        await (admin.pause(task) if paused else admin.resume(task))
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return json_answer(queue_view(await admin.queue(task)))


@blueprint.post("/api/queues/<task>/pause")
@operation(summary="Pause a queue", tag="queues", answers={200: QueueView},
           path=(QUEUE_TASK,))
@admin_only
async def pause_queue(task: str) -> Response:
    """No process claims jobs of the task until it is resumed."""
    return await _set_paused(task, True)


@blueprint.post("/api/queues/<task>/resume")
@operation(summary="Resume a queue", tag="queues", answers={200: QueueView},
           path=(QUEUE_TASK,))
@admin_only
async def resume_queue(task: str) -> Response:
    """Jobs of the task are claimed again."""
    return await _set_paused(task, False)


@attrs.frozen(kw_only=True)
class RateRequest:
    """A rate limit: at most ``limit`` starts in any interval of ``per`` seconds."""

    limit: int = attrs.field(metadata={"description": "Starts allowed per interval.",
                                       "schema": {"minimum": 1}})
    per: float = attrs.field(metadata={"description": "The interval, in seconds.",
                                       "schema": {"exclusiveMinimum": 0}})
    per_key: bool = attrs.field(default=False, metadata={
        "description": "Each concurrency key has its own rate."})


@attrs.frozen(kw_only=True)
class LimitsRequest:
    """The body of ``POST /api/queues/{task}/limits``: the limits to hold in every process
    instead of the code's. A field set to null removes that limit; a field left out keeps the
    code's; at least one is given."""

    global_concurrency: int | None = attrs.field(default=None, metadata={
        "description": "Jobs of the task running at once in every process, at most.",
        "schema": {"minimum": 1}})
    per_key: int | None = attrs.field(default=None, metadata={
        "description": "Jobs of one concurrency key running at once, at most.",
        "schema": {"minimum": 1}})
    rate: RateRequest | None = attrs.field(default=None, metadata={
        "description": "At most limit starts in any per seconds (per key if per_key)."})


@blueprint.post("/api/queues/<task>/limits")
@operation(summary="Override a queue's limits", tag="queues", body=LimitsRequest,
           answers={200: QueueView}, path=(QUEUE_TASK,),
           example={"global_concurrency": 2, "rate": {"limit": 100, "per": 60}})
@admin_only
async def set_queue_limits(task: str) -> Response:
    """Every process applies them within a second; 422 naming each wrong field."""
    body = await read_json()
    try:
        queue = await _admin().set_limits(task, body)
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except InvalidLimits as exc:
        raise ApiError(422, "invalid", "invalid limits", exc.fields) from None
    return json_answer(queue_view(queue))


@blueprint.delete("/api/queues/<task>/limits")
@operation(summary="Restore a queue's limits", tag="queues", answers={200: QueueView},
           path=(QUEUE_TASK,))
@admin_only
async def clear_queue_limits(task: str) -> Response:
    """Back to the code's limits, in every process within a second."""
    try:
        queue = await _admin().clear_limits(task)
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return json_answer(queue_view(queue))


@attrs.frozen(kw_only=True)
class WorkerList:
    """Every worker process recorded by its heartbeats, most recently seen first."""

    workers: list[WorkerView]


@blueprint.get("/api/workers")
@operation(summary="List workers", tag="workers", answers={200: WorkerList})
@admin_only
async def list_workers() -> Response:
    """Every worker process, most recently seen first, ``status`` live, stopped or gone."""
    rows = await _admin().workers()
    now = app_state().store.clock.now()
    return json_answer(WorkerList(workers=[worker_view(row, now) for row in rows]))
