"""Regression: a ``Connection: close`` or HTTP/1.0 request gets its response and then EOF.

hypercorn 0.18 under quart-trio used to leave such sockets open until the client gave up; the
fix lives in service/http/server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from http_support import serve_app


async def _read_until_eof(stream: trio.SocketStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nHost: test\r\n\r\n",
    ],
)
async def test_the_server_closes_the_socket_after_answering(
    tmp_path: Path, request_line: bytes
) -> None:
    async with serve_app(tmp_path) as app:
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(request_line)
            with trio.fail_after(1):
                data = await _read_until_eof(stream)
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"status":"ok"}\n')
