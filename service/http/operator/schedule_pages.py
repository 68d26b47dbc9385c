"""The dashboard's schedules page: ``GET /admin/schedules``, and pause/resume form posts."""

from __future__ import annotations

from quart import Blueprint, Response

from ...jobs import ScheduleNotFound
from ..plumbing.errors import ApiError
from ..plumbing.request_state import app_state
from .dashboard_guard import action, dashboard_error, dashboard_page, page
from .schedule_html import schedules_page

blueprint = Blueprint("schedule_pages", __name__, url_prefix="/admin")


blueprint.register_error_handler(ApiError, dashboard_error)


@blueprint.get("/schedules")
@page
async def schedules_list() -> Response:
    """Every schedule: its cron, time zone, next run, last tick and job, paused or orphaned."""
    schedules = await app_state().admin().schedules()
    return dashboard_page(schedules_page(schedules))


async def _set_paused(name: str, paused: bool) -> Response:
    admin = app_state().admin()
    try:
        await (admin.pause_schedule(name) if paused else admin.resume_schedule(name))
    except ScheduleNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return Response("", status=303,
                    headers={"Location": "/admin/schedules", "Cache-Control": "no-store"})


@blueprint.post("/schedules/<name>/pause")
@action
async def schedule_pause(name: str) -> Response:
    """Pause the schedule; 303 back to the schedules page (404 page for an unknown name)."""
    return await _set_paused(name, True)


@blueprint.post("/schedules/<name>/resume")
@action
async def schedule_resume(name: str) -> Response:
    """Resume the schedule; 303 back to the schedules page."""
    return await _set_paused(name, False)
