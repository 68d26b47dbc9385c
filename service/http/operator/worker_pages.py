"""The dashboard's workers page (``GET /admin/workers``), from ``JobAdmin.workers`` (the JSON
list, ``GET /api/workers``, is in :mod:`.jobs_api`)."""

from __future__ import annotations

from quart import Blueprint, Response

from ...jobs import WorkerConfig
from ..plumbing.errors import ApiError
from ..plumbing.request_state import app_state
from .dashboard_guard import dashboard_error, dashboard_page, job_admin, page
from .worker_html import workers_page

blueprint = Blueprint("worker_pages", __name__)
blueprint.register_error_handler(ApiError, dashboard_error)


@blueprint.get("/admin/workers")
@page
async def workers() -> Response:
    """Every recorded worker process: live, stopped or gone."""
    rows = await job_admin().workers()
    now = app_state().store.clock.now()
    return dashboard_page(workers_page(rows, now, retention=WorkerConfig().worker_retention))

