"""Clients that hold connections without using them: idle keep-alive ones and slowloris.

- ``idle``: connects, sends one ``GET /healthz``, reads the answer, then sends nothing;
- ``slowloris``: connects and sends the head of a ``POST /api/jobs`` one byte every
  ``drip`` seconds, never finishing it.

Each reconnects as soon as the server closes it, so the pressure lasts for the whole run. The
child reports ready once every connection is open, runs until ``seconds`` pass, and reports how
long the server let each kind of connection live (``held``: p50 and max, in seconds), how many
were cut, and connection errors (a refused or failed connect would mean exhaustion).
"""

from __future__ import annotations

import resource
import time
from typing import TYPE_CHECKING, Any

import trio

from .common import percentiles

if TYPE_CHECKING:
    from collections.abc import Callable

SLOW_HEAD = (b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"X-Slow: " + b"a" * 4096)


async def run(host: str, port: int, *, idle: int, slow: int, drip: float, seconds: float,
              ready: Callable[..., None]) -> dict[str, Any]:
    held: dict[str, list[float]] = {"idle": [], "slowloris": []}
    errors: dict[str, int] = {}
    opened = {"idle": 0, "slowloris": 0}
    everyone = trio.Event()
    deadline = trio.current_time() + seconds

    def connected(kind: str) -> None:
        opened[kind] += 1
        if opened["idle"] >= idle and opened["slowloris"] >= slow:
            everyone.set()

    async def one(kind: str) -> None:
        first = True
        while trio.current_time() < deadline:
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                await trio.sleep(0.1)
                continue
            since = time.perf_counter()
            if first:
                connected(kind)
                first = False
            async with stream:
                with trio.move_on_at(deadline) as scope:
                    try:
                        if kind == "idle":
                            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                            while await stream.receive_some(65536):
                                pass  # the answer, then nothing until the server closes
                        else:
                            for byte in SLOW_HEAD:
                                await stream.send_all(bytes([byte]))
                                with trio.move_on_after(drip):
                                    if not await stream.receive_some(65536):
                                        break  # the server closed it
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        pass
                if not scope.cancelled_caught:
                    held[kind].append(time.perf_counter() - since)

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    async with trio.open_nursery() as nursery:
        for _ in range(idle):
            nursery.start_soon(one, "idle")
        for _ in range(slow):
            nursery.start_soon(one, "slowloris")
        await everyone.wait()
        ready()
    return {
        "cut": {kind: len(times) for kind, times in held.items()},
        "held_p50": {kind: percentiles(t)[0] for kind, t in held.items() if t},
        "held_max": {kind: max(t) for kind, t in held.items() if t},
        "errors": errors,
    }


def child_hostile(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    return trio.run(lambda: run(args["host"], args["port"], idle=args["idle"],
                                slow=args["slow"], drip=args["drip"], seconds=args["seconds"],
                                ready=ready))
