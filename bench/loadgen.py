"""A small HTTP/1.1 load generator on raw trio sockets, for loopback only.

``connections`` keep-alive connections each send one request at a time and read the whole
response (``Content-Length`` framing) before the next; a connection the server ends with
``Connection: close`` (hypercorn does after 1,000 requests) is replaced by a new one. Bounded
twice: at most ``requests`` requests in total and at most ``seconds`` of sending. Latency is
from the first byte sent to the last byte read, per request.
"""

from __future__ import annotations

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
    del buffer[:total]
    return status, fields.get("connection", "").lower() == "close"


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
