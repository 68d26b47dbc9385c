"""A request head's own deadline, apart from the keep-alive timer (hypercorn 0.18 under trio).

hypercorn has one idle timer per connection, ``keep_alive_timeout``, running from the
connection's start and again from each response's end until a request head is complete. One
number then decides two things that want different values: how long an idle keep-alive
connection may stay open (long: a load balancer reuses its pooled connections for up to 60 s,
and a server that closes one under it makes it answer 502) and how long a client may take to
send a request head (short: slowloris clients hold a connection by sending it a byte at a time).

This splits them. The idle timer still starts with ``keep_alive_timeout``; when the first bytes
of a request head arrive, its deadline is brought forward to ``head_timeout`` from then (never
pushed back: dribbling bytes does not extend it). One cancel scope's deadline moves; no task is
started per request. ``head_timeout`` is an attribute :func:`hypercorn_config
<service.http.plumbing.server.hypercorn_config>` sets on hypercorn's ``Config``.
"""

from __future__ import annotations

from math import inf

import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer


def install() -> None:
    """Replace hypercorn's idle timer and read loop with ones that keep the head deadline."""
    if getattr(TCPServer._read_data, "_head_timer", False):
        return
    TCPServer._idle_timeout = _idle_timeout  # type: ignore[method-assign]
    TCPServer._read_data = _read_data  # type: ignore[method-assign]


async def _idle_timeout(self: TCPServer) -> None:
    with trio.move_on_after(self.config.keep_alive_timeout) as scope:
        self._idle_scope = scope  # type: ignore[attr-defined]
        try:
            await self.context.terminated.wait()
        finally:
            if getattr(self, "_idle_scope", None) is scope:
                self._idle_scope = None  # type: ignore[attr-defined]
    # Reached when the deadline passed or the server is shutting down; a stopped timer (a
    # request head completed) is cancelled from outside and never gets here.
    with trio.CancelScope(shield=True):
        await self._initiate_server_close()


async def _read_data(self: TCPServer) -> None:
    head_timeout = getattr(self.config, "head_timeout", None)
    while True:
        try:
            with trio.fail_after(self.config.read_timeout or inf):
                data = await self.stream.receive_some(MAX_RECV)
        except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
            break
        scope: trio.CancelScope | None = getattr(self, "_idle_scope", None)
        if data and scope is not None and head_timeout is not None:
            # Bytes while the idle timer runs: a request head has begun.
            scope.deadline = min(scope.deadline, trio.current_time() + head_timeout)
        await self.protocol.handle(RawData(bytes(data)))
        if data == b"":
            break
    await self.protocol.handle(Closed())


_read_data._head_timer = True  # type: ignore[attr-defined]
