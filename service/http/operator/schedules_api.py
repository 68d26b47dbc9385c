"""The operator API of schedules (``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ...jobs import ScheduleNotFound, schedule_json
from ..plumbing.errors import ApiError
from ..plumbing.request_state import app_state
from .auth import admin_only

blueprint = Blueprint("schedules_api", __name__)


@blueprint.get("/api/schedules")
@admin_only
async def list_schedules() -> Response:
    """Every schedule of the code, and stored ones the code no longer has (``orphaned``)."""
    schedules = await app_state().admin().schedules()
    return jsonify({"schedules": [schedule_json(s) for s in schedules]})


async def _set_paused(name: str, paused: bool) -> Response:
    admin = app_state().admin()
    try:
        summary = await (admin.pause_schedule(name) if paused else admin.resume_schedule(name))
    except ScheduleNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return jsonify(schedule_json(summary))


@blueprint.post("/api/schedules/<name>/pause")
@admin_only
async def pause_schedule(name: str) -> Response:
    """No process pushes the schedule's ticks until it is resumed; 200 with the schedule."""
    return await _set_paused(name, True)


@blueprint.post("/api/schedules/<name>/resume")
@admin_only
async def resume_schedule(name: str) -> Response:
    """Push again; the ticks missed while paused follow its ``catch_up`` policy."""
    return await _set_paused(name, False)
