"""Request-body backpressure (``service.http.plumbing.backpressure``) on a bare quart-trio app.

The app is called as hypercorn calls it: request messages come through a queue of
``max_app_queue_size`` messages, and once the response is complete ``http.disconnect`` is put
on that same queue, waiting until it fits.
"""

from __future__ import annotations

from typing import cast

import attrs
import trio
import trio.testing
from hypercorn.config import Config
from hypercorn.typing import ASGIReceiveEvent, ASGISendEvent, HTTPScope
from quart import request
from quart_trio import QuartTrio

from service.http.plumbing.backpressure import BODY_BUFFER_BYTES, install_backpressure

CHUNK = 64 * 1024  # what hypercorn's trio server reads from a socket at a time
QUEUE = Config().max_app_queue_size
#: All the body a stalled handler may leave unread: the body's buffer plus hypercorn's queue.
HELD_MAX = BODY_BUFFER_BYTES + (QUEUE + 2) * CHUNK


@attrs.define
class Client:
    """A client streaming ``total`` bytes (forever if None) into the app, as hypercorn would."""

    total: int | None
    sent: int = 0
    status: int | None = None
    body: bytes = b""

    async def run(self, app: QuartTrio, path: str) -> None:
        to_app, from_client = trio.open_memory_channel[ASGIReceiveEvent](QUEUE)
        scope = cast("HTTPScope", {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 80), "extensions": {}, "state": {},
            "headers": [(b"host", b"test"), (b"transfer-encoding", b"chunked")],
        })

        async def send(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")
                if not message.get("more_body", False):
                    await to_app.send({"type": "http.disconnect"})

        async def stream_body() -> None:
            data = bytes(CHUNK)
            while self.total is None or self.sent < self.total:
                await to_app.send({"type": "http.request", "body": data, "more_body": True})
                self.sent += CHUNK
            await to_app.send({"type": "http.request", "body": b"", "more_body": False})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream_body)
            await app(scope, from_client.receive, send)
            nursery.cancel_scope.cancel()


def make_app(*, backpressure: bool, release: trio.Event) -> QuartTrio:
    app = QuartTrio(__name__)
    if backpressure:
        install_backpressure(app)

    @app.post("/stall")
    async def stall() -> str:
        """Takes one chunk, then waits for ``release`` before reading the rest."""
        total = 0
        async for chunk in request.body:
            total += len(chunk)
            await release.wait()
        return str(total)

    @app.post("/refuse")
    async def refuse() -> tuple[str, int]:
        """Answers without reading, once the body and hypercorn's queue are full."""
        await trio.testing.wait_all_tasks_blocked()
        return "too large", 413

    @app.post("/whole")
    async def whole() -> str:
        return str(len(await request.get_data()))

    return app


async def _stalled(backpressure: bool) -> tuple[int, Client]:
    """How much of a 64 MiB body the app took in while its handler stalled; then the answer."""
    release = trio.Event()
    client = Client(total=64 * 1024 * 1024)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run, make_app(backpressure=backpressure, release=release),
                           "/stall")
        await trio.testing.wait_all_tasks_blocked()
        taken_while_stalled = client.sent
        release.set()
    return taken_while_stalled, client


async def test_a_stalled_handler_leaves_the_client_waiting_not_the_body_buffered() -> None:
    with trio.fail_after(10):
        taken, client = await _stalled(backpressure=True)
    assert taken <= HELD_MAX
    assert (client.status, client.body) == (200, str(client.total).encode())


async def test_plain_quart_trio_buffers_all_that_a_stalled_handler_has_not_read() -> None:
    """Why the backpressure exists: if this fails, quart-trio has learnt to push back."""
    with trio.fail_after(10):
        taken, client = await _stalled(backpressure=False)
    assert taken == client.total


async def test_an_answer_before_the_body_is_read_drops_the_rest_and_the_request_ends() -> None:
    client = Client(total=None)
    with trio.fail_after(10):
        await client.run(make_app(backpressure=True, release=trio.Event()), "/refuse")
    assert (client.status, client.body) == (413, b"too large")


async def test_reading_the_whole_body_at_once_still_works_past_the_buffer() -> None:
    client = Client(total=4 * BODY_BUFFER_BYTES)
    with trio.fail_after(10):
        await client.run(make_app(backpressure=True, release=trio.Event()), "/whole")
    assert (client.status, client.body) == (200, str(client.total).encode())
