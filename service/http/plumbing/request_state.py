"""The request's state accessor: the ``AppState`` of the app serving the current request.

A leaf module, so that every blueprint can reach the state without importing the app factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import current_app

if TYPE_CHECKING:
    from ...state import AppState

#: The key under which :func:`service.http.app.create_app` stores the state.
STATE_KEY = "service"


def app_state() -> AppState:
    """The ``AppState`` of the app serving the current request."""
    return cast("AppState", current_app.extensions[STATE_KEY])
