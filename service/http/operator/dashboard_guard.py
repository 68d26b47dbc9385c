"""What every dashboard route shares: who may see a page or post a form, and how it answers.

A page without the session cookie or bearer token answers 303 to ``/admin/login``, a form post
401. Form posts are also refused (403) when their ``Origin`` is another site's. Errors are
answered as an HTML page (:func:`dashboard_error`, which each dashboard blueprint registers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec
from urllib.parse import urlsplit

from quart import Response, request

from ..plumbing.errors import ApiError
from ..plumbing.page_support import html_response
from ..plumbing.request_state import app_state
from .auth import dashboard_admin
from .dashboard_html import error_page

if TYPE_CHECKING:
    from ...jobs import JobAdmin

P = ParamSpec("P")
Handler = Callable[P, Awaitable[Response]]


def job_admin() -> JobAdmin:
    """The engine's operator operations on this app's store, tasks and schedules."""
    return app_state().admin()


def see_other(location: str) -> Response:
    """303 to ``location`` (after a form post, or to the login form)."""
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})


def dashboard_page(text: str, status: int = 200) -> Response:
    """A dashboard page: never cached, and allowed the live-refresh script."""
    return html_response(text, status, private=True, scripts=True)


async def dashboard_error(error: ApiError) -> Response:
    """An :class:`ApiError` raised by a dashboard route, as an HTML page."""
    return dashboard_page(error_page(error.status, error.message), error.status)


def same_site() -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
            return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def check_form_post() -> None:
    """403 unless the form post comes from this site."""
    if not same_site():
        raise ApiError(403, "forbidden", "cross-site form posts are refused")


def page(handler: Handler[P]) -> Handler[P]:
    """A dashboard page: 303 to the login form unless the request is an operator's."""

    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        if not dashboard_admin():
            return see_other("/admin/login")
        return await handler(*args, **kwargs)

    return guarded


def action(handler: Handler[P]) -> Handler[P]:
    """A dashboard form action: 403 from another site, 401 unless the request is an operator's."""

    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        check_form_post()
        if not dashboard_admin():
            raise ApiError(401, "unauthorized", "log in at /admin/login first")
        return await handler(*args, **kwargs)

    return guarded
