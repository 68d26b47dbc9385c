"""``GET /openapi.json``, the OpenAPI 3.1 document, and ``GET /docs``, the same document as a
server-rendered page (no script, so it works under the pages' CSP). Both are public: they
describe the API, and the operator routes they list still need the bearer token.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from markupsafe import Markup
from quart import Blueprint, Response, current_app

from .html import document
from .openapi import build_document
from .operations import operation
from .page_support import html_response
from .request_state import app_state

blueprint = Blueprint("api_docs", __name__)

_KEY = "openapi_document"


def _version() -> str:
    try:
        return version("service")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "0"


def openapi_document() -> dict[str, Any]:
    """The app's document, built once (the routes do not change while it runs)."""
    found: dict[str, Any] | None = current_app.extensions.get(_KEY)
    if found is None:
        registry = app_state().registry
        tasks = {name: registry.get(name) for name in registry.names()}
        found = build_document(current_app, version=_version(), tasks=tasks)
        current_app.extensions[_KEY] = found
    return found


@blueprint.get("/openapi.json")
@operation(summary="This API's OpenAPI 3.1 document", tag="docs",
           answers={200: "application/json"}, uses_store=False)
async def openapi_json() -> Response:
    """The document that `/docs` renders; public."""
    return Response(json.dumps(openapi_document(), indent=1), content_type="application/json")


@blueprint.get("/docs")
async def docs_page() -> Response:
    """The document as an HTML page."""
    return html_response(render(openapi_document()))


def _schema_text(schema: Any) -> str:
    return json.dumps(schema, indent=1)


def _parameters(op: dict[str, Any]) -> Markup:
    params = op.get("parameters", [])
    if not params:
        return Markup("")
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>")
        .format(p["name"], p["in"], json.dumps(p["schema"]), p.get("description", ""))
        for p in params)
    return Markup("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>{}"
                  "</table>").format(rows)


def _content_refs(content: dict[str, Any]) -> Markup:
    parts = []
    for media, entry in content.items():
        ref = entry.get("schema", {}).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        target = (Markup('<a href="#schema-{0}">{0}</a>').format(name) if name
                  else Markup("<code>{}</code>").format(json.dumps(entry.get("schema", {}))))
        parts.append(Markup("<code>{}</code> {}").format(media, target))
    return Markup(", ").join(parts)


def _responses(op: dict[str, Any], doc: dict[str, Any]) -> Markup:
    rows = []
    for status, answer in op["responses"].items():
        if "$ref" in answer:
            answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        rows.append(Markup("<tr><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            status, answer.get("description", ""), _content_refs(answer.get("content", {}))))
    return Markup("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{}</table>"
                  ).format(Markup("").join(rows))


def render(doc: dict[str, Any]) -> str:
    """The whole document as one page: each operation, then each schema."""
    sections = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            auth = Markup(' <span class="muted">(bearer token)</span>') if op.get(
                "security") else Markup("")
            body = op.get("requestBody")
            body_html = Markup("<p>Body: {}</p>").format(_content_refs(body["content"])) if (
                body) else Markup("")
            sections.append(Markup(
                '<section id="{id}"><h3><code>{method} {path}</code>{auth}</h3><p>{summary}.'
                " {description}</p>{params}{body}{responses}</section>"
            ).format(id=op["operationId"], method=method.upper(), path=path, auth=auth,
                     summary=op["summary"], description=op.get("description", ""),
                     params=_parameters(op), body=body_html,
                     responses=_responses(op, doc)))
    schemas = [
        Markup('<section id="schema-{0}"><h3>{0}</h3><pre>{1}</pre></section>').format(
            name, _schema_text(schema))
        for name, schema in doc["components"]["schemas"].items()
    ]
    body = Markup(
        "<h1>{title}</h1><p>{description}</p><p>The machine-readable document:"
        ' <a href="/openapi.json">/openapi.json</a> (OpenAPI {openapi}).</p>'
        "<h2>Operations</h2>{ops}<h2>Schemas</h2>{schemas}"
    ).format(title=doc["info"]["title"], description=doc["info"]["description"],
             openapi=doc["openapi"], ops=Markup("").join(sections),
             schemas=Markup("").join(schemas))
    return document("API: " + doc["info"]["title"], body)
