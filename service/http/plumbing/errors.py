"""Every HTTP error is JSON: ``{"error": {"code", "message", "fields"?, "request_id"}}`` with the
right status. A database failure answers a generic message (:mod:`.outage`); its detail is logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quart import Response, request

from ...jobs import ConstraintViolation, StoreError, emit
from .answers import ErrorAnswer, ErrorDetail, json_answer
from .health import store_health
from .outage import public_reason, store_outage
from .request_id import request_id

if TYPE_CHECKING:
    from werkzeug.exceptions import HTTPException

logger = logging.getLogger("service.http")


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with a JSON error body."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> Response:
    detail = ErrorDetail(code=code, message=message, fields=fields or None,
                         request_id=request_id() or None)
    return json_answer(ErrorAnswer(error=detail), status)


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "unavailable",
}


async def handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.fields)


async def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    message = error.description or error.name
    if status == 404:
        message = "no such route"
    elif status == 405:
        message = "method not allowed on this route"
    response = error_response(status, _CODES.get(status, "error"), message)
    if status == 405 and error.get_headers():
        for key, value in error.get_headers():
            if key.lower() == "allow":
                response.headers["Allow"] = value
    return response


async def handle_store_error(error: StoreError) -> Response:
    detail = str(error)
    if isinstance(error, ConstraintViolation):  # a client's conflict, not an outage
        emit(logger, logging.WARNING, "http.store_error", error=detail, request_id=request_id(),
             method=request.method, path=request.path)
        return error_response(409, "conflict", "the request conflicts with stored data")
    store_health().failed(detail)  # readiness answers 503 too, for a while
    store_outage().failed(detail, request_id=request_id(), method=request.method,
                          path=request.path)
    return error_response(503, "unavailable",
                          f"the database is unavailable{public_reason(detail)}")


async def handle_unexpected(error: Exception) -> Response:
    fields = {"error": repr(error), "request_id": request_id()}
    logger.error("http.unhandled_error", exc_info=error,
                 extra={"event": "http.unhandled_error", "fields": fields})
    return error_response(500, "internal", "internal error; it has been logged")
