"""Operator authentication: the bearer token, and the dashboard's session cookie derived from it.

The JSON operator API takes only ``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``. The HTML
dashboard (``/admin``) also takes the ``service_admin`` cookie that ``POST /admin/login`` sets:
the time it was issued and an HMAC-SHA256 of a fixed label and that time keyed by the token, so
the cookie never holds the token, needs no server-side session, stops working when the token
changes, and is refused by the server once it is :data:`SESSION_MAX_AGE_S` old (not only dropped
by the browser). Every comparison is constant-time. No token configured means both stay closed.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from quart import request

from ..plumbing.errors import ApiError
from ..plumbing.operations import BEARER_MARK
from ..plumbing.request_state import app_state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

P = ParamSpec("P")
R = TypeVar("R")

#: The dashboard's session cookie (scoped to ``Path=/admin``).
SESSION_COOKIE = "service_admin"
_SESSION_LABEL = b"service admin dashboard session v2"
#: How long a dashboard session lasts: the cookie's ``Max-Age``, and enforced on every request.
SESSION_MAX_AGE_S = 12 * 3600
#: A session issued this far ahead of this process's clock (another host's clock) still counts.
_SESSION_CLOCK_SKEW_S = 60


def admin_token() -> str | None:
    """The configured ``SERVICE_ADMIN_TOKEN``; None when unset (operator routes closed)."""
    return app_state().settings.admin_token or None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def token_matches(given: str) -> bool:
    """Whether ``given`` is the configured token (constant-time); always False when unset."""
    expected = admin_token()
    return expected is not None and _same(given, expected)


def _bearer_matches(expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and _same(token.strip(), expected)


def session_value(token: str, issued_at: float) -> str:
    """The session cookie's value for ``token`` issued at ``issued_at`` (epoch seconds):
    ``<whole seconds>.<HMAC-SHA256 of a fixed label and those seconds, as hex>``."""
    issued = int(issued_at)
    message = _SESSION_LABEL + b"|" + str(issued).encode()
    return f"{issued}.{hmac.new(token.encode(), message, hashlib.sha256).hexdigest()}"


def session_valid(cookie: str, token: str, now: float) -> bool:
    """Whether ``cookie`` is a session for ``token`` issued less than
    :data:`SESSION_MAX_AGE_S` before ``now`` (and not from the future)."""
    issued_text, dot, _ = cookie.partition(".")
    if not dot or not (issued_text.isascii() and issued_text.isdigit()) or len(issued_text) > 15:
        return False
    issued = int(issued_text)
    if not now - SESSION_MAX_AGE_S < issued <= now + _SESSION_CLOCK_SKEW_S:
        return False
    return _same(cookie, session_value(token, issued))


def dashboard_admin() -> bool:
    """Whether the request carries the bearer token or a live, valid session cookie."""
    expected = admin_token()
    if expected is None:
        return False
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None and session_valid(cookie, expected, app_state().store.clock.now()):
        return True
    return _bearer_matches(expected)


def check_admin() -> None:
    """401 unless the request carries ``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``."""
    expected = admin_token()
    if expected is None:
        raise ApiError(401, "unauthorized",
                       "the operator API is closed: no SERVICE_ADMIN_TOKEN is configured")
    if not _bearer_matches(expected):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token")


def admin_only(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Guard a JSON operator route with :func:`check_admin`."""

    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        check_admin()
        return await handler(*args, **kwargs)

    setattr(guarded, BEARER_MARK, True)  # the OpenAPI document's security requirement
    return guarded
