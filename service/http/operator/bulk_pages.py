"""Bulk actions on what the job listing's filter selects: a confirmation page showing the count
(``GET /admin/jobs/bulk``), then the action itself (``POST /admin/jobs/bulk``), run by the
engine in batches (``JobAdmin.bulk``).

The confirmation fixes the newest job id it counted (``upto``): jobs pushed after it was shown
are never touched by the action it confirms.
"""

from __future__ import annotations

from urllib.parse import urlencode

from quart import Blueprint, Response, request

from ...jobs import CANCEL_REASON, BulkAction
from ..plumbing.errors import ApiError
from ..plumbing.page_support import read_form
from .bulk_html import bulk_page
from .dashboard_args import job_filter, positive_int, state_choice, task_arg
from .dashboard_guard import action, dashboard_error, dashboard_page, job_admin, page, see_other
from .job_html import choice_value

blueprint = Blueprint("bulk_pages", __name__, url_prefix="/admin")
blueprint.register_error_handler(ApiError, dashboard_error)

REASON_MAX = 500


def _action(values: dict[str, str]) -> BulkAction:
    raw = values.get("action", "")
    try:
        return BulkAction(raw)
    except ValueError:
        known = ", ".join(a.value for a in BulkAction)
        raise ApiError(400, "bad_request",
                       f"action: expected one of {known}, got {raw!r}") from None


@blueprint.get("/jobs/bulk")
@page
async def bulk_confirm() -> Response:
    """How many jobs ``action`` would change among those ``state`` and ``task`` select, and the
    button that does it."""
    args = dict(request.args)
    bulk = _action(args)
    choice, task = state_choice(args), task_arg(args)
    admin = job_admin()
    upto = await admin.newest_id()
    count = 0 if upto is None else await admin.bulk_count(
        bulk, job_filter(choice, task, before_id=upto + 1))
    return dashboard_page(bulk_page(bulk, choice=choice, task=task, count=count, upto=upto))


@blueprint.post("/jobs/bulk")
@action
async def bulk_run() -> Response:
    """Run the confirmed action on every job the filter selects up to job ``upto``; 303 to the
    listing, which says what was done."""
    form = await read_form()
    bulk = _action(form)
    choice, task = state_choice(form), task_arg(form)
    upto = positive_int(form, "upto", None)
    if upto is None:
        raise ApiError(400, "bad_request", "upto: the confirmation page's newest job id is missing")
    reason = form.get("reason", "").strip()[:REASON_MAX] or CANCEL_REASON
    result = await job_admin().bulk(bulk, job_filter(choice, task, before_id=upto + 1), reason)
    query = {"state": choice_value(choice), "task": task, "done": bulk.value,
             "changed": result.changed, "skipped": result.skipped, "raised": result.raised}
    return see_other("/admin/jobs?" + urlencode({k: v for k, v in query.items()
                                                 if v is not None}))
