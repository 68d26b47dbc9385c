"""Serving the quart-trio app with hypercorn inside our nursery.

Carries fixes for two defects of hypercorn 0.18's trio server under quart-trio, with one cause:
quart-trio cancels its per-request nursery (on the ``http.disconnect`` hypercorn queues once the
response is complete) while that request's task is still inside hypercorn's connection
bookkeeping, so the bookkeeping is cancelled half-way:

- a response to a ``Connection: close`` (or HTTP/1.0) request was sent but the socket never
  closed (the close step was cancelled; see shared field notes, hypercorn #106);
- a keep-alive connection that went idle never got its idle task (starting it was cancelled),
  so idle connections were never closed: not after ``keep_alive_timeout``, and not at shutdown,
  where each held SIGTERM for the whole grace period.

We run both steps shielded. The fixes are pinned to the version they were made for.
"""

from __future__ import annotations

import resource
import socket
from typing import TYPE_CHECKING, Any

import hypercorn
import hypercorn.trio
import trio
from hypercorn.config import Config, Sockets
from hypercorn.events import Event, Updated
from hypercorn.trio.run import worker_serve
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.utils import wrap_app

from . import head_timer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

FIXED_HYPERCORN = "0.18.0"


def _install_close_fix() -> None:
    version = getattr(hypercorn, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("hypercorn")
    if version != FIXED_HYPERCORN:
        raise RuntimeError(
            f"hypercorn {version} is installed; the Connection: close fix in {__name__} was made"
            f" for {FIXED_HYPERCORN}: check the defect and update the pin"
        )
    original: Callable[[TCPServer], Awaitable[None]] = TCPServer._close
    if getattr(original, "_shielded", False):
        return

    async def shielded_close(self: TCPServer) -> None:
        with trio.CancelScope(shield=True):
            await original(self)

    shielded_close._shielded = True  # type: ignore[attr-defined]
    TCPServer._close = shielded_close  # type: ignore[method-assign]

    original_send: Callable[[TCPServer, Event], Awaitable[None]] = TCPServer.protocol_send

    async def protocol_send(self: TCPServer, event: Event) -> None:
        if isinstance(event, Updated):
            # Starting or stopping the idle task takes a lock and starts a task: quick, and it
            # must happen even when the request task that reports it is being cancelled.
            with trio.CancelScope(shield=True):
                await original_send(self, event)
            return
        await original_send(self, event)

    TCPServer.protocol_send = protocol_send  # type: ignore[method-assign]


_install_close_fix()
head_timer.install()  # after the version pin above: it replaces two more of TCPServer's methods


def hypercorn_config(bind: str, graceful_timeout: float, *, keep_alive: float = 75.0,
                     head_timeout: float = 10.0, read_timeout: float = 75.0) -> Config:
    """hypercorn's settings for ``bind``; the timeouts are ``SERVICE_HTTP_KEEP_ALIVE``,
    ``SERVICE_HTTP_HEAD_TIMEOUT`` and ``SERVICE_HTTP_READ_TIMEOUT``.

    ``keep_alive``: hypercorn's idle timer runs from the connection's start, and again from
    each response's end, until a request head is complete: an idle keep-alive connection is
    closed after it. It is longer than a load balancer's idle timeout (60 s for most), so the
    server never closes a pooled connection the balancer is about to reuse. ``head_timeout``:
    once a request head's first bytes arrive, the rest must follow within this (see
    :mod:`.head_timer`), so a slow client still sending its head (slowloris) is cut.
    ``read_timeout``
    closes a connection that sends nothing for that long while its request is in progress (a
    body that stalls); it must exceed the longest long-poll (``?wait=``, 60 s), during which
    the client rightly sends nothing. A request head larger than h11's default 16 KiB is
    refused (hypercorn's ``h11_max_incomplete_size``).
    """
    config = Config()
    config.bind = [bind]
    # An idle keep-alive client must not hold shutdown past the grace period.
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = keep_alive
    config.head_timeout = head_timeout  # type: ignore[attr-defined]  # read by head_timer
    # hypercorn types it as an int but hands it to trio.fail_after: seconds as a float work.
    config.read_timeout = read_timeout  # type: ignore[assignment]
    # hypercorn's 100 overflows when hundreds of clients (re)connect at once: the kernel drops
    # their SYNs and they retry after 1, 3, 7... s -- a hang that no server timer can bound.
    config.backlog = 1024
    config.accesslog = None
    config.errorlog = None
    return config


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; the limit now.

    Each connection holds a file descriptor: the usual soft limit of 1,024 would let a
    thousand idle keep-alive clients starve everyone else of accepts. The hard limit is the
    operator's (``ulimit -Hn``, the container's ``nofile``); this takes what it allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1024 * 1024)
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        return soft
    return hard


def listen(config: Config) -> Sockets:
    """Bind and listen on each ``host:port`` of ``config.bind`` now, before anything else opens.

    The sockets are made as hypercorn would make them (``Config.create_sockets``), but a failure
    raises the ``OSError`` (in use, permission denied, not an address of this host...) having
    closed every socket made, the failed one included.
    """
    made: list[socket.socket] = []
    try:
        for bind in config.bind:
            host, _, port = bind.rpartition(":")
            host = host.strip("[]")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            made.append(sock)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(port)))
            sock.setblocking(False)
            sock.listen(config.backlog)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return Sockets(secure_sockets=[], insecure_sockets=made, quic_sockets=[])


def close_sockets(sockets: Sockets) -> None:
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets]:
        sock.close()


async def serve(
    app: Any,
    config: Config,
    shutdown: trio.Event,
    *,
    sockets: Sockets | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown`` is set on ``sockets`` (already listening; by default bound here)
    and close them; reports the bound addresses (``http://host:port``)."""
    if sockets is None:
        sockets = listen(config)
    try:
        # hypercorn.trio.serve without its warnings about settings we never set, taking sockets.
        await worker_serve(
            wrap_app(app, config.wsgi_max_body_size, "asgi"), config, sockets=sockets,
            shutdown_trigger=shutdown.wait, task_status=task_status,
        )
    finally:
        close_sockets(sockets)
