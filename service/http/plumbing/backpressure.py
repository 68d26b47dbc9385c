"""Request bodies that push back on the client: memory stays flat however slow the handler is.

quart buffers a request body without limit. Its ASGI receive loop
(``quart/asgi.py``, ``ASGIHTTPConnection.handle_messages``) appends every ``http.request``
message to the request's ``Body`` (``quart/wrappers/request.py``, ``Body.append``) as soon as
hypercorn delivers it and never waits for the handler, so a handler slower than the client --
an upload written to a slow disk, or only a thread hop per chunk -- lets the rest of the body
pile up in memory. hypercorn alone would push back: it queues at most
``config.max_app_queue_size`` messages for the app (``hypercorn/trio/task_group.py``), its
connection then stops reading the socket (``hypercorn/trio/tcp_server.py``), and TCP flow
control stops the client.

:func:`install_backpressure` restores that chain: the receive loop waits while the body holds
:data:`BODY_BUFFER_BYTES` the handler has not taken. Once the response starts, whatever the
client still sends is dropped instead, so the receive loop keeps draining hypercorn's queue:
hypercorn queues ``http.disconnect`` there after the response and blocks until it fits.

An answer that starts before the request's body has all arrived -- an early error, or a
handler that never reads the body (a form post it answers from its path and credentials) --
carries ``Connection: close``: hypercorn closes such a connection once the answer is sent (it
cannot tell where the next request would start), and a client that was not told reuses it
and loses its next request ("Server disconnected without sending a response").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody, TrioRequest

if TYPE_CHECKING:
    from collections.abc import Generator

    from hypercorn.typing import (
        ASGIReceiveCallable,
        ASGIReceiveEvent,
        ASGISendCallable,
        ASGISendEvent,
        HTTPResponseStartEvent,
    )
    from quart.wrappers import Request
    from quart_trio import QuartTrio

#: Body bytes held for the handler before the receive loop waits. hypercorn's queue and the
#: socket buffers hold a little more (its messages are at most 64 KiB each).
BODY_BUFFER_BYTES = 1024 * 1024


class BoundedBody(TrioBody):
    """A request body whose receive loop waits (:meth:`wait_for_room`) while it is full.

    ``async for chunk in body`` takes at most about :data:`BODY_BUFFER_BYTES` at a time.
    ``await body`` (the whole body at once) lifts the bound, as it must: the body cannot
    complete while the receive loop waits.
    """

    def __init__(
        self, expected_content_length: int | None, max_content_length: int | None
    ) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._bounded = True
        self._dropping = False
        self._room = trio.Event()
        #: The client's last body message has arrived (hypercorn has read the whole request).
        self.received_all = False

    def _wake(self) -> None:
        self._room.set()

    async def wait_for_room(self) -> None:
        """Return once the handler has taken enough that the next message may be appended."""
        while self._bounded and not self._dropping and len(self._data) >= BODY_BUFFER_BYTES:
            self._room = trio.Event()
            await self._room.wait()

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self._wake()
        return data

    def __await__(self) -> Generator[Any, None, Any]:
        self._bounded = False
        self._wake()
        return super().__await__()

    def append(self, data: bytes) -> None:
        if not self._dropping:
            super().append(data)

    def drop_rest(self) -> None:
        """Discard what is buffered and all that arrives from now on; the receive loop is freed."""
        self._dropping = True
        self._data.clear()
        self._wake()


class BoundedRequest(TrioRequest):
    """quart-trio's request with a :class:`BoundedBody`."""

    body_class = BoundedBody


class BackpressureHTTPConnection(TrioASGIHTTPConnection):
    """quart-trio's HTTP connection, receiving only while the body has room.

    When the response starts the body drops the rest of what the client sends: no handler of
    ours reads the request once it has answered.
    """

    async def handle_messages(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, receive: ASGIReceiveCallable
    ) -> None:
        body = request.body

        async def receive_when_room() -> ASGIReceiveEvent:
            if isinstance(body, BoundedBody):
                await body.wait_for_room()
            event = await receive()
            if (isinstance(body, BoundedBody) and event["type"] == "http.request"
                    and not event.get("more_body", False)):
                body.received_all = True
            return event

        await super().handle_messages(nursery, request, receive_when_room)

    async def handle_request(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, send: ASGISendCallable
    ) -> None:
        body = request.body
        # A request without a body leaves nothing unread, even when a quick handler answers
        # before the receive loop has taken its one (empty) message.
        sends_body = bool(request.content_length) or "chunked" in request.headers.get(
            "Transfer-Encoding", "").lower()

        async def send_dropping_rest(message: ASGISendEvent) -> None:
            if isinstance(body, BoundedBody):
                if (message["type"] == "http.response.start" and sends_body
                        and not body.received_all):
                    message = _closing(message)
                body.drop_rest()
            await send(message)

        await super().handle_request(nursery, request, send_dropping_rest)


def _closing(start: HTTPResponseStartEvent) -> HTTPResponseStartEvent:
    """``start`` saying ``Connection: close``."""
    headers = list(start["headers"])
    if not any(name.lower() == b"connection" for name, _ in headers):
        headers.append((b"connection", b"close"))
    return {**start, "headers": headers}


def install_backpressure(app: QuartTrio) -> None:
    """Make ``app`` read request bodies only as fast as its handlers take them."""
    app.request_class = BoundedRequest
    app.asgi_http_class = BackpressureHTTPConnection
