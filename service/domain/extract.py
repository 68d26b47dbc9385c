"""The text of an uploaded PDF (pypdf) or text file: a file in, the start of its text out.

Pure and blocking (CPU-bound for PDFs): the ``extract_text`` task runs it off the event loop.
The work is bounded: pages are read until :data:`EXCERPT_CHARS` characters are in hand (at most
:data:`MAX_PAGES`), and a text file's first :data:`TEXT_HEAD_BYTES` are read.
"""

from __future__ import annotations

import codecs
import logging
from typing import TYPE_CHECKING, BinaryIO

import attrs

from ..jobs import ServiceError
from .sniff import NOT_TEXT, PDF_MAGIC

if TYPE_CHECKING:
    import os

#: The most characters of text kept.
EXCERPT_CHARS = 1000
#: The most PDF pages read for them (empty pages, scans without text, are skipped over).
MAX_PAGES = 50
#: How much of a text file is read.
TEXT_HEAD_BYTES = 16 * 1024

# pypdf logs every oddity of a damaged file as a warning; the step reports the outcome itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class NoText(ServiceError, ValueError):
    """Raised by :func:`extract_text` when the file is neither a PDF nor UTF-8 text."""


class BadDocument(ServiceError, ValueError):
    """Raised by :func:`extract_text` when a file that starts as a PDF cannot be read as one."""


@attrs.frozen(kw_only=True)
class Extract:
    """The first :data:`EXCERPT_CHARS` characters of a file's text, whitespace kept; ``pages``
    is the PDF's page count (None for a text file)."""

    text: str
    pages: int | None


def extract_text(path: str | os.PathLike[str], *, max_chars: int = EXCERPT_CHARS) -> Extract:
    """The start of the text of the PDF or UTF-8 text file at ``path``.

    Raises :class:`NoText`, :class:`BadDocument`, or ``OSError`` when the file cannot be read.
    """
    with open(path, "rb") as file:
        head = file.read(TEXT_HEAD_BYTES)
        if head.startswith(PDF_MAGIC):
            file.seek(0)
            return _pdf_text(file, max_chars)
    whole = len(head) < TEXT_HEAD_BYTES
    return Extract(text=_utf8_text(head, whole)[:max_chars], pages=None)


def _utf8_text(head: bytes, whole: bool) -> str:
    if not head or NOT_TEXT.search(head):
        raise NoText("not a PDF or a text file")
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        # Of a longer file, a character cut at the end of the head waits: it is dropped.
        return decoder.decode(head, final=whole)
    except UnicodeDecodeError:
        raise NoText("not a PDF or a text file (not UTF-8)") from None


def _pdf_text(file: BinaryIO, max_chars: int) -> Extract:
    parts: list[str] = []
    found = 0
    from pypdf import PdfReader  # here: only the text step pays for it (see thumbnails)

    try:
        reader = PdfReader(file)
        pages = len(reader.pages)
        for page in reader.pages[:MAX_PAGES]:
            text = page.extract_text() or ""
            parts.append(text)
            found += len(text)
            if found >= max_chars:
                break
    except OSError:
        raise
    except Exception as exc:  # pypdf raises many types for a damaged file
        raise BadDocument(f"the PDF cannot be read: {exc or type(exc).__name__}") from None
    return Extract(text="\n".join(p for p in parts if p)[:max_chars], pages=pages)
