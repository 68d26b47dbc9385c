"""The one cattrs converter: task arguments and results to JSON and back.

Unknown keys are rejected and primitives are strict (``"1"`` is not an int, ``1.5`` is not
an int, ``true`` is not a number), so a payload either decodes exactly or is refused with a
message naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import types
import typing
import uuid
from typing import Any, TypeVar

import cattrs
from cattrs.cols import list_structure_factory
from cattrs.preconf.json import make_converter

from ._errors import PayloadError

if typing.TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def json_kind(value: Any) -> str:
    """What ``value`` is, in JSON's words ("a string", "null", "an array"), for error messages
    a client reads: never a Python type name."""
    if value is None:
        return "null"
    for kinds, word in _KINDS:
        if isinstance(value, kinds):
            return word
    return f"a value of type {type(value).__name__}"  # only Python callers pass such values


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"), ((int, float), "a number"), (str, "a string"),
    ((list, tuple), "an array"), (dict, "an object"),
)


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, float):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {json_kind(value)}")
    return value


def _strict_float(value: Any, _type: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {json_kind(value)}")
    return float(value)


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {json_kind(value)}")
    return value


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {json_kind(value)}")
    return value


def _strict_none(value: Any, _type: type) -> None:
    # A field annotated ``None``: cattrs has no hook for the bare type (``X | None`` has one).
    if value is not None:
        raise TypeError(f"expected null, got {json_kind(value)}")


def _uuid(value: Any, _type: type) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {json_kind(value)}")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError("expected a UUID string, got a string that is not a UUID") from None


def _datetime(value: Any, _type: type) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {json_kind(value)}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an ISO 8601 string, got a string that is not one") from None


#: A point in time as an operator gives one: an aware datetime or epoch seconds
#: (``JobStore.push``'s ``run_at``). JSON: RFC 3339 text with an offset, or a number.
Moment = dt.datetime | float


def _is_moment(type_: Any) -> bool:
    """``Moment`` or ``Moment | None`` (cattrs would otherwise try the union's members)."""
    return typing.get_origin(type_) in (typing.Union, types.UnionType) and (
        set(typing.get_args(type_)) - {type(None)} == {dt.datetime, float})


def _moment(value: Any, type_: Any) -> Moment | None:
    if value is None and type(None) in typing.get_args(type_):
        return None
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an RFC 3339 timestamp with an offset or epoch seconds,"
                             " got a string that is not a timestamp") from None
        if moment.tzinfo is None:
            raise ValueError("expected an RFC 3339 timestamp with an offset (Z or +01:00) or"
                             " epoch seconds, got a timestamp without one")
        return moment
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected an RFC 3339 timestamp with an offset or epoch seconds,"
                        f" got {json_kind(value)}")
    return _finite_float(value, float)


def _finite_float(value: Any, _type: type) -> float:
    number = _strict_float(value, _type)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {number!r}")
    return number


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_list(t: Any) -> bool:
    return t is list or typing.get_origin(t) is list


def _strict_list(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], list[Any]]:
    inner = list_structure_factory(t, conv)

    def structure_list(value: Any, type_: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected an array, got {json_kind(value)}")
        result: list[Any] = inner(value, type_)
        return result

    return structure_list


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is typing.Literal


def _as_json(value: Any) -> str:
    """``value`` as JSON text when it is JSON data, for a message a client reads."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json_kind(value)  # only Python callers pass such values


def _literal(t: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(t)
    expected = ", ".join(_as_json(a) for a in allowed)

    def structure_literal(value: Any, _type: Any) -> Any:
        # By type too: True is not 1, and 1.0 is not 1.
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ValueError(f"expected one of {expected}, got {_as_json(value)}")
        return value

    return structure_literal


def _build() -> cattrs.Converter:
    conv = make_converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _finite_float)
    conv.register_structure_hook_factory(_is_list, _strict_list)
    conv.register_structure_hook_factory(_is_literal, _literal)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(type(None), _strict_none)
    conv.register_structure_hook(uuid.UUID, _uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook(dt.datetime, _datetime)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    conv.register_structure_hook_func(_is_moment, _moment)
    return conv


converter: cattrs.Converter = _build()


def error_fields(exc: BaseException) -> dict[str, str]:
    """``{"$.field": "what is wrong"}`` for a cattrs structuring error."""
    fields: dict[str, str] = {}
    if isinstance(exc, cattrs.BaseValidationError | cattrs.ForbiddenExtraKeysError):
        for line in cattrs.transform_error(exc, format_exception=_format_error):
            problem, _, path = line.rpartition(" @ ")
            fields[path or "$"] = problem or line
    else:
        fields["$"] = str(exc) or type(exc).__name__
    return fields


#: How an error names a declared type: JSON's words, never a Python type name.
_TYPE_WORDS: dict[Any, str] = {
    int: "an integer", float: "a number", str: "a string", bool: "a boolean",
    uuid.UUID: "a UUID string", dt.datetime: "an ISO 8601 timestamp", list: "an array",
    dict: "an object", type(None): "null",
}


def describe_type(type_: Any) -> str:
    """``type_`` in a client's words: ``int | None`` is "an integer or null"."""
    if type_ in _TYPE_WORDS:
        return _TYPE_WORDS[type_]
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arg) for arg in typing.get_args(type_))
    origin = typing.get_origin(type_)
    if origin in _TYPE_WORDS:
        return _TYPE_WORDS[origin]
    if typing.get_origin(type_) is typing.Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in typing.get_args(type_))
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return "one of " + ", ".join(json.dumps(member.value) for member in type_)
    if attrs_like(type_) or (isinstance(type_, type) and issubclass(type_, dict)):
        return "an object"
    return "a valid value"


def _format_error(exc: BaseException, type_: Any) -> str:
    """cattrs's error formatter, in JSON's words: our hooks' own messages ("expected an
    integer, got a string") as they are, else the declared type described."""
    if isinstance(exc, TypeError | ValueError) and str(exc).startswith("expected"):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"extra fields found ({', '.join(sorted(exc.extra_fields))})"
    if isinstance(exc, KeyError):
        return "required field missing"
    if type_ is not None:
        return f"invalid value, expected {describe_type(type_)}"
    if isinstance(exc, AttributeError | TypeError):
        return "invalid value, expected an object" if "items" in str(exc) else "invalid value"
    return "invalid value"


def structure(data: Any, cls: type[T], *, name: str) -> T:
    """Build ``cls`` from plain data, or raise :class:`PayloadError` naming the field."""
    if not isinstance(data, dict) and attrs_like(cls):
        raise PayloadError(name, {"$": f"expected an object, got {json_kind(data)}"})
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise PayloadError(name, error_fields(exc)) from exc


def attrs_like(cls: type) -> bool:
    return hasattr(cls, "__attrs_attrs__")


def decode(text: str, cls: type[T], *, name: str) -> T:
    """Parse JSON text into ``cls``; any problem is a :class:`PayloadError`."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, TypeError) as exc:
        raise PayloadError(name, {"$": f"not valid JSON: {exc}"}) from exc
    return structure(data, cls, name=name)


#: One compact, strict encoder (``json.dumps`` with options builds a new one on every call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _compact_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode``, with the C encoder it builds made once instead of per call (that
    build is ~1.4 of its ~2.4 µs for a small task's payload). No circular-reference check: a
    cycle ends in ``RecursionError``, refused as any value that cannot be stored."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    try:
        chunks = make(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None,
                      _ENCODER.key_separator, _ENCODER.item_separator, False, False, False)
    except TypeError:  # another signature: keep the encoder's own path
        return _ENCODER.encode

    def encode(value: Any) -> str:
        if isinstance(value, str):  # the C encoder takes containers; a bare string is quoted
            return _ENCODER.encode(value)
        return "".join(chunks(value, 0))

    return encode


#: JSON text of unstructured data, compact, NaN and infinities refused.
encode_json = _compact_encoder()


def encode(value: Any, *, name: str, as_type: Any = None) -> str:
    """JSON text for an attrs instance or JSON-able value; :class:`PayloadError` if impossible.

    ``as_type``: unstructure ``value`` as this declared type (a field's) rather than its own.
    """
    try:
        if as_type is None:
            return encode_json(converter.unstructure(value))
        return encode_json(converter.unstructure(value, unstructure_as=as_type))
    except Exception as exc:  # unstructuring a value of the wrong shape raises anything
        raise PayloadError(name, {"$": f"cannot be stored as JSON: {exc}"}) from exc
