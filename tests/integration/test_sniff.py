"""Content sniffing from bytes alone, streamed in chunks; and display names for uploads."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from typing import TYPE_CHECKING

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
    (gzip.compress(b"hello" * 100), "application/gzip"),
    (b'{"a": [1, 2, {"b": "\xc3\xa9"}]}\n', "application/json"),
    (b'\xef\xbb\xbf  [1, 2, 3]', "application/json"),
    (b'{"not": json', "text/plain; charset=utf-8"),
    ("Grüße\r\n\tplain text\n".encode(), "text/plain; charset=utf-8"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "application/octet-stream"),
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


def test_inspect_file_streams_a_file_and_says_when_it_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = PNG + bytes(3 * 1024 * 1024)
    path.write_bytes(data)
    facts = inspect_file(path, chunk_bytes=64 * 1024)
    assert (facts.size, facts.content_type) == (len(data), "image/png")
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(FileNotFoundError):
        inspect_file(tmp_path / "missing")


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
