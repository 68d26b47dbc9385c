"""The one payload converter: round trips, strict primitives, and errors naming the field."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
import typing
import uuid
from typing import Any, Literal

import attrs
import pytest

from service.jobs import _codec as codec
from service.jobs._errors import PayloadError, ServiceError

NAME = "signup.welcome"


@attrs.frozen(kw_only=True)
class Address:
    city: str
    zip_code: str | None = None


@attrs.frozen(kw_only=True)
class Signup:
    user_id: uuid.UUID
    at: dt.datetime
    count: int
    score: float
    active: bool
    address: Address
    previous: list[Address] = attrs.field(factory=list)
    tags: list[str] = attrs.field(factory=list)
    note: str | None = None
    referrer: uuid.UUID | None = None


def _signup(**overrides: Any) -> Signup:
    fields: dict[str, Any] = {
        "user_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "at": dt.datetime(2027, 1, 15, 8, 0, 0, 123456, tzinfo=dt.UTC),
        "count": 3,
        "score": 0.75,
        "active": True,
        "address": Address(city="Lyon", zip_code="69001"),
        "previous": [Address(city="Paris"), Address(city="Nice", zip_code="06000")],
        "tags": ["a", "b"],
        "note": "hello",
        "referrer": uuid.UUID("87654321-4321-8765-4321-876543218765"),
    }
    fields.update(overrides)
    return Signup(**fields)


def _plain(**overrides: Any) -> dict[str, Any]:
    """Valid plain data for :class:`Signup`, with some keys replaced."""
    data: dict[str, Any] = json.loads(codec.encode(_signup(), name=NAME))
    data.update(overrides)
    return data


def _decode_error(data: Any) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        codec.decode(json.dumps(data), Signup, name=NAME)
    return info.value


# -- round trips -----------------------------------------------------------------------------


def test_full_payload_survives_a_round_trip() -> None:
    signup = _signup()
    assert codec.decode(codec.encode(signup, name=NAME), Signup, name=NAME) == signup


def test_optionals_left_out_survive_a_round_trip() -> None:
    signup = _signup(previous=[], tags=[], note=None, referrer=None)
    decoded = codec.decode(codec.encode(signup, name=NAME), Signup, name=NAME)
    assert decoded == signup
    assert decoded.note is None
    assert decoded.referrer is None


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 15, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2027, 1, 15, 8, 0),
    ],
    ids=["utc", "offset", "naive"],
)
def test_datetime_keeps_its_offset_through_a_round_trip(moment: dt.datetime) -> None:
    decoded = codec.decode(codec.encode(_signup(at=moment), name=NAME), Signup, name=NAME)
    assert decoded.at == moment
    assert decoded.at.utcoffset() == moment.utcoffset()


def test_encoded_json_is_compact_with_uuid_and_datetime_as_strings() -> None:
    text = codec.encode(_signup(), name=NAME)
    assert ", " not in text
    assert ": " not in text
    data = json.loads(text)
    assert data["user_id"] == "12345678-1234-5678-1234-567812345678"
    assert data["at"] == "2027-01-15T08:00:00.123456+00:00"
    assert data["address"] == {"city": "Lyon", "zip_code": "69001"}
    assert data["previous"][0] == {"city": "Paris", "zip_code": None}


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "null"), (3, "3"), ("ok", '"ok"'), ([1, 2], "[1,2]"), ({"a": 1.5}, '{"a":1.5}')],
)
def test_plain_results_encode_as_json(value: Any, text: str) -> None:
    assert codec.encode(value, name=NAME) == text


def test_structure_builds_from_plain_data() -> None:
    assert codec.structure({"city": "Oslo"}, Address, name=NAME) == Address(city="Oslo")


# -- unknown and missing keys ----------------------------------------------------------------


def test_unknown_top_level_key_is_rejected_naming_the_key() -> None:
    error = _decode_error(_plain(colour="blue"))
    assert list(error.fields) == ["$"]
    assert "colour" in error.fields["$"]


def test_unknown_nested_key_is_rejected_at_its_object_path() -> None:
    error = _decode_error(_plain(address={"city": "Lyon", "street": "x"}))
    assert list(error.fields) == ["$.address"]
    assert "street" in error.fields["$.address"]


def test_unknown_key_in_a_list_item_is_rejected_at_its_index() -> None:
    error = _decode_error(_plain(previous=[{"city": "Paris"}, {"city": "Nice", "planet": "E"}]))
    assert list(error.fields) == ["$.previous[1]"]
    assert "planet" in error.fields["$.previous[1]"]


def test_missing_required_field_is_named() -> None:
    data = _plain()
    del data["count"]
    error = _decode_error(data)
    assert error.fields == {"$.count": "required field missing"}


def test_every_bad_field_is_reported() -> None:
    error = _decode_error(_plain(count="1", score="x"))
    assert set(error.fields) == {"$.count", "$.score"}


# -- strict primitives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        ("$.count", {"count": "1"}),
        ("$.count", {"count": 1.5}),
        ("$.count", {"count": 1.0}),
        ("$.count", {"count": True}),
        ("$.count", {"count": None}),
        ("$.score", {"score": True}),
        ("$.score", {"score": "0.5"}),
        ("$.active", {"active": 1}),
        ("$.active", {"active": "true"}),
        ("$.note", {"note": 5}),
        ("$.tags[1]", {"tags": ["a", 2]}),
        ("$.user_id", {"user_id": 1234}),
        ("$.user_id", {"user_id": "not-a-uuid"}),
        ("$.referrer", {"referrer": 5}),
        ("$.at", {"at": 1_800_000_000}),
        ("$.at", {"at": "yesterday"}),
        ("$.address", {"address": "Lyon"}),
        ("$.address.city", {"address": {"city": 7}}),
        ("$.previous[0].city", {"previous": [{"city": None}]}),
    ],
    ids=lambda v: v if isinstance(v, str) else json.dumps(v),
)
def test_value_of_the_wrong_type_is_rejected_naming_its_path(
    path: str, overrides: dict[str, Any]
) -> None:
    error = _decode_error(_plain(**overrides))
    assert path in error.fields


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        ("$.tags", {"tags": "ab"}),
        ("$.tags", {"tags": {"x": 1, "y": 2}}),
        ("$.previous", {"previous": {"city": "Paris"}}),
    ],
    ids=["string-as-list", "object-as-list", "object-as-list-of-objects"],
)
def test_list_field_given_a_string_or_an_object_is_rejected_at_its_path(
    path: str, overrides: dict[str, Any]
) -> None:
    error = _decode_error(_plain(**overrides))
    assert path in error.fields


def test_int_is_accepted_for_a_float_field_and_becomes_a_float() -> None:
    decoded = codec.decode(json.dumps(_plain(score=2)), Signup, name=NAME)
    assert decoded.score == 2.0
    assert type(decoded.score) is float


# -- not JSON, not an object -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "nope", "{", '{"count": 1,}', "{'a': 1}"])
def test_invalid_json_text_is_a_payload_error_at_the_root(text: str) -> None:
    with pytest.raises(PayloadError) as info:
        codec.decode(text, Signup, name=NAME)
    assert list(info.value.fields) == ["$"]
    assert "not valid JSON" in info.value.fields["$"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[1, 2]", "an array"), ('"x"', "a string"), ("1", "a number"), ("null", "null"),
     ("true", "a boolean")],
)
def test_payload_that_is_not_an_object_is_rejected_in_json_words(text: str, kind: str) -> None:
    with pytest.raises(PayloadError) as info:
        codec.decode(text, Signup, name=NAME)
    assert info.value.fields == {"$": f"expected an object, got {kind}"}


# -- the error itself ------------------------------------------------------------------------


def test_payload_error_names_the_task_and_the_field() -> None:
    error = _decode_error(_plain(count="1"))
    assert isinstance(error, ValueError)
    assert isinstance(error, ServiceError)
    assert error.task == NAME
    assert f"task {NAME!r}" in str(error)
    assert "$.count" in str(error)


def test_error_fields_of_a_plain_exception_sit_at_the_root() -> None:
    assert codec.error_fields(ValueError("boom")) == {"$": "boom"}
    assert codec.error_fields(ValueError()) == {"$": "ValueError"}


# -- values that cannot be stored ------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [object(), {"a": object()}, [1, complex(1, 2)]], ids=["object", "nested", "complex"]
)
def test_encoding_a_value_that_is_not_json_is_a_payload_error(value: Any) -> None:
    with pytest.raises(PayloadError) as info:
        codec.encode(value, name=NAME)
    assert info.value.task == NAME
    assert "cannot be stored as JSON" in info.value.fields["$"]
    assert f"task {NAME!r}" in str(info.value)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_encoding_nan_or_infinity_is_a_payload_error(number: float) -> None:
    with pytest.raises(PayloadError, match="cannot be stored as JSON"):
        codec.encode(_signup(score=number), name=NAME)
    with pytest.raises(PayloadError):
        codec.encode({"value": number}, name=NAME)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_decoding_nan_or_infinity_is_a_payload_error(constant: str) -> None:
    text = codec.encode(_signup(), name=NAME).replace('"score":0.75', f'"score":{constant}')
    assert constant in text
    with pytest.raises(PayloadError):
        codec.decode(text, Signup, name=NAME)


@attrs.frozen(kw_only=True)
class Scheduled:
    at: dt.datetime | float | None = None
    when: dt.datetime
    count: int | None = None
    tags: list[str] = attrs.field(factory=list)


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"when": 5}, {"$.when": "expected an ISO 8601 string, got a number"}),
        ({"when": "2030-01-01", "count": "1"}, {"$.count": "expected an integer, got a string"}),
        ({"when": "2030-01-01", "tags": [1]}, {"$.tags[0]": "expected a string, got a number"}),
        ({"when": "2030-01-01", "tags": {}}, {"$.tags": "expected an array, got an object"}),
        ({"when": "2030-01-01", "at": True},
         {"$.at": "expected an RFC 3339 timestamp with an offset or epoch seconds,"
                  " got a boolean"}),
        ({"when": "2030-01-01", "at": "2030-01-01T00:00:00"},
         {"$.at": "expected an RFC 3339 timestamp with an offset (Z or +01:00) or epoch seconds,"
                  " got a timestamp without one"}),
        ({"when": "2030-01-01", "at": "soon"},
         {"$.at": "expected an RFC 3339 timestamp with an offset or epoch seconds,"
                  " got a string that is not a timestamp"}),
    ],
)
def test_errors_name_json_types_never_python_ones(
    data: dict[str, object], fields: dict[str, str]
) -> None:
    with pytest.raises(PayloadError) as info:
        codec.structure(data, Scheduled, name=NAME)
    assert info.value.fields == fields
    words = set(re.findall(r"\w+", str(info.value.fields)))
    assert not words & {"int", "str", "NoneType", "dict", "list", "float", "bool", "datetime"}


def test_a_moment_is_an_aware_timestamp_or_epoch_seconds() -> None:
    aware = codec.structure({"when": "2030-01-01", "at": "2030-01-01T01:00:00+01:00"},
                            Scheduled, name=NAME)
    assert aware.at == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    epoch = codec.structure({"when": "2030-01-01", "at": 1_900_000_000}, Scheduled, name=NAME)
    assert epoch.at == 1_900_000_000.0
    assert codec.structure({"when": "2030-01-01"}, Scheduled, name=NAME).at is None


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen(kw_only=True)
class Painted:
    colour: Colour
    shade: typing.Literal["light", "dark"] = "light"


def test_an_enum_or_literal_field_names_its_values() -> None:
    with pytest.raises(PayloadError) as info:
        codec.structure({"colour": "green", "shade": "pale"}, Painted, name=NAME)
    assert info.value.fields == {
        "$.colour": 'invalid value, expected one of "red", "blue"',
        "$.shade": 'expected one of "light", "dark", got "pale"',
    }


@attrs.frozen(kw_only=True)
class Choice:
    mode: Literal["keep", "replace"] = "keep"
    level: Literal[1, 2] = 1


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"mode": "merge"}, "$.mode", 'expected one of "keep", "replace", got "merge"'),
        ({"level": True}, "$.level", "expected one of 1, 2, got true"),
        ({"level": 1.0}, "$.level", "expected one of 1, 2, got 1.0"),
    ],
)
def test_a_literal_field_names_the_values_it_accepts(
    data: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(PayloadError) as info:
        codec.structure(data, Choice, name="choice")
    assert info.value.fields == {field: words}
    assert codec.structure({"mode": "replace", "level": 2}, Choice, name="choice") == Choice(
        mode="replace", level=2)


@attrs.frozen(kw_only=True)
class Placeholder:
    """A field typed exactly ``None`` (a placeholder kept for a later version of the task)."""

    reserved: None = None
    count: int = 0


def test_a_field_typed_none_is_pushed_and_decoded_by_the_worker() -> None:
    from service.jobs._payload_check import encode_task

    text = encode_task(Placeholder(count=2), name=NAME)  # the push's check
    assert codec.decode(text, Placeholder, name=NAME) == Placeholder(count=2)  # the worker's


def test_a_field_typed_none_refuses_any_other_value_naming_it() -> None:
    with pytest.raises(PayloadError) as caught:
        codec.decode('{"reserved": 5, "count": 1}', Placeholder, name=NAME)
    assert caught.value.fields == {"$.reserved": "expected null, got a number"}
