"""Refusing, at push time, a task whose stored payload a worker could not decode.

:func:`encode_task` is what every push uses (``push``, ``push_many``, a transaction's ``push``,
and through them the API and the CLI). The proof is the worker's own: decode the JSON text back
into the task's class with the one strict converter (:func:`.codec.decode`), so a refusal names
the task and the field in the very words the worker would use when it discards the job.

That full decode costs about as much again as the encode. So a check is built once per task
class (and cached) from its field types, for the types whose strict structuring
:mod:`.codec` defines: ``int``, ``float``, ``str``, ``bool``, ``None``, ``Any``, ``uuid.UUID``,
``datetime``, ``list[X]``, ``dict[str, X]``, ``X | None`` and nested attrs classes. It only
ever answers "certainly decodes" (a value of exactly the declared type): anything else --
another type, a subclass, a field with a converter or an alias, a type it does not know -- goes
to the full decode, which decides and words the error. Keep it in step with ``codec._build``.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from . import _codec as codec
from ._errors import PayloadError

#: ``value -> True`` if it certainly decodes as the type the check was built for.
Check = Callable[[Any], bool]

#: Per attrs class: its check, or None when only the full decode can tell.
_CLASS_CHECKS: dict[type, Check | None] = {}


def _unknown(value: Any) -> bool:  # a marker: the class has no entry yet
    return False


def encode_task(task: Any, *, name: str) -> str:
    """JSON text of ``task`` that decodes back into its class; :class:`PayloadError` if not.

    Raised before anything is written, naming the task and the field (``$.amount_cents``) with
    the same message the worker records when a stored payload fails to decode.
    """
    cls = type(task)
    try:
        text = codec.encode(task, name=name)
    except PayloadError as exc:
        raise _blame_field(task, cls, name, exc) from exc
    check = _CLASS_CHECKS.get(cls, _unknown)
    if check is _unknown:
        check = _class_check(cls)
    if check is None or not check(task):
        codec.decode(text, cls, name=name)  # raises the worker's PayloadError if it fails
    return text


def _blame_field(task: Any, cls: type, name: str, exc: PayloadError) -> PayloadError:
    """``exc`` (a task that cannot be stored as JSON) for the first field that cannot be stored
    on its own, named ``$.field``; ``exc`` itself if no single field is to blame."""
    try:
        fields = attrs.fields(attrs.resolve_types(cls)) if attrs.has(cls) else ()
    except Exception:
        return exc
    for field in fields:
        try:
            codec.encode(getattr(task, field.name), name=name, as_type=field.type)
        except PayloadError as inner:
            return PayloadError(name, {f"$.{field.name}": inner.fields["$"]})
    return exc


def _class_check(cls: type) -> Check | None:
    """The cached check of an attrs class (built on first use), or None."""
    if cls in _CLASS_CHECKS:
        return _CLASS_CHECKS[cls]
    _CLASS_CHECKS[cls] = None  # a class that refers to itself goes the full way
    _CLASS_CHECKS[cls] = check = _build_class_check(cls)
    return check


def _build_class_check(cls: type) -> Check | None:
    if not attrs.has(cls):
        return None
    try:
        fields = attrs.fields(attrs.resolve_types(cls))
    except Exception:  # an annotation that does not resolve: the converter will say
        return None
    checks: list[tuple[str, Check]] = []
    for field in fields:
        if not field.init or field.converter is not None or field.alias != field.name:
            return None
        check = _type_check(field.type)
        if check is None:
            return None
        checks.append((field.name, check))

    def check_instance(value: Any) -> bool:
        if type(value) is not cls:
            return False
        return all(check(getattr(value, name)) for name, check in checks)

    return check_instance


def _exactly(kind: type) -> Check:
    return lambda value: type(value) is kind


def _number(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def _none(value: Any) -> bool:
    return value is None


def _anything(value: Any) -> bool:
    return True


_LEAVES: dict[Any, Check] = {
    int: _exactly(int),
    str: _exactly(str),
    bool: _exactly(bool),
    float: _number,
    uuid.UUID: _exactly(uuid.UUID),
    dt.datetime: _exactly(dt.datetime),
    type(None): _none,
    Any: _anything,
}


def _type_check(t: Any) -> Check | None:
    """The check of one field type, or None if only the full decode can tell."""
    try:
        leaf = _LEAVES.get(t)
    except TypeError:  # an unhashable annotation: not one of ours
        return None
    if leaf is not None:
        return leaf
    if t is list:
        return _exactly(list)
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is list and len(args) == 1:
        return _list_check(args[0])
    if origin is dict and len(args) == 2 and args[0] is str:
        return _dict_check(args[1])
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        [inner] = [a for a in args if a is not type(None)]
        return _optional_check(inner)
    if isinstance(t, type) and attrs.has(t):
        return _nested_check(t)
    return None


def _list_check(item_type: Any) -> Check | None:
    item = _type_check(item_type)
    if item is None:
        return None
    return lambda value: type(value) is list and all(item(x) for x in value)


def _dict_check(value_type: Any) -> Check | None:
    item = _type_check(value_type)
    if item is None:
        return None
    return lambda value: type(value) is dict and all(
        type(k) is str and item(v) for k, v in value.items()
    )


def _optional_check(inner_type: Any) -> Check | None:
    inner = _type_check(inner_type)
    if inner is None:
        return None
    return lambda value: value is None or inner(value)


def _nested_check(cls: type) -> Check:
    # Looked up at call time: the class may still be being built (it refers to itself).
    def check(value: Any) -> bool:
        inner = _CLASS_CHECKS.get(cls)
        return inner is not None and inner(value)

    _class_check(cls)
    return check
