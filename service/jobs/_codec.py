"""The one cattrs converter: task arguments and results to JSON and back.

Unknown keys are rejected and primitives are strict (``"1"`` is not an int, ``1.5`` is not
an int, ``true`` is not a number), so a payload either decodes exactly or is refused with a
message naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import typing
import uuid
from typing import Any, TypeVar

import cattrs
from cattrs.cols import list_structure_factory
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._errors import PayloadError

if typing.TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_float(value: Any, _type: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _uuid(value: Any, _type: type) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {type(value).__name__}")
    return uuid.UUID(value)


def _datetime(value: Any, _type: type) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return dt.datetime.fromisoformat(value)


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
            raise TypeError(f"expected a list, got {type(value).__name__}")
        result: list[Any] = inner(value, type_)
        return result

    return structure_list


class _Refused(ValueError):
    """A value refused by one of our hooks, whose message is the whole explanation."""


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, _Refused):
        return str(exc)
    return format_exception(exc, type_)


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is typing.Literal


def _literal(t: Any) -> Callable[[Any, Any], Any]:
    allowed = typing.get_args(t)
    expected = ", ".join(repr(a) for a in allowed)

    def structure_literal(value: Any, _type: Any) -> Any:
        # By type too: True is not 1, and 1.0 is not 1.
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise _Refused(f"expected one of {expected}, got {value!r}")
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
    conv.register_structure_hook(uuid.UUID, _uuid)
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_structure_hook(dt.datetime, _datetime)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    return conv


converter: cattrs.Converter = _build()


def error_fields(exc: BaseException) -> dict[str, str]:
    """``{"$.field": "what is wrong"}`` for a cattrs structuring error."""
    fields: dict[str, str] = {}
    if isinstance(exc, cattrs.BaseValidationError | cattrs.ForbiddenExtraKeysError):
        for line in cattrs.transform_error(exc, format_exception=_format_exception):
            problem, _, path = line.rpartition(" @ ")
            fields[path or "$"] = problem or line
    else:
        fields["$"] = str(exc) or type(exc).__name__
    return fields


def structure(data: Any, cls: type[T], *, name: str) -> T:
    """Build ``cls`` from plain data, or raise :class:`PayloadError` naming the field."""
    if not isinstance(data, dict) and attrs_like(cls):
        raise PayloadError(name, {"$": f"expected an object, got {type(data).__name__}"})
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


def encode(value: Any, *, name: str, as_type: Any = None) -> str:
    """JSON text for an attrs instance or JSON-able value; :class:`PayloadError` if impossible.

    ``as_type``: unstructure ``value`` as this declared type (a field's) rather than its own.
    """
    try:
        if as_type is None:
            return _ENCODER.encode(converter.unstructure(value))
        return _ENCODER.encode(converter.unstructure(value, unstructure_as=as_type))
    except Exception as exc:  # unstructuring a value of the wrong shape raises anything
        raise PayloadError(name, {"$": f"cannot be stored as JSON: {exc}"}) from exc
