"""What the finish step of an upload's workflow records from its steps' results: pure."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain.sniff import FileFacts
from service.domain.uploads import Derived
from service.tasks.finish_upload import derived_from

PNG = FileFacts(size=1, sha256="0" * 64, content_type="image/png")
PDF = FileFacts(size=1, sha256="0" * 64, content_type="application/pdf")
ZIP = FileFacts(size=1, sha256="0" * 64, content_type="application/zip")
SKIPPED = {"skipped": "not a PDF or a text file"}


@pytest.mark.parametrize(("facts", "thumbnail", "text", "expected"), [
    (PNG, {"content_type": "image/png", "width": 1, "height": 1}, SKIPPED,
     Derived(thumbnail_type="image/png")),
    (PNG, None, SKIPPED,
     Derived(notes=("no thumbnail: the thumbnail step did not complete (see its job)",))),
    (PNG, {"skipped": "the image does not decode: x"}, SKIPPED,
     Derived(notes=("no thumbnail: the image does not decode: x",))),
    (PDF, {"skipped": "not an image"}, {"text": "Hello", "pages": 1},
     Derived(text_excerpt="Hello")),
    (PDF, {"skipped": "not an image"}, {"text": " \n", "pages": 3},
     Derived(notes=("no text: the PDF has no text layer (a scan?)",))),
    (PDF, {"skipped": "not an image"}, None,
     Derived(notes=("no text: the text step did not complete (see its job)",))),
    # Extras that do not fit the type the inspection found are ignored, and so are misses.
    (ZIP, {"content_type": "image/png", "width": 1, "height": 1}, {"text": "x", "pages": None},
     Derived()),
    (ZIP, None, None, Derived()),
])
def test_finish_keeps_what_fits_the_type_and_notes_what_is_missing(
    facts: FileFacts, thumbnail: Any, text: Any, expected: Derived,
) -> None:
    assert derived_from(facts, thumbnail, text) == expected
