"""The operator API of schedules (``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``)."""

from __future__ import annotations

import attrs
from quart import Blueprint, Response

from ...jobs import ScheduleNotFound, ScheduleView, schedule_view
from ..plumbing.answers import json_answer
from ..plumbing.errors import ApiError
from ..plumbing.operations import Param, operation
from ..plumbing.request_state import app_state
from .auth import admin_only

blueprint = Blueprint("schedules_api", __name__)


@attrs.frozen(kw_only=True)
class ScheduleList:
    """Every schedule of the code, and stored ones the code no longer has (``orphaned``), by
    name."""

    schedules: list[ScheduleView]


NAME = Param(name="name", schema={"type": "string", "minLength": 1},
             description="A schedule's name: of the code, or stored (else 404).",
             example="cleanup-uploads")


@blueprint.get("/api/schedules")
@operation(summary="List schedules", tag="schedules", answers={200: ScheduleList})
@admin_only
async def list_schedules() -> Response:
    """Every schedule of the code, and stored ones the code no longer has (``orphaned``)."""
    schedules = await app_state().admin().schedules()
    return json_answer(ScheduleList(schedules=[schedule_view(s) for s in schedules]))


async def _set_paused(name: str, paused: bool) -> Response:
    admin = app_state().admin()
    try:
        summary = await (admin.pause_schedule(name) if paused else admin.resume_schedule(name))
    except ScheduleNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return json_answer(schedule_view(summary))


@blueprint.post("/api/schedules/<name>/pause")
@operation(summary="Pause a schedule", tag="schedules", answers={200: ScheduleView},
           path=(NAME,))
@admin_only
async def pause_schedule(name: str) -> Response:
    """No process pushes the schedule's ticks until it is resumed; 200 with the schedule."""
    return await _set_paused(name, True)


@blueprint.post("/api/schedules/<name>/resume")
@operation(summary="Resume a schedule", tag="schedules", answers={200: ScheduleView},
           path=(NAME,))
@admin_only
async def resume_schedule(name: str) -> Response:
    """Push again; the ticks missed while paused follow its ``catch_up`` policy."""
    return await _set_paused(name, False)
