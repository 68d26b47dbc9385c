"""The operator API: jobs, queues and workers (``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs
from quart import Blueprint, Response, jsonify, request

from ...jobs import (
    CANCEL_REASON,
    InvalidLimits,
    InvalidPush,
    InvalidTransition,
    JobAdmin,
    JobFilter,
    JobNotFound,
    JobState,
    OnConflict,
    QueueNotFound,
    job_json,
    push_json,
    queue_json,
    worker_json,
)
from ..plumbing.bodies import read_json, read_optional_json, structure
from ..plumbing.errors import ApiError
from ..plumbing.request_state import app_state
from .auth import admin_only
from .job_views import job_id_param

blueprint = Blueprint("jobs_api", __name__)

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500


def _admin() -> JobAdmin:
    state = app_state()
    return state.admin()


def _int_param(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(422, "invalid", f"invalid query parameter {name}",
                       {name: f"expected an integer from {low} to {high}"})
    return int(raw)


@blueprint.get("/api/jobs")
@admin_only
async def list_jobs() -> Response:
    state_raw = request.args.get("state") or None
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
    task = request.args.get("task") or None
    if task is not None and len(task) > 100:
        raise ApiError(422, "invalid", "invalid query parameter task", {"task": "too long"})
    assert limit is not None
    rows = await _admin().list(
        JobFilter(state=state, task=task, limit=limit + 1, before_id=cursor)
    )
    page = rows[:limit]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    return jsonify({"jobs": [job_json(r) for r in page], "next": next_cursor})


@blueprint.get("/api/jobs/<raw_id>")
@admin_only
async def get_job(raw_id: str) -> Response:
    try:
        row = await _admin().get(job_id_param(raw_id))
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    return jsonify(job_json(row))


@attrs.frozen(kw_only=True)
class PushRequest:
    """``POST /api/jobs``: the task, its args and the push's options (see ``service.jobs.Push``).

    ``expires_at`` is an ISO 8601 time with a timezone, or epoch seconds; ``expire_after``,
    ``unique_for`` and ``delay`` are seconds.
    """

    task: str
    args: dict[str, Any] = attrs.field(factory=dict)
    delay: float | None = None
    run_at: dt.datetime | None = None
    priority: int | None = None
    unique_key: str | None = None
    max_attempts: int | None = None
    expires_at: dt.datetime | float | None = None
    expire_after: float | None = None
    unique_for: float | None = None
    on_conflict: OnConflict = "keep"
    concurrency_key: str | None = None


@attrs.frozen(kw_only=True)
class PushResponse:
    """The answer to ``POST /api/jobs``: the job as ``GET /api/jobs/{id}`` shows it, and
    ``unique``: whether the push ``inserted`` it, or found its unique key held and ``kept`` or
    ``replaced`` the holder (the job returned)."""

    id: int
    task: str
    args: Any
    state: str
    attempt: int
    max_attempts: int
    priority: int
    run_at: str
    created_at: str
    attempted_at: str | None
    finished_at: str | None
    unique_key: str | None
    expires_at: str | None
    rescues: int
    lease_owner: str | None
    lease_expires_at: str | None
    errors: list[dict[str, Any]]
    result: Any
    unique: Literal["inserted", "kept", "replaced"]


@blueprint.post("/api/jobs")
@admin_only
async def push_job() -> Response:
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
    answer = PushResponse(**push_json(pushed))
    response = jsonify(attrs.asdict(answer, recurse=False))
    # 201 for a new job; 200 when its unique key was held: the holder, kept or replaced.
    response.status_code = 201 if pushed.inserted else 200
    return response


@attrs.frozen(kw_only=True)
class CancelRequest:
    """``POST /api/jobs/{id}/cancel``: an optional reason (an empty body or reason: the
    default); kept to its first :data:`REASON_MAX` characters."""

    reason: str | None = None


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
            # "notice" says when the retry had to raise max_attempts (else null).
            return jsonify({**job_json(retried.row), "notice": retried.notice})
        reason = await _cancel_reason()
        row = await admin.cancel(job_id, reason)
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    except InvalidTransition as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return jsonify(job_json(row))


@blueprint.post("/api/jobs/<raw_id>/retry")
@admin_only
async def retry_job(raw_id: str) -> Response:
    return await _transition(raw_id, "retry")


@blueprint.post("/api/jobs/<raw_id>/cancel")
@admin_only
async def cancel_job(raw_id: str) -> Response:
    return await _transition(raw_id, "cancel")


@blueprint.get("/api/queues")
@admin_only
async def list_queues() -> Response:
    return jsonify({"queues": [queue_json(q) for q in await _admin().queues()]})


async def _set_paused(task: str, paused: bool) -> Response:
    admin = _admin()
    try:
        await (admin.pause(task) if paused else admin.resume(task))
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return jsonify(queue_json(await admin.queue(task)))


@blueprint.post("/api/queues/<task>/pause")
@admin_only
async def pause_queue(task: str) -> Response:
    return await _set_paused(task, True)


@blueprint.post("/api/queues/<task>/resume")
@admin_only
async def resume_queue(task: str) -> Response:
    return await _set_paused(task, False)


@blueprint.post("/api/queues/<task>/limits")
@admin_only
async def set_queue_limits(task: str) -> Response:
    """Override the task's limits in every process (applied within a second)."""
    body = await read_json()
    try:
        queue = await _admin().set_limits(task, body)
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except InvalidLimits as exc:
        raise ApiError(422, "invalid", "invalid limits", exc.fields) from None
    return jsonify(queue_json(queue))


@blueprint.delete("/api/queues/<task>/limits")
@admin_only
async def clear_queue_limits(task: str) -> Response:
    """Back to the code's limits, in every process within a second."""
    try:
        queue = await _admin().clear_limits(task)
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return jsonify(queue_json(queue))
@blueprint.get("/api/workers")
@admin_only
async def list_workers() -> Response:
    """``{"workers": [...]}``: every worker process recorded by its heartbeats, most recently
    seen first, each as ``worker_json`` shapes it (``status`` live, stopped or gone)."""
    rows = await _admin().workers()
    now = app_state().store.clock.now()
    return jsonify({"workers": [worker_json(row, now) for row in rows]})
