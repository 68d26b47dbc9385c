"""The dashboard's queues page (``GET /admin/queues``) and its Pause / Resume buttons
(``POST /admin/queues/pause`` and ``/resume``, form field ``task``), over ``JobAdmin``."""

from __future__ import annotations

from urllib.parse import urlencode

from quart import Blueprint, Response, request

from ...jobs import QueueNotFound
from ..plumbing.errors import ApiError
from ..plumbing.page_support import read_form
from .dashboard_args import TASK_MAX
from .dashboard_guard import action, dashboard_error, dashboard_page, job_admin, page, see_other
from .queue_html import queues_page

blueprint = Blueprint("queue_pages", __name__, url_prefix="/admin")
blueprint.register_error_handler(ApiError, dashboard_error)

_DONE = {"pause": "paused", "resume": "resumed"}


@blueprint.get("/queues")
@page
async def queues() -> Response:
    """Every queue (jobs by state, concurrency, paused) under the last hour's throughput."""
    admin = job_admin()
    done, task = request.args.get("done"), request.args.get("task", "")
    message = f"Queue {task} {_DONE[done]}." if done in _DONE and task else None
    return dashboard_page(queues_page(await admin.queues(), await admin.throughput(),
                                      message=message))


async def _set_paused(verb: str) -> Response:
    task = (await read_form()).get("task", "")
    if not task or len(task) > TASK_MAX:
        raise ApiError(400, "bad_request", f"task: expected a task name of 1 to {TASK_MAX}"
                       " characters")
    admin = job_admin()
    try:
        await (admin.pause(task) if verb == "pause" else admin.resume(task))
    except QueueNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    # The queues page says what was done.
    return see_other("/admin/queues?" + urlencode({"done": verb, "task": task}))


@blueprint.post("/queues/pause")
@action
async def pause() -> Response:
    """Stop every process claiming jobs of the form's ``task``; 303 to the queues page."""
    return await _set_paused("pause")


@blueprint.post("/queues/resume")
@action
async def resume() -> Response:
    """Let jobs of the form's ``task`` be claimed again; 303 to the queues page."""
    return await _set_paused("resume")
