"""A minimal SMTP server on trio sockets, for delivering test mail over real TCP on loopback.

Speaks EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP and QUIT.
``reject_rcpt`` makes it refuse every recipient with a 550, to test failed deliveries.
"""

from __future__ import annotations

import base64
import contextlib

import attrs
import trio


@attrs.define
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    auth: tuple[str, str] | None


@attrs.define
class SmtpServer:
    reject_rcpt: bool = False
    advertise_auth: bool = True
    messages: list[Received] = attrs.field(factory=list)
    sessions: int = 0
    port: int = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._session, listeners)

    async def _session(self, stream: trio.SocketStream) -> None:
        self.sessions += 1
        # The client may hang up, or speak TLS to this plain-text server.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._converse(stream)

    async def _converse(self, stream: trio.SocketStream) -> None:
        lines = _LineReader(stream)
        async with stream:
            await stream.send_all(b"220 test.local ESMTP ready\r\n")
            envelope: dict[str, object] = {"from": "", "to": [], "auth": None}
            while (line := await lines.readline()) is not None:
                reply = await self._command(line, envelope, lines)
                await stream.send_all(reply)
                if reply.startswith(b"221"):
                    return

    async def _command(
        self, line: bytes, envelope: dict[str, object], lines: _LineReader
    ) -> bytes:
        verb, _, arg = line.decode("ascii", "replace").partition(" ")
        verb = verb.upper()
        if verb == "EHLO":
            auth = b"250-AUTH PLAIN\r\n" if self.advertise_auth else b""
            return b"250-test.local\r\n" + auth + b"250 8BITMIME\r\n"
        if verb == "HELO":
            return b"250 test.local\r\n"
        if verb == "AUTH":
            _mech, _, token = arg.partition(" ")
            _authz, user, password = base64.b64decode(token).split(b"\0")
            envelope["auth"] = (user.decode(), password.decode())
            return b"235 2.7.0 authenticated\r\n"
        if verb == "MAIL":
            envelope["from"], envelope["to"] = arg.partition(":")[2].strip(" <>"), []
            return b"250 2.1.0 ok\r\n"
        if verb == "RCPT":
            if self.reject_rcpt:
                return b"550 5.1.1 no such mailbox\r\n"
            to = envelope["to"]
            assert isinstance(to, list)
            to.append(arg.partition(":")[2].strip(" <>"))
            return b"250 2.1.5 ok\r\n"
        if verb == "DATA":
            return await self._data(envelope, lines)
        if verb in ("RSET", "NOOP"):
            return b"250 2.0.0 ok\r\n"
        if verb == "QUIT":
            return b"221 2.0.0 bye\r\n"
        return b"502 5.5.2 command not implemented\r\n"

    async def _data(self, envelope: dict[str, object], lines: _LineReader) -> bytes:
        await lines.stream.send_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
        body: list[bytes] = []
        while (line := await lines.readline()) is not None and line != b".":
            body.append(line[1:] if line.startswith(b".") else line)
        to, auth = envelope["to"], envelope["auth"]
        assert isinstance(to, list)
        self.messages.append(Received(
            mail_from=str(envelope["from"]), rcpt_to=list(to), data=b"\r\n".join(body) + b"\r\n",
            auth=auth if isinstance(auth, tuple) else None,
        ))
        return b"250 2.0.0 queued\r\n"


class _LineReader:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    async def readline(self) -> bytes | None:
        """The next CRLF-terminated line without its CRLF; None at EOF."""
        while b"\r\n" not in self._buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line
