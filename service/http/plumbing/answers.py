"""JSON answers built from attrs classes, so the answer and its OpenAPI schema are one thing.

Every JSON body the API sends is an instance of an attrs class declared beside its route (or
the engine's views); :func:`json_answer` turns it into the response. A field whose default is
None is left out of the JSON while it is None (the schema lists it as optional).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs
from quart import Response, jsonify

from ...jobs import view_converter


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """What went wrong: a stable ``code``, a sentence for people, the fields at fault (as JSON
    paths, ``$.email``, or query parameter names) and the request's id, also in the log."""

    code: str = attrs.field(metadata={
        "description": "Stable: bad_request, unauthorized, forbidden, not_found,"
                       " method_not_allowed, conflict, too_large, unsupported_media_type,"
                       " invalid, unavailable..."})
    message: str = attrs.field(metadata={"description": "A sentence for people."})
    fields: dict[str, str] | None = attrs.field(default=None, metadata={
        "description": "Each field at fault (a JSON path such as $.email, or a query"
                       " parameter's name) and what is wrong with it; left out when none is."})
    request_id: str | None = attrs.field(default=None, metadata={
        "description": "The request's id, as in the X-Request-ID header and the log."})


@attrs.frozen(kw_only=True)
class ErrorAnswer:
    """Every error answer (any 4xx or 5xx)."""

    error: ErrorDetail


@attrs.frozen(kw_only=True)
class HealthAnswer:
    """The process is up."""

    status: Literal["ok"]


@attrs.frozen(kw_only=True)
class ReadyAnswer:
    """The database answers and takes writes."""

    status: Literal["ready"]


def to_json(view: Any) -> Any:
    """``view`` (an attrs instance) as JSON-able data."""
    return view_converter.unstructure(view)


def json_answer(view: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The response whose JSON body is ``view``."""
    response = jsonify(to_json(view))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def moment(timestamp: float | None) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (ISO 8601 in the JSON)."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
