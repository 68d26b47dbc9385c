"""A small HTTP/1.1 load generator on raw trio sockets, for loopback only.

``connections`` keep-alive connections each send one request at a time and read the whole
response (``Content-Length`` framing) before the next; a connection the server ends with
``Connection: close`` (hypercorn does after 1,000 requests) is replaced by a new one. Bounded
twice: at most ``requests`` requests in total and at most ``seconds`` of sending. Latency is
from the first byte sent to the last byte read, per request.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import trio

from .common import percentiles

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    pass


def post_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(stream: trio.SocketStream, buffer: bytearray) -> tuple[int, bool]:
    """Read one response from ``stream`` (leftover bytes stay in ``buffer``): its status, and
    whether the server closes the connection after it."""
    status, closing, _ = await read_response_body(stream, buffer)
    return status, closing


async def read_response_body(stream: trio.SocketStream, buffer: bytearray
                             ) -> tuple[int, bool, bytes]:
    """:func:`read_response`, and the response's body."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD:
            raise ProtocolError("response head too large")
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ProtocolError("connection closed before a response")
        buffer += chunk
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    if "chunked" in fields.get("transfer-encoding", ""):
        raise ProtocolError("chunked responses are not supported here")
    total = end + 4 + int(fields.get("content-length", "0"))
    while len(buffer) < total:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ProtocolError("connection closed inside a response body")
        buffer += chunk
    body = bytes(buffer[end + 4:total])
    del buffer[:total]
    return status, fields.get("connection", "").lower() == "close", body


async def generate(host: str, port: int, request: bytes, *, connections: int, requests: int,
                   seconds: float) -> dict[str, Any]:
    """Run the load; requests/s, latency percentiles (s) and counts by status."""
    budget = [requests]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = trio.current_time() + seconds

    def more() -> bool:
        return budget[0] > 0 and trio.current_time() < deadline

    async def connection() -> None:
        while more():
            async with await trio.open_tcp_stream(host, port) as stream:
                buffer = bytearray()
                closing = False
                while not closing and more():
                    budget[0] -= 1
                    start = time.perf_counter()
                    await stream.send_all(request)
                    status, closing = await read_response(stream, buffer)
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(connection)
    elapsed = time.perf_counter() - start
    return {"rate": len(latencies) / elapsed, "percentiles": percentiles(latencies),
            "statuses": statuses, "requests": len(latencies)}


def child_load(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    request = post_request(args["host"], args["port"], args["path"], args["body"].encode(),
                           args["headers"])
    return trio.run(lambda: generate(args["host"], args["port"], request,
                                     connections=args["connections"],
                                     requests=args["requests"], seconds=args["seconds"]))


_ID = re.compile(rb'"id"\s*:\s*(\d+)')
#: Status recorded for a request whose connection failed (refused, reset, closed mid-answer).
CONNECTION_ERROR = 0


async def paced(host: str, port: int, request: bytes, *, connections: int, rate: float,
                seconds: float, window: float = 60.0) -> dict[str, Any]:
    """Open-loop load at ``rate`` requests/s for ``seconds``: request ``k`` is due at
    ``k / rate`` and is sent by connection ``k % connections`` once it is due and that
    connection's previous answer is in (so a slow server makes requests late, not fewer).

    Two latencies per request: ``latency`` from the first byte sent to the last byte read (as
    :func:`generate` measures), and ``corrected`` from when it was due (includes the wait
    behind a slow previous answer: no coordinated omission). A failed connection counts as
    status ``0`` and is replaced. Returned: per second of due time ``[second, requests,
    latency p50, latency p99, latency max, corrected p99, non-201]`` (ms), per ``window``
    seconds the latency p99 of the 201 answers (ms), percentiles of the whole run (ms), the
    statuses, and the job ids of the 201 answers.
    """
    total = int(rate * seconds)
    samples: list[tuple[float, float, float, int]] = []  # due offset, latency, corrected, status
    ids: list[int] = []
    start = trio.current_time()

    async def connection(k: int) -> None:
        while k < total:
            try:
                async with await trio.open_tcp_stream(host, port) as stream:
                    buffer = bytearray()
                    closing = False
                    while not closing and k < total:
                        due = start + k / rate
                        await trio.sleep_until(due)
                        late = max(0.0, trio.current_time() - due)
                        sent = time.perf_counter()
                        await stream.send_all(request)
                        status, closing, body = await read_response_body(stream, buffer)
                        latency = time.perf_counter() - sent
                        samples.append((k / rate, latency, latency + late, status))
                        if status == 201 and (match := _ID.search(body)):
                            ids.append(int(match.group(1)))
                        k += connections
            except (OSError, ProtocolError, trio.BrokenResourceError):
                samples.append((k / rate, 0.0, 0.0, CONNECTION_ERROR))
                k += connections

    async with trio.open_nursery() as nursery:
        for first in range(connections):
            nursery.start_soon(connection, first)
    statuses: dict[int, int] = {}
    by_second: dict[int, list[tuple[float, float, int]]] = {}
    by_window: dict[int, list[float]] = {}
    for offset, latency, corrected, status in samples:
        statuses[status] = statuses.get(status, 0) + 1
        by_second.setdefault(int(offset), []).append((latency, corrected, status))
        if status == 201:
            by_window.setdefault(int(offset // window), []).append(latency)
    seconds_out = []
    for second, rows in sorted(by_second.items()):
        good = [r for r in rows if r[2] == 201] or rows
        p50, p99 = percentiles([r[0] for r in good], (50, 99))
        [cp99] = percentiles([r[1] for r in good], (99,))
        seconds_out.append([second, len(rows), p50 * 1000, p99 * 1000,
                            max(r[0] for r in good) * 1000, cp99 * 1000,
                            sum(r[2] != 201 for r in rows)])
    windows = [percentiles(v, (99,))[0] * 1000 for _, v in sorted(by_window.items())]
    answered = [sample for sample in samples if sample[3] == 201] or [(0.0, 0.0, 0.0, 0)]
    overall = [p * 1000 for p in percentiles([a[1] for a in answered], (50, 95, 99))]
    overall += [p * 1000 for p in percentiles([a[2] for a in answered], (50, 99))]
    return {"seconds": seconds_out, "window_p99": windows, "ids": ids,
            "overall_ms": dict(zip(("p50", "p95", "p99", "due_p50", "due_p99"), overall,
                                   strict=True)),
            "statuses": {str(k): v for k, v in statuses.items()}, "requests": len(samples)}


def child_paced(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    request = post_request(args["host"], args["port"], args["path"], args["body"].encode(),
                           args["headers"])
    return trio.run(lambda: paced(args["host"], args["port"], request,
                                  connections=args["connections"], rate=args["rate"],
                                  seconds=args["seconds"], window=args["window"]))
