"""A streaming ``multipart/form-data`` parser (RFC 7578 / RFC 2046), sans-IO.

Feed it the body in chunks of any size; it returns events as soon as they are certain::

    parser = MultipartParser(boundary_from_content_type(request.content_type))
    async for chunk in request.body:
        for event in parser.feed(chunk):
            ...  # PartStart(name, filename, headers), PartData(data), PartEnd()
    parser.close()  # MultipartError unless the closing boundary was seen

Memory stays bounded by the chunk size plus one boundary: part bodies are passed on, never
collected. Header blocks are limited to ``max_header_bytes`` and a body to ``max_parts`` parts.
"""

from __future__ import annotations

import enum
from urllib.parse import unquote

import attrs

from ...jobs import ServiceError

BOUNDARY_MAX = 70
HEADER_BYTES_MAX = 16 * 1024
PARTS_MAX = 100
#: Whitespace allowed between a boundary and its line end ("transport padding").
PADDING_MAX = 256


class MultipartError(ServiceError, ValueError):
    """Raised when a body or its Content-Type is not well-formed ``multipart/form-data``."""


@attrs.frozen(kw_only=True)
class PartStart:
    """A part begins: its headers (names lowercased) and Content-Disposition parameters."""

    headers: dict[str, str]
    name: str | None
    filename: str | None


@attrs.frozen
class PartData:
    """The next bytes of the current part's body."""

    data: bytes


@attrs.frozen
class PartEnd:
    """The current part's body is complete."""


Event = PartStart | PartData | PartEnd


def _quoted(value: str, start: int) -> tuple[str, int]:
    """The quoted-string starting after the quote at ``start - 1``, and the index past it.

    ``\\"`` and ``\\\\`` are escapes; any other backslash is kept, as browsers send Windows
    paths unescaped.
    """
    out: list[str] = []
    i = start
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in '"\\':
            out.append(value[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise MultipartError("unterminated quoted string in a header parameter")


def _ext_value(value: str) -> str:
    """An RFC 8187 ``charset'language'percent-encoded`` value, decoded."""
    charset, _, rest = value.partition("'")
    _language, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        raise MultipartError(f"unknown charset {charset!r} in a header parameter") from None


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """``("form-data", {"name": ..., "filename": ...})`` for a header value with parameters.

    The main value and parameter names are lowercased. ``name*=`` (RFC 8187) values are
    decoded and replace the plain ``name=``.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    i = 0
    while i < len(rest):
        if rest[i] in " \t;":
            i += 1
            continue
        eq, semi = rest.find("=", i), rest.find(";", i)
        if eq == -1 or (semi != -1 and semi < eq):
            if semi == -1:
                break
            i = semi + 1  # a bare token without a value carries nothing we use
            continue
        key = rest[i:eq].strip().lower()
        i = eq + 1
        while i < len(rest) and rest[i] in " \t":
            i += 1
        if i < len(rest) and rest[i] == '"':
            text, i = _quoted(rest, i + 1)
        else:
            end = rest.find(";", i)
            end = len(rest) if end == -1 else end
            text, i = rest[i:end].strip(), end
        if key.endswith("*"):
            extended[key[:-1]] = _ext_value(text)
        else:
            params.setdefault(key, text)
    params.update(extended)
    return main.strip().lower(), params


def boundary_from_content_type(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type; :class:`MultipartError` if none."""
    mimetype, params = parse_header_params(content_type or "")
    if mimetype != "multipart/form-data":
        raise MultipartError("the body is not multipart/form-data")
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= BOUNDARY_MAX:
        raise MultipartError(f"the boundary must be 1 to {BOUNDARY_MAX} characters")
    if not boundary.isascii() or not boundary.isprintable() or boundary.endswith(" "):
        raise MultipartError("the boundary must be printable ASCII not ending in a space")
    return boundary.encode("ascii")


def parse_headers(block: bytes) -> dict[str, str]:
    """A part's header block (without the blank line) as ``{lowercased name: value}``."""
    headers: dict[str, str] = {}
    last: str | None = None
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise MultipartError(f"malformed part header line {line[:80]!r}")
        headers[name] = value.strip()
        last = name
    return headers


class _State(enum.Enum):
    PREAMBLE = enum.auto()
    AFTER_BOUNDARY = enum.auto()
    HEADERS = enum.auto()
    BODY = enum.auto()
    EPILOGUE = enum.auto()


class MultipartParser:
    """Incremental parser of one ``multipart/form-data`` body with ``boundary``."""

    def __init__(
        self,
        boundary: bytes,
        *,
        max_header_bytes: int = HEADER_BYTES_MAX,
        max_parts: int = PARTS_MAX,
    ) -> None:
        if not boundary or b"\r" in boundary or b"\n" in boundary:
            raise MultipartError("the boundary must be non-empty and on one line")
        self._delimiter = b"\r\n--" + boundary
        self._max_header_bytes = max_header_bytes
        self._max_parts = max_parts
        self._parts = 0
        self._state = _State.PREAMBLE
        # A line break before the first boundary is implied, so one at the very start matches.
        self._buffer = bytearray(b"\r\n")

    @property
    def done(self) -> bool:
        """True once the closing boundary has been seen."""
        return self._state is _State.EPILOGUE

    def feed(self, data: bytes) -> list[Event]:
        """Consume the next ``data``; the events it completes. :class:`MultipartError` if bad."""
        if self._state is _State.EPILOGUE:
            return []
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """Declare the end of the body; :class:`MultipartError` if it was cut short."""
        if self._state is not _State.EPILOGUE:
            raise MultipartError("the body ended before the closing boundary")

    def _step(self, events: list[Event]) -> bool:
        """Advance once; False when more data is needed."""
        buf = self._buffer
        if self._state is _State.PREAMBLE:
            at = buf.find(self._delimiter)
            if at == -1:
                del buf[: max(0, len(buf) - len(self._delimiter) + 1)]
                return False
            del buf[: at + len(self._delimiter)]
            self._state = _State.AFTER_BOUNDARY
            return True
        if self._state is _State.AFTER_BOUNDARY:
            return self._after_boundary(buf)
        if self._state is _State.HEADERS:
            return self._headers(buf, events)
        if self._state is _State.BODY:
            return self._body(buf, events)
        buf.clear()
        return False

    def _after_boundary(self, buf: bytearray) -> bool:
        if len(buf) < 2:
            return False
        if buf[:2] == b"--":
            buf.clear()
            self._state = _State.EPILOGUE
            return False
        end = buf.find(b"\r\n")
        if end == -1:
            padding = buf[:-1] if buf.endswith(b"\r") else buf  # the CR may await its LF
            if len(buf) > PADDING_MAX or padding.strip(b" \t"):
                raise MultipartError("unexpected bytes after a boundary")
            return False
        if buf[:end].strip(b" \t"):
            raise MultipartError("unexpected bytes after a boundary")
        del buf[: end + 2]
        self._state = _State.HEADERS
        return True

    def _headers(self, buf: bytearray, events: list[Event]) -> bool:
        if buf[:2] == b"\r\n":
            block, consumed = b"", 2
        else:
            end = buf.find(b"\r\n\r\n")
            if end == -1:
                if len(buf) > self._max_header_bytes:
                    raise MultipartError(
                        f"a part's headers exceed {self._max_header_bytes} bytes"
                    )
                return False
            block, consumed = bytes(buf[:end]), end + 4
        if consumed > self._max_header_bytes:
            raise MultipartError(f"a part's headers exceed {self._max_header_bytes} bytes")
        del buf[:consumed]
        self._parts += 1
        if self._parts > self._max_parts:
            raise MultipartError(f"more than {self._max_parts} parts")
        headers = parse_headers(block) if block else {}
        _disposition, params = parse_header_params(headers.get("content-disposition", ""))
        events.append(
            PartStart(headers=headers, name=params.get("name"), filename=params.get("filename"))
        )
        self._state = _State.BODY
        return True

    def _safe_length(self, buf: bytearray) -> int:
        """How much of ``buf`` cannot be the start of a delimiter cut by the chunk edge."""
        delimiter = self._delimiter
        at = buf.find(b"\r", max(0, len(buf) - len(delimiter) + 1))
        while at != -1:
            if delimiter.startswith(buf[at:]):
                return at
            at = buf.find(b"\r", at + 1)
        return len(buf)

    def _body(self, buf: bytearray, events: list[Event]) -> bool:
        at = buf.find(self._delimiter)
        if at != -1:
            if at:
                events.append(PartData(bytes(buf[:at])))
            events.append(PartEnd())
            del buf[: at + len(self._delimiter)]
            self._state = _State.AFTER_BOUNDARY
            return True
        emit = self._safe_length(buf)
        if emit:
            events.append(PartData(bytes(buf[:emit])))
            del buf[:emit]
        return False
