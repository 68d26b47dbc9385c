"""Server spans for HTTP requests, with the stable semantic-convention attributes.

An ASGI wrapper around the app starts the span (continuing a ``traceparent`` the client sent,
through the propagators ``OTEL_PROPAGATORS`` names) and keeps it current while quart-trio
handles the request -- its tasks start inside the wrapper and inherit the context -- so pushes
the handler makes are its children. Quart's ``after_request`` names the route, which only the
app knows.

Hand-written rather than ``opentelemetry-instrumentation-asgi``: that one writes the older
attribute names (``http.method``, ``http.target``) unless ``OTEL_SEMCONV_STABILITY_OPT_IN`` is
set, and cannot know the route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from quart import Response, request

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from opentelemetry.trace import Tracer
    from quart_trio import QuartTrio

    # Loose on purpose: quart types its ASGI callable with its own TypedDicts.
    Scope = Any
    Message = MutableMapping[str, Any]
    Receive = Any
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[..., Awaitable[None]]


def instrument_app(app: QuartTrio, tracer: Tracer) -> None:
    """Trace every HTTP request ``app`` serves with ``tracer``."""
    app.asgi_app = _TracedApp(app.asgi_app, tracer)  # type: ignore[method-assign,assignment]

    @app.after_request
    async def _name_route(response: Response) -> Response:
        if request.url_rule is not None:
            span = trace.get_current_span()
            span.set_attribute("http.route", request.url_rule.rule)
            span.update_name(f"{request.method} {request.url_rule.rule}")
        return response


class _TracedApp:
    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        with self.tracer.start_as_current_span(
            method, context=propagate.extract(headers), kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, traced_send)
