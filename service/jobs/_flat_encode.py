"""JSON text of a flat task without cattrs: the push-time fast path of :func:`.encode_task`.

A task class whose fields are all ``int``, ``float``, ``str``, ``bool``,
``uuid.UUID``, ``datetime`` or ``X | None`` of those gets an encoder generated once (and
cached) that checks each value is exactly its declared type and writes the JSON text itself --
the same text :func:`.codec.encode` writes, at a tenth of the cost. A value of another type
(a subclass, an ``int`` in a ``str`` field, a float that is not finite) makes it answer
``None``: the caller takes the full path, which decides and words the error. A value of exactly
the declared type also decodes back (what :mod:`._payload_check` proves), so the text needs no
further check.

The first instance of each class is encoded both ways; if the texts differ (a hook registered
on the converter, say) the class never takes this path.
"""

from __future__ import annotations

import datetime as dt
import json.encoder
import math
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import attrs

#: ``task -> JSON text``, or None when only the full path can tell.
Encoder = Callable[[Any], str | None]

#: Per class: its encoder, or None if it has none; the first call of each is checked.
_ENCODERS: dict[type, Encoder | None] = {}
_UNCHECKED: set[type] = set()

_NAMES: dict[str, Any] = {
    "_int": int.__repr__, "_float": float.__repr__, "_str": json.encoder.encode_basestring_ascii,
    "_finite": math.isfinite, "_UUID": uuid.UUID, "_datetime": dt.datetime,
}


def flat_encoder(cls: type) -> Encoder | None:
    """The cached encoder of ``cls`` (built on first use), or None if it has none."""
    try:
        return _ENCODERS[cls]
    except KeyError:
        pass
    encoder = _ENCODERS[cls] = _build(cls)
    if encoder is not None:
        _UNCHECKED.add(cls)
    return encoder


def unchecked(cls: type) -> bool:
    """Whether ``cls``'s encoder has yet to be compared with the full path."""
    return cls in _UNCHECKED


def compared(cls: type, same: bool) -> None:
    """The result of comparing ``cls``'s first text with the full path's."""
    _UNCHECKED.discard(cls)
    if not same:
        _ENCODERS[cls] = None


def _leaf(t: Any, v: str, out: str, pad: str) -> list[str] | None:
    """Lines that set ``out`` to the JSON of ``v`` (a value of type ``t``) or return None."""
    if t is int:
        return [f"{pad}if type({v}) is not int: return None", f"{pad}{out} = _int({v})"]
    if t is str:
        return [f"{pad}if type({v}) is not str: return None", f"{pad}{out} = _str({v})"]
    if t is bool:
        return [f"{pad}if {v} is True: {out} = 'true'",
                f"{pad}elif {v} is False: {out} = 'false'", f"{pad}else: return None"]
    if t is float:
        return [f"{pad}if type({v}) is float and _finite({v}): {out} = _float({v})",
                f"{pad}elif type({v}) is int: {out} = _int({v})", f"{pad}else: return None"]
    if t is uuid.UUID:
        return [f"{pad}if type({v}) is not _UUID: return None",
                f"{pad}{out} = '\"' + str({v}) + '\"'"]
    if t is dt.datetime:
        return [f"{pad}if type({v}) is not _datetime: return None",
                f"{pad}{out} = '\"' + {v}.isoformat() + '\"'"]
    return None


def _field(t: Any, v: str, out: str) -> list[str] | None:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = typing.get_args(t)
        if len(args) != 2 or type(None) not in args:
            return None
        [inner] = [a for a in args if a is not type(None)]
        lines = _leaf(inner, v, out, "        ")
        if lines is None:
            return None
        return [f"    if {v} is None: {out} = 'null'", "    else:", *lines]
    return _leaf(t, v, out, "    ")


def _build(cls: type) -> Encoder | None:
    if not attrs.has(cls):
        return None
    try:
        fields = attrs.fields(attrs.resolve_types(cls))
    except Exception:  # an annotation that does not resolve: the full path will say
        return None
    lines = ["def encode(task):"]
    pieces = []
    for n, field in enumerate(fields):
        if not field.init or field.converter is not None or field.alias != field.name:
            return None
        try:
            code = _field(field.type, f"v{n}", f"s{n}")
        except TypeError:  # an unhashable or odd annotation
            return None
        if code is None:
            return None
        lines += [f"    v{n} = task.{field.name}", *code]
        key = json.encoder.encode_basestring_ascii(field.name)
        pieces.append(repr(("," if n else "") + key + ":") + f" + s{n}")
    lines.append(f"    return {' + '.join([repr('{'), *pieces, repr('}')])}")
    namespace = dict(_NAMES)
    exec("\n".join(lines), namespace)  # code built from our own templates
    encoder: Encoder = namespace["encode"]
    return encoder
