"""The OpenAPI 3.1 document of the HTTP API, built from the app's routes and attrs classes.

Schemas come from the attrs classes that structure requests and build answers, through
``msgspec.json.schema_components`` (JSON Schema 2020-12, the dialect of OpenAPI 3.1, and it
reads attrs classes as they are). The routes come from the app's URL map: each JSON route's
handler carries its :class:`~.operations.Operation`; routes without one (the HTML pages) are
not in the document.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import typing
from typing import TYPE_CHECKING, Any

import attrs
import msgspec

from .answers import ErrorAnswer
from .operations import Operation, Param, needs_bearer, operation_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from quart import Quart

TITLE = "service: durable background jobs for Trio"
REF = "#/components/schemas/{name}"
_ERROR_SENTENCES = {
    400: "Malformed JSON or body.",
    401: "Missing or wrong bearer token, or no SERVICE_ADMIN_TOKEN configured.",
    404: "No such resource.",
    409: "The request conflicts with stored data or the job's state.",
    413: "The body is over the limit.",
    415: "The body is not of the media type the route takes.",
    422: "A field or query parameter is invalid; `fields` names each one.",
    503: "The database is unavailable (the answer says what kind of failure, never the"
         " driver's message).",
}


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _ref(cls: Any) -> dict[str, str]:
    return {"$ref": REF.format(name=cls.__name__)}


def _error_statuses(op: Operation, bearer: bool) -> set[int]:
    statuses = set(op.errors)
    if bearer:
        statuses.add(401)
    if op.body is not None or op.upload_field is not None:
        statuses |= {400, 413, 415, 422}
    if op.query:
        statuses.add(422)
    if op.path:
        statuses.add(404)
    if op.uses_store:
        statuses.add(503)
    return statuses


def _answers(op: Operation, bearer: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, answer in sorted(op.answers.items()):
        entry: dict[str, Any]
        if isinstance(answer, str | tuple):
            entry = {"description": "OK", "content": {
                media: {"schema": _media_schema(media)}
                for media in ((answer,) if isinstance(answer, str) else answer)}}
        else:
            entry = {"description": _first_line(answer.__doc__) or answer.__name__,
                     "content": {"application/json": {"schema": _ref(answer)}}}
        headers: dict[str, Any] = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
        if op.location:
            headers["Location"] = {"description": "The URL of the resource answered.",
                                   "schema": {"type": "string"}, "required": True}
        entry["headers"] = headers
        if op.links:
            entry["links"] = {link.name: {
                "operationId": _operation_id(link.endpoint),
                "parameters": {link.parameter: f"$response.body#/{link.field}"},
            } for link in op.links}
        responses[str(status)] = entry
    for status in sorted(_error_statuses(op, bearer)):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    return responses


def _media_schema(media: str) -> dict[str, Any]:
    if media.startswith("text/"):
        return {"type": "string"}
    if media.startswith("image/"):
        return {"type": "string", "contentMediaType": media}
    return {"type": "object"}


def _operation_id(endpoint: str) -> str:
    return endpoint.replace(".", "_")


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ")


def _parameter(param: Param, where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": param.name, "in": where, "required": where == "path",
                             "schema": dict(param.schema), "description": param.description}
    if param.example is not None:
        entry["example"] = param.example
    return entry


def _operation(op: Operation, handler: Any, endpoint: str, method: str) -> dict[str, Any]:
    bearer = needs_bearer(handler)
    doc = (handler.__doc__ or "").strip()
    entry: dict[str, Any] = {
        "operationId": _operation_id(endpoint),
        "summary": op.summary,
        "tags": [op.tag],
    }
    if doc:
        entry["description"] = " ".join(doc.split())
    params = [_parameter(p, "path") for p in op.path]
    params += [_parameter(p, "query") for p in op.query]
    if params:
        entry["parameters"] = params
    if op.body is not None:
        media: dict[str, Any] = {"schema": _ref(op.body)}
        if op.example is not None:
            media["example"] = dict(op.example)
        entry["requestBody"] = {"required": op.body_required,
                                "content": {"application/json": media}}
    elif op.upload_field is not None:
        field = op.upload_field
        entry["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            # A file part is any bytes: a number sent as one is a file holding its digits.
            "schema": {"type": "object", "required": [field],
                       "properties": {field: {"contentMediaType": "application/octet-stream",
                                              "description": "The file, any bytes."}}},
        }}}
    entry["responses"] = _answers(op, bearer)
    if bearer:
        entry["security"] = [{"bearer": []}]
    return entry


def documented_routes(app: Quart) -> list[tuple[str, str, str, Any, Operation]]:
    """(rule, endpoint, method, handler, operation) of every route that has an
    :class:`Operation`."""
    found = []
    for rule in app.url_map.iter_rules():
        handler = app.view_functions.get(rule.endpoint)
        op = operation_of(handler) if handler is not None else None
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, rule.endpoint, method, handler, op))
    return found


def _attrs_classes(roots: set[Any]) -> dict[str, Any]:
    """Every attrs class reachable from ``roots`` through field types, by name."""
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        cls = todo.pop()
        if not attrs.has(cls) or cls.__name__ in found:
            continue
        found[cls.__name__] = cls
        for hint in typing.get_type_hints(cls).values():
            todo += [hint, *_type_args(hint)]
    return found


def _type_args(hint: Any) -> list[Any]:
    args = list(typing.get_args(hint))
    for arg in list(args):
        args += _type_args(arg)
    return args


def _describe_fields(schemas: dict[str, Any], classes: dict[str, Any]) -> None:
    """What msgspec does not say of a field: its ``description`` and any other JSON Schema
    keywords (``schema``) from its attrs metadata, and ``format: date-time`` for datetimes
    (the answers write them as ISO 8601 with an offset)."""
    for name, cls in classes.items():
        properties = schemas.get(name, {}).get("properties", {})
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            prop = properties.get(field.name)
            if prop is None:
                continue
            if field.metadata.get("description"):
                prop["description"] = field.metadata["description"]
            prop.update(field.metadata.get("schema", {}))
            if dt.datetime in (hints[field.name], *typing.get_args(hints[field.name])):
                for branch in prop.get("anyOf", [prop]):
                    if branch.get("type") == "string":
                        branch["format"] = "date-time"


def _strict_objects(schemas: dict[str, Any]) -> None:
    """Every attrs class is a closed object: requests refuse unknown keys (the converter
    does), and an answer has no field the document does not name."""
    for schema in schemas.values():
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False


def _by_task(schemas: dict[str, Any], body: Any, tasks: Mapping[str, Any]) -> None:
    """Make ``body``'s schema one variant per registered task: ``task`` that task's name,
    ``args`` its class's schema. Each variant is a copy of the body's own properties, so a
    field added to the body class is in every variant."""
    base = schemas[body.__name__]
    variants = []
    for name, cls in sorted(tasks.items()):
        properties = copy.deepcopy(base["properties"])
        properties["task"] = {**properties["task"], "const": name}
        properties["args"] = {"$ref": REF.format(name=cls.__name__),
                              "description": f"The fields of task {name}."}
        variants.append({"title": name, "type": "object", "properties": properties,
                         "required": base["required"], "additionalProperties": False})
    schemas[body.__name__] = {"title": base["title"], "description": base.get(
        "description", ""), "oneOf": variants}


def build_document(
    app: Quart, *, version: str, tasks: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s JSON routes; ``tasks`` (name: class) are the
    registered tasks whose arguments a push takes."""
    tasks = dict(tasks or {})
    paths: dict[str, dict[str, Any]] = {}
    classes: set[Any] = {ErrorAnswer}
    by_task: set[Any] = set()
    for rule, endpoint, method, handler, op in documented_routes(app):
        paths.setdefault(_path(rule), {})[method.lower()] = _operation(op, handler, endpoint,
                                                                       method)
        classes |= {a for a in op.answers.values() if not isinstance(a, str | tuple)}
        if op.body is not None:
            classes.add(op.body)
            if op.body_by_task and tasks:
                by_task.add(op.body)
    if by_task:
        classes |= set(tasks.values())
    _, schemas = msgspec.json.schema_components(sorted(classes, key=lambda c: c.__name__),
                                                ref_template=REF)
    _strict_objects(schemas)
    _describe_fields(schemas, _attrs_classes(classes))
    for body in by_task:
        _by_task(schemas, body, tasks)
    error_content = {"application/json": {"schema": _ref(ErrorAnswer)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version,
                 "description": "Every error is `{\"error\": {\"code\", \"message\", \"fields\"?,"
                                " \"request_id\"}}`; every answer has an `X-Request-ID`"
                                " header. Operator routes need `Authorization: Bearer"
                                " <SERVICE_ADMIN_TOKEN>`."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {f"Error{status}": {
                "description": sentence, "content": error_content,
                "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
            } for status, sentence in _ERROR_SENTENCES.items()},
            "headers": {"RequestId": {
                "description": "The request's id: the client's `X-Request-ID` when it is sane"
                               " (1-128 letters, digits and `._:+/=-`), else a new one; also"
                               " in the `http.request` log line and every error body.",
                "schema": {"type": "string"}, "required": True,
            }},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "The value of SERVICE_ADMIN_TOKEN.",
            }},
        },
    }
