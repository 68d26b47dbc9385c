"""ASGI middleware around the app: each request's id from its first byte, and a log line for a
request whose answer never finished.

The app logs ``http.request`` when it has its response (quart's ``after_request``). A request the
server cuts off never gets there: on shutdown hypercorn lets requests in flight run for the grace
period, then cancels them, and a client may hang up mid-answer. :class:`InFlight` sees every
request from outside the app, so it logs those as ``http.cut`` -- method, path, request id, how
long the request ran (``ms``), the status if the answer had started, and ``reason``
(``shutdown`` while the server is stopping, ``error`` if the app itself raised, else
``disconnected``) -- and then lets the cancellation go on.

The request id is chosen here (from a sane ``X-Request-ID``, else a new one, see
:mod:`.request_id`) and kept in the ASGI scope, so the app's log lines, its error bodies and
``http.cut`` all name the same id.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ...jobs import emit
from .request_id import HEADER, SCOPE_KEY, choose

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Scope = dict[str, Any]
    Message = dict[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[..., Awaitable[None]]  # quart's own signature is narrower

logger = logging.getLogger("service.http")

_HEADER = HEADER.lower().encode("latin-1")


class InFlight:
    """``app`` with request ids and ``http.cut`` lines; ``stopping`` is set when the server
    starts its graceful shutdown (it names the reason of a cut)."""

    def __init__(self, app: ASGIApp, stopping: trio.Event | None = None) -> None:
        self.app = app
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                     if name.lower() == _HEADER), None)
        scope[SCOPE_KEY] = choose(sent)
        started = trio.current_time()
        status: int | None = None
        finished = False

        async def tracked_send(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        reason = "disconnected"  # the app returned without finishing: the client hung up
        try:
            await self.app(scope, receive, tracked_send)
        except BaseException as exc:
            cancelled = isinstance(exc, trio.Cancelled) or (
                isinstance(exc, BaseExceptionGroup) and exc.split(trio.Cancelled)[1] is None)
            reason = "disconnected" if cancelled else "error"
            raise
        finally:
            if not finished:
                if self.stopping is not None and self.stopping.is_set() and reason != "error":
                    reason = "shutdown"
                self._cut(scope, trio.current_time() - started, status, reason)

    def _cut(self, scope: Scope, seconds: float, status: int | None, reason: str) -> None:
        emit(logger, logging.WARNING, "http.cut", method=scope.get("method"),
             path=scope.get("path"), request_id=scope[SCOPE_KEY], ms=round(seconds * 1000, 2),
             status=status, reason=reason)
