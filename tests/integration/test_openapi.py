"""The OpenAPI document: valid, complete, served with its page, and the contract details it
states (run_at, Location, the task filter, errors in JSON's words)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import attrs
import httpx
import pytest
from openapi_spec_validator import validate
from support.http import make_settings, serve_app
from support.openapi import Contract

from service.http.app import create_app
from service.http.operator.jobs_api import PushRequest
from service.http.user.uploads import UploadView
from service.jobs import JobView, PushView, QueueView, ScheduleView, WorkerView
from service.runtime import open_state

if TYPE_CHECKING:
    from pathlib import Path

#: Routes deliberately left out of the document: HTML pages and the dashboard's script, not a
#: JSON API.
HTML_ROUTES = {
    ("GET", "/"), ("GET", "/users"), ("POST", "/users"), ("GET", "/docs"),
    ("GET", "/admin/"), ("GET", "/admin/login"), ("POST", "/admin/login"),
    ("POST", "/admin/logout"), ("GET", "/admin/jobs"), ("GET", "/admin/jobs/{raw_id}"),
    ("POST", "/admin/jobs/{raw_id}/retry"), ("POST", "/admin/jobs/{raw_id}/cancel"),
    ("GET", "/admin/jobs/bulk"), ("POST", "/admin/jobs/bulk"),
    ("GET", "/admin/queues"), ("POST", "/admin/queues/pause"), ("POST", "/admin/queues/resume"),
    ("GET", "/admin/schedules"), ("POST", "/admin/schedules/{name}/pause"),
    ("POST", "/admin/schedules/{name}/resume"), ("GET", "/admin/workers"),
    ("POST", "/admin/workflows/{raw_id}/cancel"),
    ("GET", "/admin/live.js"),
}
WELCOME = {"task": "send_welcome_email",
           "args": {"user_id": "00000000-0000-4000-8000-000000000001"}}
PYTHON_TYPE_NAMES = {"int", "str", "NoneType", "dict", "list", "float", "bool", "datetime"}


async def test_the_document_is_valid_openapi_3_1(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        response = await app.client.get("/openapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        document = response.json()
        assert document["openapi"] == "3.1.0"
        validate(document)


async def test_every_route_of_the_app_is_documented_but_the_html_pages(tmp_path: Path) -> None:
    async with open_state(make_settings(tmp_path)) as state:
        app = create_app(state)
        routes = {
            (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")
        }
    async with serve_app(tmp_path / "served") as served:
        document = (await served.client.get("/openapi.json")).json()
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    assert routes - HTML_ROUTES == documented
    assert routes >= HTML_ROUTES  # the exclusions name real routes


async def test_operator_routes_need_the_bearer_token_and_say_so(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        document = (await app.client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "The value of SERVICE_ADMIN_TOKEN."}
    for path, ops in document["paths"].items():
        for op in ops.values():
            operator = path.startswith(("/api/jobs", "/api/queues", "/api/schedules",
                                        "/api/workers", "/api/workflows", "/metrics"))
            assert ("security" in op) == operator, path
            assert ("401" in op["responses"]) == operator, path


async def test_the_docs_page_lists_every_operation_under_the_pages_csp(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        document = (await app.client.get("/openapi.json")).json()
        page = await app.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text
    for path, ops in document["paths"].items():
        for method in ops:
            assert f"{method.upper()} {path}" in page.text
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text


async def test_the_request_and_answer_schemas_come_from_the_attrs_classes(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        schemas = (await app.client.get("/openapi.json")).json()["components"]["schemas"]
    for cls in (JobView, PushView, QueueView, ScheduleView, WorkerView, UploadView):
        schema = schemas[cls.__name__]
        assert set(schema["properties"]) == {f.name for f in attrs.fields(cls)}
        assert schema["additionalProperties"] is False
    # One variant of the push body per registered task, each with every PushRequest field.
    variants = {v["properties"]["task"]["const"]: v for v in schemas["PushRequest"]["oneOf"]}
    assert set(variants) == {"send_welcome_email", "process_upload", "make_thumbnail",
                             "extract_text", "finish_upload", "cleanup_uploads"}
    for variant in variants.values():
        assert set(variant["properties"]) == {f.name for f in attrs.fields(PushRequest)}
        assert variant["additionalProperties"] is False
        assert all(p["description"] for p in variant["properties"].values())
    push = variants["send_welcome_email"]["properties"]
    assert "offset" in push["run_at"]["description"]
    assert push["args"]["$ref"] == "#/components/schemas/SendWelcomeEmail"
    assert schemas["SendWelcomeEmail"]["properties"] == {
        "user_id": {"type": "string", "format": "uuid"}}
    assert schemas["SendWelcomeEmail"]["required"] == ["user_id"]
    assert set(schemas["UploadView"]["properties"]["status"]["enum"]) == {
        "pending", "processed", "failed"}
    assert "error" in schemas["UploadView"]["required"]
    assert schemas["QueueList"]["required"] == ["queues"]
    assert "registered" in schemas["QueueView"]["required"]
    assert "notice" in schemas["RetriedJob"]["required"]
    assert {"expires_at", "traceparent"} <= set(schemas["JobView"]["required"])
    assert schemas["PushView"]["properties"]["unique"]["$ref"].endswith("/UniqueOutcome")
    assert set(schemas["UniqueOutcome"]["enum"]) == {"inserted", "kept", "replaced"}
    assert set(schemas["WorkerStatus"]["enum"]) == {"live", "stopped", "gone"}
    assert set(schemas["ScheduleView"]["properties"]["catch_up"]["enum"]) == {
        "latest", "all", "none"}
    assert schemas["WorkerList"]["required"] == ["workers"]
    assert schemas["ScheduleList"]["required"] == ["schedules"]
    assert push["on_conflict"]["enum"] == ["keep", "replace"]


async def test_a_push_answers_a_location_and_takes_run_at_with_an_offset_or_epoch_seconds(
    tmp_path: Path,
) -> None:
    welcome = WELCOME
    async with serve_app(tmp_path) as app:
        offset = await app.admin.post("/api/jobs", json={
            **welcome, "run_at": "2100-01-01T01:00:00+01:00"})
        assert offset.status_code == 201, offset.text
        job = offset.json()
        assert offset.headers["Location"] == f"/api/jobs/{job['id']}"
        assert dt.datetime.fromisoformat(job["run_at"]) == dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        assert job["state"] == "scheduled"

        epoch = await app.admin.post("/api/jobs", json={**welcome, "run_at": 4_102_444_800})
        assert epoch.status_code == 201, epoch.text
        assert epoch.json()["run_at"] == "2100-01-01T00:00:00+00:00"

        naive = await app.admin.post("/api/jobs", json={
            **welcome, "run_at": "2100-01-01T00:00:00"})
        assert naive.status_code == 422
        assert list(naive.json()["error"]["fields"]) == ["$.run_at"]
        assert "offset" in naive.json()["error"]["fields"]["$.run_at"]


async def test_the_task_filter_refuses_a_task_nobody_knows_like_the_state_filter(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        unknown = await app.admin.get("/api/jobs", params={"task": "nope"})
        assert unknown.status_code == 422
        assert list(unknown.json()["error"]["fields"]) == ["task"]
        assert (await app.admin.get("/api/jobs", params={"state": "nope"})).status_code == 422
        registered = await app.admin.get("/api/jobs", params={"task": "process_upload"})
        assert registered.status_code == 200
        assert registered.json() == {"jobs": [], "next": None}
        # A task removed from the code keeps its stored jobs listable.
        async with app.state.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO jobs (task, args, state, run_at, created_at, max_attempts,"
                " priority) VALUES ('retired_task', '{}', 'discarded', 0, 0, 1, 0)")
        retired = await app.admin.get("/api/jobs", params={"task": "retired_task"})
        assert retired.status_code == 200, retired.text
        assert [job["task"] for job in retired.json()["jobs"]] == ["retired_task"]


async def test_no_error_a_client_reads_names_a_python_type(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        answers = [
            await app.client.post("/api/users", json={"name": 5, "email": None}),
            await app.client.post("/api/users", json=[1]),
            await app.client.post("/api/users", json=None),
            await app.admin.post("/api/jobs", json={"task": 1, "args": [], "priority": "1",
                                                    "delay": True, "max_attempts": 1.5}),
            await app.admin.post("/api/jobs", json={"task": "send_welcome_email",
                                                    "args": {"user_id": 7}}),
            await app.admin.post("/api/jobs", json={"task": "send_welcome_email",
                                                    "args": {"user_id": "x"}, "run_at": {}}),
            await app.admin.post("/api/jobs/1/cancel", json={"reason": 5}),
            await app.admin.get("/api/jobs", params={"limit": "x", "state": "y"}),
            await app.admin.post("/api/jobs", json={**WELCOME,
                                                    "run_at": "0001-01-01T00:00:00+14:00"}),
            await app.client.post("/api/uploads", content=b"x",
                                  headers={"Content-Type": "multipart/form-data; boundary=b"}),
        ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        words = set(re.findall(r"\w+", str(answer.json()["error"])))
        assert not words & PYTHON_TYPE_NAMES, answer.text


def test_the_contract_check_refuses_an_undocumented_field_or_status() -> None:
    document = {"openapi": "3.1.0", "paths": {"/x/{id}": {"get": {"responses": {"200": {
        "description": "x", "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/X"}}}}}}}},
        "components": {"schemas": {"X": {"type": "object", "properties": {"a": {}},
                                         "additionalProperties": False}}}}
    contract = Contract(document)
    request = httpx.Request("GET", "http://h/x/1")
    contract.check(httpx.Response(200, json={"a": 1}, request=request))
    with pytest.raises(AssertionError, match="Additional properties"):
        contract.check(httpx.Response(200, json={"a": 1, "b": 2}, request=request))
    with pytest.raises(AssertionError, match="status not documented"):
        contract.check(httpx.Response(404, json={}, request=request))
    contract.check(httpx.Response(500, request=httpx.Request("GET", "http://h/y")))


async def test_the_documented_examples_succeed_and_links_name_real_operations(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path) as app:
        document = (await app.client.get("/openapi.json")).json()
        operations = {op["operationId"]: (method, path)
                      for path, ops in document["paths"].items() for method, op in ops.items()}
        paths = document["paths"]
        user = paths["/api/users"]["post"]["requestBody"]["content"]["application/json"]
        assert (await app.client.post("/api/users", json=user["example"])).status_code == 201
        push = paths["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]
        pushed = await app.admin.post("/api/jobs", json=push["example"])
        assert pushed.status_code == 201, pushed.text
        cancel = paths["/api/jobs/{job_id}/cancel"]["post"]["requestBody"]["content"][
            "application/json"]
        cancelled = await app.admin.post(f"/api/jobs/{pushed.json()['id']}/cancel",
                                         json=cancel["example"])
        assert cancelled.json()["state"] == "cancelled"
        # Path parameters' examples name what the app has from its start.
        for path, ops in paths.items():
            for method, op in ops.items():
                examples = {p["name"]: p["example"] for p in op.get("parameters", ())
                            if p["in"] == "path" and "example" in p}
                if examples and method == "post" and path.endswith(("/pause", "/resume")):
                    url = path
                    for name, value in examples.items():
                        url = url.replace(f"{{{name}}}", str(value))
                    answer = await app.admin.post(url)
                    assert answer.status_code == 200, (url, answer.text)
                    assert answer.json()["paused"] is path.endswith("/pause")
    links = [link for ops in paths.values() for op in ops.values()
             for answer in op["responses"].values() for link in answer.get("links", {}).values()]
    assert len(links) >= 5
    for link in links:
        method, path = operations[link["operationId"]]
        [parameter] = link["parameters"]
        assert f"{{{parameter}}}" in path, (method, path)


async def test_a_query_parameter_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:
        for name, value in (("cursor", "5"), ("limit", "5"), ("state", "completed"),
                            ("task", "process_upload")):
            answer = await app.admin.get(f"/api/jobs?{name}=&{name}={value}")
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["error"]["fields"] == {name: "give it at most once"}
