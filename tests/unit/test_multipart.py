"""The streaming multipart parser: the same parts however the body is cut into chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.http.plumbing.multipart import (
    Event,
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_from_content_type,
    parse_header_params,
)

BOUNDARY = b"----formBoundaryX7"

# Content that looks like a delimiter without being one: a prefix of it, and the boundary
# preceded by a bare LF or by CR alone.
TRICKY = (b"\x89PNG\r\n\x1a\n" + b"\r\n------formBoundary" + b"\r\n--" + b"\n------formBoundaryX7"
          + b"\r------formBoundaryX7" + b"\r\r\n" + bytes(range(256)))

BODY = (
    b"preamble to ignore\r\n"
    b"------formBoundaryX7\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"hello\r\n"
    b"------formBoundaryX7  \t\r\n"  # transport padding after the boundary
    b'Content-Disposition: form-data; name="file"; filename="../a \\"b\\".png"\r\n'
    b"Content-Type: image/png\r\n"
    b"\r\n" + TRICKY + b"\r\n"
    b"------formBoundaryX7\r\n"
    b"\r\n"  # a part without headers
    b"\r\n"
    b"------formBoundaryX7--\r\n"
    b"epilogue, also ignored ------formBoundaryX7\r\n"
)

EXPECTED = [
    ({"content-disposition": 'form-data; name="title"'}, "title", None, b"hello"),
    (
        {"content-disposition": 'form-data; name="file"; filename="../a \\"b\\".png"',
         "content-type": "image/png"},
        "file", '../a "b".png', TRICKY,
    ),
    ({}, None, None, b""),
]


def collect(events: list[Event]) -> list[tuple[dict[str, str], str | None, str | None, bytes]]:
    parts: list[tuple[dict[str, str], str | None, str | None, bytes]] = []
    current: PartStart | None = None
    data = b""
    for event in events:
        if isinstance(event, PartStart):
            assert current is None
            current, data = event, b""
        elif isinstance(event, PartData):
            assert current is not None
            assert event.data
            data += event.data
        else:
            assert isinstance(event, PartEnd)
            assert current is not None
            parts.append((current.headers, current.name, current.filename, data))
            current = None
    assert current is None
    return parts


def parse_in_chunks(body: bytes, cuts: list[int], boundary: bytes = BOUNDARY) -> list[Event]:
    parser = MultipartParser(boundary)
    events: list[Event] = []
    edges = [0, *cuts, len(body)]
    for start, end in itertools.pairwise(edges):
        events += parser.feed(body[start:end])
    parser.close()
    assert parser.done
    return events


def test_a_body_in_one_chunk() -> None:
    assert collect(parse_in_chunks(BODY, [])) == EXPECTED


def test_a_body_cut_in_two_at_every_offset() -> None:
    for cut in range(len(BODY) + 1):
        assert collect(parse_in_chunks(BODY, [cut])) == EXPECTED, f"cut at {cut}"


def test_a_body_cut_in_three_at_every_pair_of_offsets_near_the_delimiters() -> None:
    marks = [i for i in range(len(BODY)) if BODY.startswith(b"\r\n--", i)]
    near = sorted({j for m in marks for j in range(m - 3, m + len(BOUNDARY) + 8)
                   if 0 <= j <= len(BODY)})
    for a in near:
        for b in near:
            if a <= b:
                assert collect(parse_in_chunks(BODY, [a, b])) == EXPECTED, (a, b)


def test_a_body_fed_one_byte_at_a_time() -> None:
    assert collect(parse_in_chunks(BODY, list(range(1, len(BODY))))) == EXPECTED


def test_a_first_boundary_at_the_very_start_needs_no_preamble() -> None:
    body = b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--"
    assert collect(parse_in_chunks(body, [], boundary=b"b")) == [
        ({"content-disposition": "form-data; name=x"}, "x", None, b"1")]


def test_part_bodies_are_passed_on_without_waiting_for_the_end() -> None:
    parser = MultipartParser(BOUNDARY)
    head = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
    events = parser.feed(head + b"a" * 100_000)
    assert isinstance(events[0], PartStart)
    assert sum(len(e.data) for e in events if isinstance(e, PartData)) == 100_000
    held = parser.feed(b"b" * 10 + b"\r\n--")  # could be the start of the delimiter
    assert held == [PartData(b"b" * 10)]
    assert parser.feed(b"not the boundary") == [PartData(b"\r\n--not the boundary")]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nno end", "ended before"),
        (b"nothing but preamble", "ended before"),
        (b"--b\r\n\r\n", "ended before"),
        (b"--bX\r\n\r\n1\r\n--b--", "after a boundary"),
        (b"--b\r\nno colon here\r\n\r\n1\r\n--b--", "malformed part header"),
        (b"--b\r\nX-Long: " + b"y" * 20_000 + b"\r\n\r\n--b--", "exceed"),
        (b"--b\r\n" + b"X-Long: y\r\n" * 3000, "exceed"),
        (b"--b\r\nContent-Disposition: form-data; name=\"x\r\n\r\n--b--", "unterminated"),
        (b"".join(b"--b\r\n\r\n\r\n" for _ in range(101)) + b"--b--", "more than 100 parts"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, problem: str) -> None:
    parser = MultipartParser(b"b")
    with pytest.raises(MultipartError, match=problem):
        _feed_in_small_chunks(parser, body)


def _feed_in_small_chunks(parser: MultipartParser, body: bytes) -> None:
    for i in range(0, len(body), 7):
        parser.feed(body[i:i + 7])
    parser.close()


def test_data_after_the_closing_boundary_is_ignored() -> None:
    parser = MultipartParser(b"b")
    parser.feed(b"--b--\r\n")
    assert parser.done
    assert parser.feed(b"--b\r\n\r\nmore") == []
    parser.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('form-data; name="file"; filename="a.png"', {"name": "file", "filename": "a.png"}),
        ("form-data; name=file; filename=a.png", {"name": "file", "filename": "a.png"}),
        ('form-data; name="f"; filename="C:\\Users\\me\\a.png"',
         {"name": "f", "filename": "C:\\Users\\me\\a.png"}),
        ('form-data; name="f"; filename="a\\"b.txt"', {"name": "f", "filename": 'a"b.txt'}),
        ("form-data; name=\"f\"; filename=\"x.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
         {"name": "f", "filename": "€ rates.txt"}),
        ('FORM-DATA; NAME="f" ; flag; filename="semi;colon.txt"',
         {"name": "f", "filename": "semi;colon.txt"}),
    ],
)
def test_header_parameters(value: str, expected: dict[str, str]) -> None:
    assert parse_header_params(value) == ("form-data", expected)


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('Multipart/Form-Data; charset=utf-8; boundary="a b:c"', b"a b:c"),
        ("multipart/form-data; boundary=" + "x" * 70, b"x" * 70),
    ],
)
def test_the_boundary_comes_from_the_content_type(content_type: str, boundary: bytes) -> None:
    assert boundary_from_content_type(content_type) == boundary


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 71,
        'multipart/form-data; boundary="trailing "',
        "multipart/form-data; boundary=é",
        'multipart/form-data; boundary="unterminated',
    ],
)
def test_a_content_type_without_a_usable_boundary_is_refused(content_type: str | None) -> None:
    with pytest.raises(MultipartError):
        boundary_from_content_type(content_type)


def encode(parts: list[tuple[str, bytes]], boundary: bytes) -> bytes:
    out = b""
    for name, data in parts:
        out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode()
        out += b'"\r\n\r\n' + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


@settings(max_examples=300, deadline=None)
@given(
    contents=st.lists(st.binary(max_size=60) | st.sampled_from(
        [b"\r\n--b", b"\r\n--", b"\r", b"\r\n-bb", b"--b--", b"\r\r\n--b\r"]), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6),
)
def test_any_contents_cut_anywhere_come_back_intact(contents: list[bytes], cuts: list[int]
                                                    ) -> None:
    boundary = b"bbX"
    delimiter = b"\r\n--" + boundary
    # A part may hold anything but its delimiter (prefixes of it are the interesting case).
    parts = [(f"p{i}", data) for i, data in enumerate(contents)
             if (data + delimiter).find(delimiter) == len(data)]
    body = encode(parts, boundary)
    events = parse_in_chunks(body, sorted(c for c in cuts if c <= len(body)), boundary)
    assert [(name, data) for _h, name, _f, data in collect(events)] == parts
