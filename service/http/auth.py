"""Bearer-token protection of the operator routes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import request

from .app import app_state
from .errors import ApiError

P = ParamSpec("P")
R = TypeVar("R")


def check_admin() -> None:
    """401 unless the request carries ``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``."""
    expected = app_state().settings.admin_token
    if not expected:
        raise ApiError(401, "unauthorized",
                       "the operator API is closed: no SERVICE_ADMIN_TOKEN is configured")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token")


def admin_only(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @wraps(handler)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        check_admin()
        return await handler(*args, **kwargs)

    return guarded
