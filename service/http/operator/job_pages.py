"""The operator dashboard: HTML pages over the jobs, for a browser.

``GET /admin/login`` asks for ``SERVICE_ADMIN_TOKEN``; ``POST /admin/login`` checks it and sets
the session cookie (see :mod:`service.http.auth`). Every other ``/admin`` route takes that cookie
or ``Authorization: Bearer <token>``: a page without either answers 303 to ``/admin/login``, a
form post 401. Form posts are also refused (403) when their ``Origin`` is another site's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec
from urllib.parse import urlsplit

from quart import Blueprint, Response, request

from ...jobs import (
    CANCEL_REASON,
    InvalidTransition,
    JobAdmin,
    JobFilter,
    JobNotFound,
    JobState,
    WorkflowNotFound,
)
from ..plumbing.errors import ApiError
from ..plumbing.page_support import FORM_TYPE, html_response, read_form
from ..plumbing.request_state import app_state
from .auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    admin_token,
    dashboard_admin,
    session_value,
    token_matches,
)
from .job_html import error_page, job_page, jobs_page, login_page
from .job_views import job_id_param, workflow_id_param

blueprint = Blueprint("job_pages", __name__, url_prefix="/admin")

P = ParamSpec("P")
Handler = Callable[P, Awaitable[Response]]

LIST_LIMIT_DEFAULT = 100
#: Larger ``limit`` values are cut down to this.
LIST_LIMIT_MAX = 200


def _admin() -> JobAdmin:
    state = app_state()
    return state.admin()


def _see_other(location: str) -> Response:
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})


@blueprint.errorhandler(ApiError)
async def _api_error(error: ApiError) -> Response:
    return html_response(error_page(error.status, error.message), error.status, private=True)


def _same_site() -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
            return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def _check_form_post() -> None:
    if not _same_site():
        raise ApiError(403, "forbidden", "cross-site form posts are refused")


def page(handler: Handler[P]) -> Handler[P]:
    """A dashboard page: 303 to the login form unless the request is an operator's."""

    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        if not dashboard_admin():
            return _see_other("/admin/login")
        return await handler(*args, **kwargs)

    return guarded


def action(handler: Handler[P]) -> Handler[P]:
    """A dashboard form action: 403 from another site, 401 unless the request is an operator's."""

    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        _check_form_post()
        if not dashboard_admin():
            raise ApiError(401, "unauthorized", "log in at /admin/login first")
        return await handler(*args, **kwargs)

    return guarded


@blueprint.get("/")
async def admin_root() -> Response:
    """``/admin`` is the job listing."""
    return _see_other("/admin/jobs")


@blueprint.get("/login")
async def login_form() -> Response:
    """The token form, or the explanation that the dashboard is closed."""
    return html_response(login_page(closed=admin_token() is None), private=True)


@blueprint.post("/login")
async def login() -> Response:
    """Set the session cookie and 303 to the jobs for the right token; 401 with the form else."""
    _check_form_post()
    token = admin_token()
    if token is None:
        return html_response(login_page(closed=True), 401, private=True)
    form = await read_form()
    if not token_matches(form.get("token", "")):
        return html_response(login_page(closed=False, error="That is not the admin token."), 401,
                             private=True)
    response = _see_other("/admin/jobs")
    session = session_value(token, app_state().store.clock.now())
    response.set_cookie(SESSION_COOKIE, session, max_age=SESSION_MAX_AGE_S,
                        path="/admin", secure=request.scheme == "https", httponly=True,
                        samesite="Strict")
    return response


@blueprint.post("/logout")
@action
async def logout() -> Response:
    """Clear the session cookie and 303 to the login form."""
    response = _see_other("/admin/login")
    response.delete_cookie(SESSION_COOKIE, path="/admin", secure=request.scheme == "https",
                           httponly=True, samesite="Strict")
    return response


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise ApiError(400, "bad_request", f"{name}: expected a positive integer, got {raw!r}")
    return int(raw)


def _state_arg() -> JobState | None:
    raw = request.args.get("state", "")
    if raw == "":
        return None
    try:
        return JobState(raw)
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise ApiError(400, "bad_request", f"state: expected one of {known}, got {raw!r}") from None


@blueprint.get("/jobs")
@page
async def jobs_list() -> Response:
    """Jobs newest first, filtered by ``state`` and ``task``, with counts by state."""
    state = _state_arg()
    task = request.args.get("task") or None
    if task is not None and len(task) > 100:
        raise ApiError(400, "bad_request", "task: at most 100 characters")
    limit = min(_int_arg("limit", LIST_LIMIT_DEFAULT) or LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX)
    admin = _admin()
    rows = await admin.list(JobFilter(state=state, task=task, limit=limit + 1,
                                      before_id=_int_arg("before", None)))
    counts = await admin.counts(task)
    older = rows[limit - 1].id if len(rows) > limit else None
    listing = jobs_page(rows[:limit], counts=counts, state=state, task=task, limit=limit,
                        older=older)
    return html_response(listing, private=True)


async def _job_or_404(raw_id: str) -> Response:
    try:
        row = await _admin().get(job_id_param(raw_id))
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    return html_response(job_page(row), private=True)


@blueprint.get("/jobs/<raw_id>")
@page
async def job_detail(raw_id: str) -> Response:
    """One job with its payload, errors, result and lease; 404 page for an unknown id."""
    return await _job_or_404(raw_id)


async def _transition(raw_id: str, action_name: str) -> Response:
    admin = _admin()
    job_id = job_id_param(raw_id)
    try:
        if action_name == "retry":
            await admin.retry(job_id)
        else:
            form = await read_form() if request.mimetype == FORM_TYPE else {}
            reason = form.get("reason", "").strip()[:500] or CANCEL_REASON
            await admin.cancel(job_id, reason)
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {raw_id}") from None
    except InvalidTransition as exc:
        row = await admin.get(job_id)
        notice = f"Cannot {action_name} this job: {exc}"
        return html_response(job_page(row, notice=notice), 409, private=True)
    return _see_other(f"/admin/jobs/{job_id}")


@blueprint.post("/jobs/<raw_id>/retry")
@action
async def job_retry(raw_id: str) -> Response:
    """Make the job available now; 303 to its page, or its page with 409 when not allowed."""
    return await _transition(raw_id, "retry")


@blueprint.post("/jobs/<raw_id>/cancel")
@action
async def job_cancel(raw_id: str) -> Response:
    """Cancel the job (optional form field ``reason``); 303 to its page, or 409 as for retry."""
    return await _transition(raw_id, "cancel")


@blueprint.post("/workflows/<raw_id>/cancel")
@action
async def workflow_cancel(raw_id: str) -> Response:
    """Cancel every unfinished member of the workflow (form field ``job``: the member whose page
    the button was on, shown again after); 303 there, or to the jobs list."""
    workflow_id = workflow_id_param(raw_id)
    form = await read_form() if request.mimetype == FORM_TYPE else {}
    reason = form.get("reason", "").strip()[:500] or CANCEL_REASON
    try:
        await _admin().cancel_workflow(workflow_id, reason)
    except WorkflowNotFound:
        raise ApiError(404, "not_found", f"no workflow {raw_id}") from None
    job = form.get("job", "")
    if job.isascii() and job.isdigit() and len(job) <= 18:
        return _see_other(f"/admin/jobs/{int(job)}")
    return _see_other("/admin/jobs")
