"""What a stored file is, judged from its bytes alone: size, SHA-256 and content type.

:class:`FileSniffer` is fed the file in chunks (sans-IO); :func:`inspect_file` streams a file
through it on the calling thread. The client's claimed content type is never consulted.

Binary formats are named by `filetype <https://pypi.org/project/filetype/>`_'s magic numbers
(images, audio, video, archives, documents: some 80 types). It knows no text, so UTF-8 text and
JSON are told apart here; and since several of its signatures are two or three printable
characters (``MZ``, ``BM``, ``ID3``), its answer counts only for bytes that are not text --
``BMW is a car`` is plain text, not a bitmap. ``%PDF-`` is the one signature trusted in text: a
PDF may be pure ASCII.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK_BYTES = 1024 * 1024
#: How often :func:`inspect_file` reports its progress, in bytes read.
PROGRESS_EVERY = 8 * 1024 * 1024
#: Text up to this size is parsed whole to tell JSON from plain text.
JSON_SNIFF_MAX = 8 * 1024 * 1024
#: How much of the start of a file the magic-number checks look at (what filetype reads).
HEAD_BYTES = 8192

OCTET_STREAM = "application/octet-stream"
PLAIN_TEXT = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"

PDF_MAGIC = b"%PDF-"

# Text may hold tab, line feed, form feed and carriage return, but no other control byte.
NOT_TEXT = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@attrs.frozen(kw_only=True)
class FileFacts:
    """What the bytes say: their count, SHA-256 (hex) and sniffed content type."""

    size: int
    sha256: str
    content_type: str


def magic_type(head: bytes) -> str | None:
    """The content type whose magic number starts ``head`` (filetype's verdict), or None.

    Only for bytes known not to be text: see the module's docstring."""
    import filetype  # type: ignore[import-untyped]  # here: only uploads pay for it

    found: str | None = filetype.guess_mime(head) if head else None
    return None if found == OCTET_STREAM else found


class FileSniffer:
    """Feed a file's bytes in order with :meth:`feed`; :meth:`facts` says what they are."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = bytearray()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._is_text = True
        self._text: bytearray | None = bytearray()

    def feed(self, chunk: bytes) -> None:
        """Account for the next ``chunk`` of the file."""
        self._hash.update(chunk)
        self._size += len(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        if self._is_text:
            self._check_text(chunk)

    def _check_text(self, chunk: bytes) -> None:
        if NOT_TEXT.search(chunk):
            self._is_text = False
        else:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self._is_text = False
        if not self._is_text or (self._text is not None and
                                 len(self._text) + len(chunk) > JSON_SNIFF_MAX):
            self._text = None
        elif self._text is not None:
            self._text += chunk

    def _text_type(self) -> str:
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            return OCTET_STREAM
        if self._text is None:
            return PLAIN_TEXT
        text = self._text.decode("utf-8-sig")
        if text.lstrip()[:1] not in ("{", "["):
            return PLAIN_TEXT
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            return PLAIN_TEXT
        return JSON_TYPE

    def facts(self) -> FileFacts:
        """Size, digest and content type of everything fed so far (call once, at the end)."""
        head = bytes(self._head)
        if head.startswith(PDF_MAGIC):
            content_type = "application/pdf"
        elif self._size == 0:
            content_type = OCTET_STREAM
        else:
            content_type = self._text_type() if self._is_text else OCTET_STREAM
            if content_type == OCTET_STREAM:  # not text after all: its magic number, if any
                content_type = magic_type(head) or OCTET_STREAM
        return FileFacts(size=self._size, sha256=self._hash.hexdigest(), content_type=content_type)


def inspect_file(
    path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES,
    on_progress: Callable[[int, int], object] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> FileFacts:
    """Stream the file at ``path`` through a :class:`FileSniffer` (blocking: run in a thread).

    ``on_progress(done, total)`` is called with the bytes read so far and the file's size after
    every ``progress_every`` bytes, if the file is larger. Raises ``FileNotFoundError`` when
    there is no such file.
    """
    sniffer = FileSniffer()
    with open(path, "rb") as file:
        total = os.fstat(file.fileno()).st_size
        done = reported = 0
        while chunk := file.read(chunk_bytes):
            sniffer.feed(chunk)
            done += len(chunk)
            if on_progress is not None and done - reported >= progress_every and done < total:
                on_progress(done, total)
                reported = done
    return sniffer.facts()
