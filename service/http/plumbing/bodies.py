"""Reading request bodies: size-limited, parsed, and structured into attrs classes by cattrs."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from quart import current_app, request

from ...jobs import PayloadError, structure_payload
from .errors import ApiError

T = TypeVar("T")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_body(limit: int) -> bytes:
    """The raw body, refusing (413) more than ``limit`` bytes while it streams in."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, "too_large", f"body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_json_mimetype() -> None:
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


async def read_json() -> Any:
    """The request's JSON document; 415 unless JSON, 400 if it does not parse."""
    _check_json_mimetype()
    limit: int = current_app.config["BODY_MAX_BYTES"]
    return _parse_json(await read_body(limit))


async def read_optional_json() -> Any:
    """:func:`read_json`, but None for an empty body (whatever its content type). A body that
    is JSON ``null`` is no object: 422 (None is what an empty body means)."""
    limit: int = current_app.config["BODY_MAX_BYTES"]
    raw = await read_body(limit)
    if not raw:
        return None
    _check_json_mimetype()
    parsed = _parse_json(raw)
    if parsed is None:
        raise ApiError(422, "invalid", "the body must be a JSON object, or empty",
                       {"$": "expected an object, got null"})
    return parsed


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", f"body is not valid UTF-8: {exc.reason}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "malformed_json", "body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}") from None


def structure(data: Any, cls: type[T], *, what: str) -> T:
    """``cls`` from parsed JSON, or 422 naming each bad field (``$.email``)."""
    try:
        return structure_payload(data, cls, name=what)
    except PayloadError as exc:
        raise ApiError(422, "invalid", f"invalid {what}", exc.fields) from None


async def read_json_as(cls: type[T], *, what: str) -> T:
    return structure(await read_json(), cls, what=what)
