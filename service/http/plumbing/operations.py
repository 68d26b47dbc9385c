"""What each JSON route is, for the OpenAPI document: declared on the handler itself.

``@operation(...)`` marks a handler with its :class:`Operation`: the attrs class of its JSON
body, of each answer, its query and path parameters. :mod:`.openapi` walks the app's routes and
builds the document from these marks and the attrs classes, so the document cannot name a route
that does not exist, and a field added to a request or answer class is in it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

F = TypeVar("F", bound=Callable[..., Any])

#: Set on a handler that needs ``Authorization: Bearer <SERVICE_ADMIN_TOKEN>``.
BEARER_MARK = "bearer_auth"
_OPERATION_MARK = "api_operation"


@attrs.frozen(kw_only=True)
class Param:
    """A query or path parameter: its name, JSON schema and a sentence about it; ``example``, a
    value that names something the app has from its start (a task, a schedule of the code)."""

    name: str
    schema: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "string"})
    description: str = ""
    example: Any = None


@attrs.frozen(kw_only=True)
class Link:
    """An answer's field that is a parameter of another operation (an OpenAPI link): the
    ``id`` a push answers is the ``job_id`` of ``GET /api/jobs/{job_id}``."""

    name: str
    endpoint: str
    parameter: str
    field: str = "id"


@attrs.frozen(kw_only=True)
class Operation:
    """One route's contract.

    ``answers`` maps each success status to the attrs class of its JSON body (a ``str`` is the
    media type of a body that is not JSON, a tuple of them lists the types it may be).
    ``errors`` lists the error statuses particular to the route; the document adds those every
    route of its kind has (401 for operator routes, 400/413/415/422 for routes with a body, 422
    for query parameters, 404 for path parameters, 503 for routes that use the database).
    ``links`` go on each 2xx answer; ``example`` is a body that succeeds. ``body_by_task``: the
    body's ``task`` names a registered task and its ``args`` are that task's fields (the
    document has one variant of the body per task).
    """

    summary: str
    tag: str
    answers: Mapping[int, Any]
    body: type | None = None
    body_required: bool = True
    upload_field: str | None = None
    query: tuple[Param, ...] = ()
    path: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    location: bool = False
    uses_store: bool = True
    links: tuple[Link, ...] = ()
    example: Mapping[str, Any] | None = None
    body_by_task: bool = False


def operation(**options: Any) -> Callable[[F], F]:
    """Mark a route's handler with its :class:`Operation` (put it right below the route)."""
    declared = Operation(**options)

    def mark(handler: F) -> F:
        setattr(handler, _OPERATION_MARK, declared)
        return handler

    return mark


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    """The :class:`Operation` a handler was marked with, if any."""
    found: Operation | None = getattr(handler, _OPERATION_MARK, None)
    return found


def needs_bearer(handler: Callable[..., Any]) -> bool:
    return bool(getattr(handler, BEARER_MARK, False))
