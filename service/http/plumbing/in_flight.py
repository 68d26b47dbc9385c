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

It also caps the requests handled at once (``SERVICE_HTTP_MAX_IN_FLIGHT``): a request beyond
the cap is answered 503 ``unavailable`` with ``Retry-After: 1`` at once, before the app sees
it, so an overloaded server sheds load in microseconds instead of queueing without bound. The
probes and ``/metrics`` (:data:`UNCAPPED`) are never refused. Shed requests are counted in
``service_http_requests_total`` (route ``overloaded``) and logged as one ``http.shed`` warning
a second at most, with how many were shed since the last one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from ...jobs import emit
from .request_id import HEADER, SCOPE_KEY, STARTED_KEY, choose

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Scope = dict[str, Any]
    Message = dict[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[..., Awaitable[None]]  # quart's own signature is narrower

    from ...metrics import Metrics

logger = logging.getLogger("service.http")

_HEADER = HEADER.lower().encode("latin-1")


#: Paths never refused for overload: liveness and readiness probes, and the metrics scrape.
UNCAPPED = frozenset({"/healthz", "/readyz", "/metrics"})
#: Seconds a client is told to wait (``Retry-After``) when a request is shed.
RETRY_AFTER_S = 1
_SHED_LOG_INTERVAL_S = 1.0
#: A refused request's body up to this size is read and dropped, keeping the connection.
DRAIN_BYTES = 64 * 1024


async def _drained(scope: Scope, receive: Receive) -> bool:
    """Read the request's body if it is at most :data:`DRAIN_BYTES`; whether it was."""
    length = 0
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            return False
        if lowered == b"content-length":
            length = int(value) if value.strip().isdigit() else DRAIN_BYTES + 1
    if length > DRAIN_BYTES:
        return False
    taken = 0
    while taken < length:
        message = await receive()
        if message["type"] != "http.request":
            return False  # the client went away
        taken += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return True


class InFlight:
    """``app`` with request ids, ``http.cut`` lines and at most ``max_in_flight`` requests at
    once (None: no cap); ``stopping`` is set when the server starts its graceful shutdown (it
    names the reason of a cut); ``metrics`` count the requests shed."""

    def __init__(self, app: ASGIApp, stopping: trio.Event | None = None, *,
                 max_in_flight: int | None = None, metrics: Metrics | None = None) -> None:
        self.app = app
        self.stopping = stopping
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.in_flight = 0
        self._shed = 0
        self._shed_logged_at = -float("inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value.decode("latin-1") for name, value in scope.get("headers", ())
                     if name.lower() == _HEADER), None)
        scope[SCOPE_KEY] = choose(sent)
        scope[STARTED_KEY] = time.perf_counter()
        if (self.max_in_flight is not None and self.in_flight >= self.max_in_flight
                and scope.get("path") not in UNCAPPED):
            await self._refuse(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._tracked(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _tracked(self, scope: Scope, receive: Receive, send: Send) -> None:
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """503 ``unavailable`` with ``Retry-After``, the body an ``ErrorAnswer``.

        A small request body (up to :data:`DRAIN_BYTES`, a push) is read and dropped first, so
        the connection stays open for the retry: a reconnect costs an overloaded server more
        than the read. A bigger or chunked body is left unread and the connection closes.
        """
        request_id = scope[SCOPE_KEY]
        body = json.dumps({"error": {
            "code": "unavailable",
            "message": "the server is handling as many requests as it may"
                       f" (SERVICE_HTTP_MAX_IN_FLIGHT={self.max_in_flight}): retry after"
                       f" {RETRY_AFTER_S} s",
            "request_id": request_id}}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"retry-after", str(RETRY_AFTER_S).encode()),
                   (HEADER.lower().encode(), request_id.encode()),
                   (b"x-content-type-options", b"nosniff")]
        if not await _drained(scope, receive):
            headers.append((b"connection", b"close"))
        self._count_shed(scope)
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _count_shed(self, scope: Scope) -> None:
        if self.metrics is not None:
            self.metrics.http_requests.inc(method=scope.get("method", ""), route="overloaded",
                                           status="503")
        self._shed += 1
        now = trio.current_time()
        if now - self._shed_logged_at >= _SHED_LOG_INTERVAL_S:
            emit(logger, logging.WARNING, "http.shed", shed=self._shed,
                 max_in_flight=self.max_in_flight, retry_after=RETRY_AFTER_S)
            self._shed = 0
            self._shed_logged_at = now

    def _cut(self, scope: Scope, seconds: float, status: int | None, reason: str) -> None:
        emit(logger, logging.WARNING, "http.cut", method=scope.get("method"),
             path=scope.get("path"), request_id=scope[SCOPE_KEY], ms=round(seconds * 1000, 2),
             status=status, reason=reason)
