"""Test support for uploads: multipart bodies, and a raw HTTP/1.1 client that streams a large
file made on the fly (never held in memory) while it watches for an early answer."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import h11
import trio

if TYPE_CHECKING:
    from collections.abc import Iterator

BOUNDARY = "testBoundary7MA4YWxk"
CLOSING = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
MiB = 1024 * 1024


def multipart(filename: bytes, data: bytes, *, name: bytes = b"file",
              content_type: bytes = b"text/plain", extra: bytes = b"") -> bytes:
    return (
        extra
        + b"--" + BOUNDARY.encode() + b"\r\n"
        + b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename
        + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n"
        + data + CLOSING
    )


def file_head(filename: bytes, content_type: bytes) -> bytes:
    """The form's bytes before the file's own in :func:`multipart`; :data:`CLOSING` follows."""
    return multipart(filename, b"", content_type=content_type).removesuffix(CLOSING)


def png_file(size: int) -> Iterator[bytes]:
    """``size`` bytes that sniff as PNG: :data:`PNG`, then one pseudo-random MiB over and over."""
    block = random.Random(size).randbytes(MiB)
    yield PNG[:size]
    made = min(len(PNG), size)
    while made < size:
        piece = block[: size - made]
        made += len(piece)
        yield piece


def peak_rss(pid: int) -> int:
    """The peak resident set size of process ``pid`` so far, in bytes (Linux ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


@attrs.define
class Streamed:
    """What happened to one streamed upload."""

    status: int = 0
    body: bytes = b""
    #: File bytes the client sent before the body was complete or the server closed.
    sent: int = 0
    sha256: str = ""
    #: The whole body went out.
    complete: bool = False
    #: The answer came while the client was still sending.
    answered_early: bool = False
    #: When (``trio.current_time()``) the client started, and finished sending the whole body.
    started_at: float = 0.0
    sent_at: float | None = None


def _wire(connection: h11.Connection, event: h11.Event) -> bytes:
    data = connection.send(event)
    assert data is not None
    return data


async def stream_upload(
    url: str, size: int, *, chunked: bool, filename: bytes = b"holiday.txt",
    content_type: bytes = b"text/plain",
) -> Streamed:
    """POST a ``size``-byte :func:`png_file` to ``/api/uploads``, sending until done or cut off.

    With ``chunked`` no length is declared; otherwise ``Content-Length`` is exact.
    """
    head = file_head(filename, content_type)
    headers = [("Host", "upload-test"),
               ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")]
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(len(head) + size + len(CLOSING))))
    connection = h11.Connection(h11.CLIENT)
    result = Streamed(started_at=trio.current_time())
    digest = hashlib.sha256()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))

    async def send_body() -> None:
        try:
            await stream.send_all(
                _wire(connection, h11.Request(method="POST", target="/api/uploads",
                                              headers=headers))
                + _wire(connection, h11.Data(data=head)))
            for piece in png_file(size):
                await stream.send_all(_wire(connection, h11.Data(data=piece)))
                digest.update(piece)
                result.sent += len(piece)
            await stream.send_all(_wire(connection, h11.Data(data=CLOSING))
                                  + _wire(connection, h11.EndOfMessage()))
            result.complete = True
            result.sent_at = trio.current_time()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the server closed the connection: it stopped reading

    async def read_answer() -> None:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await stream.receive_some(64 * 1024))
            elif isinstance(event, h11.Response):
                result.status = event.status_code
                result.answered_early = not result.complete
            elif isinstance(event, h11.Data):
                result.body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(send_body)
        nursery.start_soon(read_answer)
    result.sha256 = digest.hexdigest()
    return result


def pdf_with_text(*pages: str) -> bytes:
    """A small, valid PDF whose pages show ``pages`` (ASCII, one line each) in Helvetica:
    written by hand, object by object, with an exact cross-reference table."""
    count = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(
                   f"{4 + 2 * i} 0 R".encode() for i in range(count)) + b"] /Count "
               + str(count).encode() + b" >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources"
                       b" << /Font << /F1 3 0 R >> >> /Contents " + f"{5 + 2 * i}".encode()
                       + b" 0 R >>")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
                       + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
            .encode())
    return bytes(out)


def image_bytes(size: tuple[int, int] = (640, 480), fmt: str = "PNG") -> bytes:
    """A real image of ``size`` in ``fmt`` (Pillow's name): a gradient, so it compresses."""
    from PIL import Image

    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))
