"""The operator dashboard: login, and the job listing and detail pages with their actions.

``GET /admin/login`` asks for ``SERVICE_ADMIN_TOKEN``; ``POST /admin/login`` checks it and sets
the session cookie (see :mod:`service.http.auth`). Every other ``/admin`` route takes that cookie
or ``Authorization: Bearer <token>`` (see :mod:`.dashboard_guard`).
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from ...jobs import (
    CANCEL_REASON,
    BulkAction,
    BulkResult,
    InvalidTransition,
    JobNotFound,
    JobRow,
    Retried,
)
from ..plumbing.errors import ApiError
from ..plumbing.page_support import FORM_TYPE, html_response, read_form
from ..plumbing.request_state import app_state
from .auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    admin_token,
    session_value,
    token_matches,
)
from .dashboard_args import job_filter, positive_int, state_choice, task_arg
from .dashboard_guard import (
    action,
    check_form_post,
    dashboard_error,
    dashboard_page,
    job_admin,
    page,
    see_other,
)
from .job_html import job_page, jobs_page, login_page
from .job_views import job_id_param

blueprint = Blueprint("job_pages", __name__, url_prefix="/admin")
blueprint.register_error_handler(ApiError, dashboard_error)

LIST_LIMIT_DEFAULT = 100
#: Larger ``limit`` values are cut down to this.
LIST_LIMIT_MAX = 200


@blueprint.get("/")
async def admin_root() -> Response:
    """``/admin`` is the job listing."""
    return see_other("/admin/jobs")


@blueprint.get("/login")
async def login_form() -> Response:
    """The token form, or the explanation that the dashboard is closed."""
    return html_response(login_page(closed=admin_token() is None), private=True)


@blueprint.post("/login")
async def login() -> Response:
    """Set the session cookie and 303 to the jobs for the right token; 401 with the form else."""
    check_form_post()
    token = admin_token()
    if token is None:
        return html_response(login_page(closed=True), 401, private=True)
    form = await read_form()
    if not token_matches(form.get("token", "")):
        return html_response(login_page(closed=False, error="That is not the admin token."), 401,
                             private=True)
    response = see_other("/admin/jobs")
    session = session_value(token, app_state().store.clock.now())
    response.set_cookie(SESSION_COOKIE, session, max_age=SESSION_MAX_AGE_S,
                        path="/admin", secure=request.scheme == "https", httponly=True,
                        samesite="Strict")
    return response


@blueprint.post("/logout")
@action
async def logout() -> Response:
    """Clear the session cookie and 303 to the login form."""
    response = see_other("/admin/login")
    response.delete_cookie(SESSION_COOKIE, path="/admin", secure=request.scheme == "https",
                           httponly=True, samesite="Strict")
    return response


def _bulk_notice() -> str | None:
    """The outcome of a bulk action the listing was redirected from (``done=...``)."""
    args = request.args
    try:
        done = BulkAction(args.get("done", ""))
    except ValueError:
        return None
    counts = {name: int(raw) if (raw := args.get(name, "0")).isascii() and raw.isdigit()
              and len(raw) <= 18 else 0 for name in ("changed", "skipped", "raised")}
    return BulkResult(action=done, **counts).summary


@blueprint.get("/jobs")
@page
async def jobs_list() -> Response:
    """Jobs newest first, filtered by ``state`` (a state, or ``failed``) and ``task``, with
    counts by state; pages with ``cursor`` (the API's name; ``before`` still works)."""
    args = request.args
    choice = state_choice(args)
    task = task_arg(args)
    limit = min(positive_int(args, "limit", LIST_LIMIT_DEFAULT) or LIST_LIMIT_DEFAULT,
                LIST_LIMIT_MAX)
    cursor = positive_int(args, "cursor", None) or positive_int(args, "before", None)
    admin = job_admin()
    rows = await admin.list(job_filter(choice, task, limit=limit + 1, before_id=cursor))
    counts = await admin.counts(task)
    older = rows[limit - 1].id if len(rows) > limit else None
    listing = jobs_page(rows[:limit], counts=counts, choice=choice, task=task, limit=limit,
                        older=older, message=_bulk_notice())
    return dashboard_page(listing)


def _retried_notice(row: JobRow) -> str | None:
    """The notice of a retry that raised ``row``'s ``max_attempts`` (``raised_from=N`` in the
    URL it was redirected to); the numbers in it are the row's own but that one."""
    raised_from = positive_int(request.args, "raised_from", None)
    if raised_from is None or raised_from >= row.max_attempts:
        return None
    return Retried(row=row, raised_from=raised_from).notice


async def _job_or_404(raw_id: str) -> Response:
    try:
        row = await job_admin().get(job_id_param(raw_id))
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    return dashboard_page(job_page(row, message=_retried_notice(row)))


@blueprint.get("/jobs/<raw_id>")
@page
async def job_detail(raw_id: str) -> Response:
    """One job with its payload, errors, result and lease; 404 page for an unknown id."""
    return await _job_or_404(raw_id)


async def _transition(raw_id: str, action_name: str) -> Response:
    admin = job_admin()
    job_id = job_id_param(raw_id)
    try:
        if action_name == "retry":
            retried = await admin.retry_explained(job_id)
            if retried.raised_from is not None:  # the job page says so
                return see_other(f"/admin/jobs/{job_id}?raised_from={retried.raised_from}")
        else:
            form = await read_form() if request.mimetype == FORM_TYPE else {}
            reason = form.get("reason", "").strip()[:500] or CANCEL_REASON
            await admin.cancel(job_id, reason)
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    except InvalidTransition as exc:
        row = await admin.get(job_id)
        message = f"Cannot {action_name} this job: {exc}"
        return dashboard_page(job_page(row, message=message), 409)
    return see_other(f"/admin/jobs/{job_id}")


@blueprint.post("/jobs/<raw_id>/retry")
@action
async def job_retry(raw_id: str) -> Response:
    """Make the job available now; 303 to its page (saying so when the retry raised
    ``max_attempts``), or its page with 409 when not allowed."""
    return await _transition(raw_id, "retry")


@blueprint.post("/jobs/<raw_id>/cancel")
@action
async def job_cancel(raw_id: str) -> Response:
    """Cancel the job (optional form field ``reason``); 303 to its page, or 409 as for retry."""
    return await _transition(raw_id, "cancel")
