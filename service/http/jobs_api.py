"""The operator API: jobs and queues (``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from quart import Blueprint, Response, jsonify, request

from ..jobs import InvalidTransition, JobNotFound, JobState, Push, UnknownTask
from ..jobs.codec import structure as structure_payload
from ..jobs.errors import PayloadError
from ..jobs.push import build_insert
from ..jobs.store import JobFilter
from .app import app_state
from .auth import admin_only
from .bodies import read_json, structure
from .errors import ApiError
from .job_views import CANCEL_REASON, job_id_param, job_json

blueprint = Blueprint("jobs_api", __name__)

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500


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
    rows = await app_state().store.job_list(
        JobFilter(state=state, task=task, limit=limit + 1, before_id=cursor)
    )
    page = rows[:limit]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    return jsonify({"jobs": [job_json(r) for r in page], "next": next_cursor})


@blueprint.get("/api/jobs/<raw_id>")
@admin_only
async def get_job(raw_id: str) -> Response:
    try:
        row = await app_state().store.job_get(job_id_param(raw_id))
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    return jsonify(job_json(row))


@attrs.frozen(kw_only=True)
class PushRequest:
    task: str
    args: dict[str, Any] = attrs.field(factory=dict)
    delay: float | None = None
    run_at: dt.datetime | None = None
    priority: int | None = None
    unique_key: str | None = None
    max_attempts: int | None = None


@blueprint.post("/api/jobs")
@admin_only
async def push_job() -> Response:
    body = structure(await read_json(), PushRequest, what="job")
    state = app_state()
    try:
        cls = state.registry.get(body.task)
    except UnknownTask:
        raise ApiError(422, "invalid", f"unknown task {body.task!r}", {
            "$.task": f"unknown task {body.task!r}; known: {', '.join(state.registry.names())}"
        }) from None
    try:
        task = structure_payload(body.args, cls, name=body.task)
    except PayloadError as exc:
        raise _args_error(body.task, exc) from None
    request_push = Push(task=task, delay=body.delay, run_at=body.run_at, priority=body.priority,
                        unique_key=body.unique_key, max_attempts=body.max_attempts)
    try:
        insert = build_insert(request_push, state.store.clock.now())
    except PayloadError as exc:  # the task built from the args would not decode again
        raise _args_error(body.task, exc) from None
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc), {_option_field(str(exc)): str(exc)}) from None
    [result] = await state.store.job_insert_many([insert])
    row = await state.store.job_get(result.id)
    response = jsonify(job_json(row))
    # 201 for a new job; 200 when a unique key matched an unfinished job, which is returned.
    response.status_code = 201 if result.inserted else 200
    return response


def _args_error(task: str, exc: PayloadError) -> ApiError:
    fields = {"$.args" + path.removeprefix("$"): problem for path, problem in exc.fields.items()}
    return ApiError(422, "invalid", f"args do not fit task {task!r}", fields)


def _option_field(message: str) -> str:
    for name in ("delay", "run_at", "priority", "unique_key", "max_attempts"):
        if message.startswith(name) or f" {name}" in message:
            return f"$.{name}"
    return "$"


async def _transition(raw_id: str, action: str) -> Response:
    state = app_state()
    job_id = job_id_param(raw_id)
    now = state.store.clock.now()
    try:
        if action == "retry":
            row = await state.store.job_retry(job_id, now)
        else:
            reason = CANCEL_REASON
            if request.content_length:
                payload = await read_json()
                if isinstance(payload, dict) and isinstance(payload.get("reason"), str):
                    reason = payload["reason"][:500] or reason
            row = await state.store.job_cancel(job_id, now, reason)
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


async def _queues() -> list[dict[str, Any]]:
    state = app_state()
    counts = await state.store.job_count_by_state()
    paused = await state.store.queue_paused()
    names = sorted({*state.registry.names(), *(task for task, _ in counts)})
    queues = []
    for name in names:
        by_state = {s.value: counts.get((name, s), 0) for s in JobState}
        concurrency = (
            state.registry.get(name).options.concurrency if name in state.registry else None
        )
        queues.append({"task": name, "registered": name in state.registry,
                       "concurrency": concurrency, "paused": name in paused,
                       "counts": by_state})
    return queues


@blueprint.get("/api/queues")
@admin_only
async def list_queues() -> Response:
    return jsonify({"queues": await _queues()})


async def _set_paused(task: str, paused: bool) -> Response:
    state = app_state()
    if task not in state.registry:
        raise ApiError(404, "not_found", f"no queue {task!r}: not a registered task")
    await state.store.queue_set_paused(task, paused)
    [queue] = [q for q in await _queues() if q["task"] == task]
    return jsonify(queue)


@blueprint.post("/api/queues/<task>/pause")
@admin_only
async def pause_queue(task: str) -> Response:
    return await _set_paused(task, True)


@blueprint.post("/api/queues/<task>/resume")
@admin_only
async def resume_queue(task: str) -> Response:
    return await _set_paused(task, False)
