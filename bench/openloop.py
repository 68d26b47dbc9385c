"""Open-loop HTTP load: requests start on a schedule, whether or not the server keeps up.

The closed loop of :mod:`bench.loadgen` (each connection waits for its answer) can never offer
more than the server takes; overload and "normal clients beside hostile ones" need arrivals at a
fixed rate. A ticker issues ``rate`` requests a second into a queue that ``connections``
keep-alive connections take from (a connection closed by the server, after a 503 with
``Connection: close`` say, is replaced). Latency runs from a request's first byte sent to its
last byte read; a request that found every connection busy waits in the queue, and that wait is
reported apart (``queued``), so a slow server shows up as requests not sent, not as a hang.
Each second's answers are also kept (``timeline``: statuses and p99 per second).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import trio

from .common import percentiles
from .loadgen import ProtocolError, post_request, read_response

if TYPE_CHECKING:
    from collections.abc import Callable


async def generate(host: str, port: int, request: bytes, *, rate: float, seconds: float,
                   connections: int, answer_within: float = 30.0) -> dict[str, Any]:
    """Offer ``rate`` requests/s for ``seconds``; what came back."""
    send, receive = trio.open_memory_channel[float](math.inf)
    latencies: dict[int, list[float]] = {}
    queued: list[float] = []
    timeline: list[dict[str, list[float]]] = [{} for _ in range(math.ceil(seconds) + 1)]
    errors: dict[str, int] = {}
    start = time.perf_counter()

    def record(status: str, latency: float) -> None:
        latencies.setdefault(int(status) if status.isdigit() else 0, []).append(latency)
        second = min(len(timeline) - 1, int(time.perf_counter() - start))
        timeline[second].setdefault(status, []).append(latency)

    async def ticker() -> None:
        async with send:
            total = int(rate * seconds)
            for n in range(total):
                due = start + n / rate
                await trio.sleep(max(0.0, due - time.perf_counter()))
                send.send_nowait(due)

    async def connection() -> None:
        async with receive.clone() as tickets:
            stream: trio.SocketStream | None = None
            buffer = bytearray()
            async for due in tickets:
                sent_at = time.perf_counter()
                queued.append(sent_at - due)
                try:
                    with trio.fail_after(answer_within):
                        if stream is None:
                            stream = await trio.open_tcp_stream(host, port)
                            buffer = bytearray()
                        await stream.send_all(request)
                        status, closing = await read_response(stream, buffer)
                except (OSError, ProtocolError, trio.BrokenResourceError,
                        trio.TooSlowError) as exc:
                    name = type(exc).__name__
                    errors[name] = errors.get(name, 0) + 1
                    record(name, time.perf_counter() - sent_at)
                    if stream is not None:
                        await stream.aclose()
                    stream = None
                    continue
                record(str(status), time.perf_counter() - sent_at)
                if closing:
                    await stream.aclose()
                    stream = None
            if stream is not None:
                await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for _ in range(connections):
            nursery.start_soon(connection)
    elapsed = time.perf_counter() - start
    every = [x for values in latencies.values() for x in values]
    return {
        "offered": rate, "seconds": elapsed, "requests": len(every),
        "statuses": {str(k): len(v) for k, v in sorted(latencies.items())},
        "percentiles": percentiles(every) if every else [],
        "by_status": {str(k): [*percentiles(v), max(v)] for k, v in latencies.items()},
        "max": max(every, default=0.0),
        "queued_p99": percentiles(queued)[2] if queued else 0.0,
        "errors": errors,
        "timeline": [{status: [len(v), percentiles(v)[2]] for status, v in second.items()}
                     for second in timeline],
    }


def child_open_loop(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    request = post_request(args["host"], args["port"], args["path"], args["body"].encode(),
                           args["headers"])
    return trio.run(lambda: generate(args["host"], args["port"], request, rate=args["rate"],
                                     seconds=args["seconds"],
                                     connections=args["connections"]))
