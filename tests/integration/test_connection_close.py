"""Regression: the server closes connections when it should, and says so when it will (fixes
in service/http/plumbing/server.py and backpressure.py).

hypercorn 0.18 under quart-trio used to leave a ``Connection: close`` or HTTP/1.0 socket open
until the client gave up, and never closed an idle keep-alive connection: not after the
keep-alive timeout, and not on shutdown, which then waited out the whole grace period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
from support.http import ADMIN_TOKEN, make_settings, serve_app

from service.runtime import WebService, open_state

if TYPE_CHECKING:
    from pathlib import Path

#: Bounds for "at once": well above a busy machine's hiccup, below the server's 5 s
#: ``keep_alive_timeout``, which would close the socket anyway and hide the regression.
AT_ONCE_S = 4


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
            with trio.fail_after(AT_ONCE_S):
                data = await _read_until_eof(stream)
        assert data.startswith(b"HTTP/1.1 200")
        assert data.endswith(b'{"status":"ok"}\n')


async def _answer(stream: trio.SocketStream) -> bytes:
    """A ``GET /healthz`` on ``stream`` (kept open) and its whole answer, within 10 s."""
    await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    answer = b""
    with trio.fail_after(10):
        while not answer.endswith(b'{"status":"ok"}\n'):
            chunk = await stream.receive_some(65536)
            assert chunk, f"the server closed the connection; answer so far: {answer!r}"
            answer += chunk
    return answer


async def test_shutdown_closes_an_idle_keep_alive_connection_at_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shutdown_grace="30")
    async with open_state(settings) as state, trio.open_nursery() as nursery:
        web = WebService(state)
        [url] = await nursery.start(web.run)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            assert (await _answer(stream)).endswith(b'{"status":"ok"}\n')
            with trio.fail_after(AT_ONCE_S):  # not the 30 s grace
                await web.shutdown()
                assert await _read_until_eof(stream) == b""



async def test_a_slow_request_head_is_cut_while_an_idle_connection_stays(tmp_path: Path) -> None:
    # SERVICE_HTTP_HEAD_TIMEOUT counts from a head's first byte and dribbling does not extend
    # it; SERVICE_HTTP_KEEP_ALIVE (far longer) keeps an idle connection that sent nothing.
    async with serve_app(tmp_path, http_head_timeout="0.5", http_keep_alive="60") as app:
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        idle = await trio.open_tcp_stream(host, int(port))
        slow = await trio.open_tcp_stream(host, int(port))
        async with idle, slow:
            assert (await _answer(idle)).startswith(b"HTTP/1.1 200")

            async def dribble() -> None:
                # A byte of a never-ending header every 0.1 s: each read is well inside any
                # per-read timeout, only a deadline from the first byte stops it.
                await slow.send_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
                while True:
                    await trio.sleep(0.1)
                    try:
                        await slow.send_all(b"a")
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(dribble)
                with trio.fail_after(10):  # the keep-alive alone would take 60 s
                    assert await _read_until_eof(slow) == b""
                nursery.cancel_scope.cancel()
            # Idle for longer than the head timeout, yet still open: the keep-alive rules it.
            assert (await _answer(idle)).startswith(b"HTTP/1.1 200")


async def test_an_answer_sent_before_the_request_body_arrived_says_the_connection_closes(
    tmp_path: Path,
) -> None:
    # An app may answer a request from its head alone (here 401: no credentials) before its
    # body has arrived. The server then closes the connection (it cannot tell where the next
    # request would start) and must say so in the answer, or a client reusing the connection
    # has its next request cut off ("Server disconnected without sending a response").
    async with serve_app(tmp_path) as app:
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(b"POST /api/jobs HTTP/1.1\r\nHost: test\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n")
            with trio.fail_after(AT_ONCE_S):
                data = await _read_until_eof(stream)
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 401")
    assert b"\r\nconnection: close" in head


async def test_a_success_sent_before_the_request_body_arrived_says_the_connection_closes(
    tmp_path: Path,
) -> None:
    # The dashboard's retry button answers 303 from its path and credentials, without reading
    # the form. Sent before the form has arrived, the 303 must say the connection closes: it
    # did not (only errors did), hypercorn closed it anyway, and a pooled client lost its next
    # request on it (the HTTP fuzz tests' rare "Server disconnected without sending a response").
    async with serve_app(tmp_path) as app:
        pushed = await app.admin.post("/api/jobs", json={"task": "cleanup_uploads"})
        job_id = pushed.json()["id"]
        assert (await app.admin.post(f"/api/jobs/{job_id}/cancel")).status_code == 200
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(
                f"POST /admin/jobs/{job_id}/retry HTTP/1.1\r\nHost: test\r\n"
                f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 14\r\n\r\n".encode())
            with trio.fail_after(AT_ONCE_S):
                data = await _read_until_eof(stream)
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 303")
    assert b"\r\nconnection: close" in head


async def test_an_answer_after_the_whole_request_keeps_the_connection(tmp_path: Path) -> None:
    # An error answered once the body was read (422: the body names no task) keeps the
    # connection for the next request.
    async with serve_app(tmp_path) as app:
        host, port = app.url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            body = b'{"task": "no_such_task"}'
            await stream.send_all(
                b"POST /api/jobs HTTP/1.1\r\nHost: test\r\n"
                + f"Authorization: Bearer {ADMIN_TOKEN}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            answer = b""
            with trio.fail_after(10):
                while b"\r\n\r\n" not in answer:
                    answer += await stream.receive_some(65536)
            assert answer.lower().startswith(b"http/1.1 422")
            assert b"connection: close" not in answer.lower()
            assert (await _answer(stream)).endswith(b'{"status":"ok"}\n')
