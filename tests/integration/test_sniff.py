"""Content sniffing from bytes alone, streamed in chunks; and display names for uploads."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from typing import TYPE_CHECKING

import filetype  # type: ignore[import-untyped]
import pytest

from service.domain.sniff import FileSniffer, inspect_file
from service.domain.uploads import FILENAME_MAX, display_filename

if TYPE_CHECKING:
    from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50)


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


SAMPLES = [
    (PNG, "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40), "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00" + bytes(20), "image/gif"),
    (b"GIF87a" + bytes(20), "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(30), "image/webp"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(30), "application/pdf"),
    (zipped(), "application/zip"),
    (gzip.compress(b"hello" * 100, mtime=0), "application/gzip"),
    (b'{"a": [1, 2, {"b": "\xc3\xa9"}]}\n', "application/json"),
    (b'\xef\xbb\xbf  [1, 2, 3]', "application/json"),
    (b'{"not": json', "text/plain; charset=utf-8"),
    ("Grüße\r\n\tplain text\n".encode(), "text/plain; charset=utf-8"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00", "audio/x-wav"),  # known since filetype
    (b"text with a NUL\x00 byte", "application/octet-stream"),
    (b"latin-1 \xe9t\xe9", "application/octet-stream"),
    (b"cut in the middle of a character \xc3", "application/octet-stream"),
    (bytes(range(256)), "application/octet-stream"),
    (b"", "application/octet-stream"),
]


@pytest.mark.parametrize(("data", "content_type"), SAMPLES)
def test_the_content_type_comes_from_the_bytes(data: bytes, content_type: str) -> None:
    for chunk_size in (1, 3, 7, 4096):
        sniffer = FileSniffer()
        for i in range(0, len(data), chunk_size):
            sniffer.feed(data[i:i + chunk_size])
        facts = sniffer.facts()
        assert facts.content_type == content_type, chunk_size
        assert facts.size == len(data)
        assert facts.sha256 == hashlib.sha256(data).hexdigest()


#: What today's formats need beyond magic numbers: text, JSON vs plain text, and text that
#: begins like a short binary signature.
TEXT_SAMPLES = [
    (b"MZ is how an .exe starts, but this is text", "text/plain; charset=utf-8"),
    (b"BMW is a car brand", "text/plain; charset=utf-8"),
    (b"ID3 tags describe an MP3", "text/plain; charset=utf-8"),
    (b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", "application/pdf"),
]

NEW_FORMATS = [
    (b"BM" + bytes([0x36, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00]),
     "image/bmp"),
    (b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(20), "image/x-canon-cr2"),
    (b"\x1aE\xdf\xa3\x93B\x82\x88matroska" + bytes(20), "video/x-matroska"),
    (b"SQLite format 3\x00" + bytes(40), "application/x-sqlite3"),
]


@pytest.mark.parametrize(("data", "content_type"), TEXT_SAMPLES + NEW_FORMATS)
def test_text_that_starts_like_a_short_signature_stays_text_and_more_formats_are_known(
    data: bytes, content_type: str
) -> None:
    sniffer = FileSniffer()
    sniffer.feed(data)
    assert sniffer.facts().content_type == content_type


def test_filetype_alone_knows_every_binary_format_of_the_old_sniffer_but_no_text() -> None:
    """Why the sniffer keeps its own text and JSON checks: the library agrees on every binary
    format the hand-written table knew, and names no text or JSON (and calls some text a
    binary format)."""
    binary = [(d, t) for d, t in SAMPLES if t not in (
        "application/octet-stream", "application/json", "text/plain; charset=utf-8")]
    assert len(binary) == 9  # PNG, JPEG, GIF 87a/89a, WebP, PDF, zip, gzip, WAV
    assert [filetype.guess_mime(d) for d, _ in binary] == [t for _, t in binary]
    texts = [d for d, t in SAMPLES if t in ("application/json", "text/plain; charset=utf-8")]
    assert [filetype.guess_mime(d) for d in texts] == [None] * len(texts)
    assert filetype.guess_mime(b"BMW is a car brand") == "image/bmp"


def test_inspect_file_streams_a_file_and_says_when_it_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = PNG + bytes(3 * 1024 * 1024)
    path.write_bytes(data)
    facts = inspect_file(path, chunk_bytes=64 * 1024)
    assert (facts.size, facts.content_type) == (len(data), "image/png")
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(FileNotFoundError):
        inspect_file(tmp_path / "missing")


def test_inspect_file_reports_its_progress_on_large_files(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(10 * 1024))
    seen: list[tuple[int, int]] = []
    inspect_file(path, chunk_bytes=1024, on_progress=lambda d, t: seen.append((d, t)),
                 progress_every=3 * 1024)
    assert seen == [(3072, 10240), (6144, 10240), (9216, 10240)]
    seen.clear()
    inspect_file(path, chunk_bytes=1024, on_progress=lambda d, t: seen.append((d, t)))
    assert seen == []  # smaller than the default 8 MiB between reports


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a\x00b\x1f\x7f.txt", "ab.txt"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("..", "upload"),
        ("dir/..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("   ", "upload"),
        ("x" * 300 + ".txt", "x" * FILENAME_MAX),
    ],
)
def test_display_filenames_keep_only_a_clean_basename(raw: str | None, shown: str) -> None:
    assert display_filename(raw) == shown
