"""The CPU-bound steps of an upload, as plain functions on real files: thumbnails (Pillow) and
text (pypdf), including files that lie about what they are and decompression bombs."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from support.uploads import PNG, image_bytes, pdf_with_text, png_claiming

from service.domain.extract import EXCERPT_CHARS, BadDocument, NoText, extract_text
from service.domain.thumbnails import MAX_SIDE, BadImage, NotAnImage, make_thumbnail

if TYPE_CHECKING:
    from pathlib import Path


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("fmt", "size", "content_type", "expected"), [
    ("PNG", (1000, 500), "image/png", (256, 128)),
    ("JPEG", (3000, 2000), "image/jpeg", (256, 171)),
    ("GIF", (100, 300), "image/png", (85, 256)),
    ("WEBP", (64, 48), "image/png", (64, 48)),  # small images are not enlarged
])
def test_a_thumbnail_fits_the_bound_and_keeps_the_aspect(
    tmp_path: Path, fmt: str, size: tuple[int, int], content_type: str,
    expected: tuple[int, int],
) -> None:
    thumbnail = make_thumbnail(write(tmp_path, "image", image_bytes(size, fmt)))
    assert thumbnail.content_type == content_type
    decoded = Image.open(io.BytesIO(thumbnail.data))
    assert decoded.format == content_type.split("/")[1].upper()
    assert decoded.size == (thumbnail.width, thumbnail.height) == expected
    assert max(decoded.size) <= MAX_SIDE


def test_a_file_that_claims_to_be_a_png_but_is_not_is_a_bad_image_not_a_crash(
    tmp_path: Path,
) -> None:
    with pytest.raises(NotAnImage):
        make_thumbnail(write(tmp_path, "fake.png", PNG))
    truncated = image_bytes((400, 400), "PNG")[:300]
    with pytest.raises(BadImage, match="does not decode"):
        make_thumbnail(write(tmp_path, "cut.png", truncated))
    with pytest.raises(NotAnImage):
        make_thumbnail(write(tmp_path, "text.txt", b"hello"))
    with pytest.raises(FileNotFoundError):
        make_thumbnail(tmp_path / "missing")


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (8_000, 8_000)])
def test_a_decompression_bomb_is_refused_from_its_header(
    tmp_path: Path, width: int, height: int,
) -> None:
    with pytest.raises(BadImage, match="too large"):
        make_thumbnail(write(tmp_path, "bomb.png", png_claiming(width, height)))


def test_the_text_of_a_pdf_and_of_a_text_file(tmp_path: Path) -> None:
    pdf = extract_text(write(tmp_path, "a.pdf", pdf_with_text("Hello from page one",
                                                              "And (page) two")))
    assert pdf.pages == 2
    assert "Hello from page one" in pdf.text
    assert "And (page) two" in pdf.text
    text = extract_text(write(tmp_path, "a.txt", "Grüße\n".encode() * 1000))
    assert text.pages is None
    assert text.text == ("Grüße\n" * 1000)[:EXCERPT_CHARS]


def test_files_without_text_say_why(tmp_path: Path) -> None:
    with pytest.raises(NoText):
        extract_text(write(tmp_path, "a.bin", bytes(range(256))))
    with pytest.raises(NoText, match="UTF-8"):
        extract_text(write(tmp_path, "latin1.txt", b"caf\xe9"))
    with pytest.raises(BadDocument, match="the PDF cannot be read"):
        extract_text(write(tmp_path, "bad.pdf", b"%PDF-1.7\n this is not a PDF at all"))
    with pytest.raises(FileNotFoundError):
        extract_text(tmp_path / "missing")
