"""JSON answers built from attrs classes, so the answer and its OpenAPI schema are one thing.

Every JSON body the API sends is an instance of an attrs class declared beside its route (or
the engine's views); :func:`json_answer` turns it into the response. A field whose default is
None is left out of the JSON while it is None (the schema lists it as optional).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import attrs
from quart import Response, current_app

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
    """The response whose JSON body is ``view``: compact JSON and a newline, as quart's
    ``jsonify`` writes it, without its per-call lookups (this is every API answer's path)."""
    body = json.dumps(to_json(view), separators=(",", ":")) + "\n"
    return current_app.response_class(body, status=status, headers=headers,
                                      mimetype="application/json")


def moment(timestamp: float | None) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (ISO 8601 in the JSON)."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
