"""Test support: check an HTTP answer against the service's OpenAPI document.

:func:`check_answer` finds the documented operation of a request (path template and method),
and asserts that the answer's status is documented, its JSON body matches the schema of that
status (``jsonschema``, draft 2020-12, the dialect of OpenAPI 3.1) and its required headers are
there. :func:`serve_app` installs it on every API client, so each answer a test sees is checked.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}/?$")


class Contract:
    """The document, and the check of answers against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._templates = [(_template_regex(t), t) for t in document["paths"]]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The documented operation of ``method path``, or None when it is not documented."""
        for regex, template in self._templates:
            if regex.match(path):
                found: dict[str, Any] | None = self.document["paths"][template].get(
                    method.lower())
                return found
        return None

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            section, name = item["$ref"].split("/")[-2:]
            item = self.document["components"][section][name]
        return item

    def check(self, response: httpx.Response) -> None:
        """AssertionError unless ``response`` is an answer the document describes (answers
        to undocumented routes, such as the HTML pages, pass unchecked)."""
        request = response.request
        op = self.operation(request.method, request.url.path)
        if op is None:
            return
        where = f"{request.method} {request.url.path} -> {response.status_code}"
        answer = op["responses"].get(str(response.status_code))
        assert answer is not None, f"{where}: status not documented"
        answer = self._resolve(answer)
        for name, header in answer.get("headers", {}).items():
            if self._resolve(header).get("required"):
                assert name in response.headers, f"{where}: no {name} header"
        media = response.headers.get("content-type", "").split(";")[0]
        content = answer.get("content", {})
        assert any(m.split(";")[0] == media for m in content), f"{where}: {media} undocumented"
        if media == "application/json":
            schema = {**content["application/json"]["schema"],
                      "components": self.document["components"]}
            try:
                jsonschema.validate(response.json(), schema,
                                    cls=jsonschema.Draft202012Validator)
            except jsonschema.ValidationError as exc:
                raise AssertionError(f"{where}: {exc.message} at {exc.json_path}") from None


async def fetch_contract(base_url: str) -> Contract:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.get("/openapi.json")
        response.raise_for_status()
        return Contract(response.json())


def checking_hook(contract: Contract) -> Any:
    """An httpx response hook asserting that every answer matches ``contract``."""

    async def check(response: httpx.Response) -> None:
        await response.aread()
        contract.check(response)

    return check
