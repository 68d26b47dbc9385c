"""Hostile input, generated: no request shape makes the service answer 5xx or a non-JSON error.

The service runs as a real ``python -m service`` subprocess; hypothesis drives it over loopback
with malformed JSON, wrong types, huge numbers, deep nesting, invalid UTF-8, odd paths and
methods. Every 4xx must carry ``{"error": {"code", "message"}}``.

Replaying a failure. Hypothesis draws new inputs every run (no example database), so a failure
says everything needed to repeat it:

- the assertion message holds the request exactly as sent (method, URL, headers, body bytes),
  so ``curl``/httpx can replay it against any running service;
- hypothesis prints the falsifying example and a ``@reproduce_failure("<version>", b"<blob>")``
  line: paste it above the test's ``@given`` to replay that exact input with the same
  hypothesis version;
- ``FUZZ_SEED=<n>`` runs every test here from a fixed seed (same inputs each run), and
  ``FUZZ_DERANDOMIZE=1`` uses hypothesis' derandomized mode; pytest's
  ``--hypothesis-seed=<n>`` works too. ``FUZZ_EXAMPLES=<n>`` sets the examples per test (150).

E.g. ``FUZZ_SEED=1234 FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/test_fuzz_http.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

TOKEN = "fuzz-token"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SEED = os.environ.get("FUZZ_SEED")
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                    derandomize=os.environ.get("FUZZ_DERANDOMIZE") == "1",
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
F = TypeVar("F", bound=Callable[..., Any])


def FUZZ(test: F) -> F:
    """The fuzz settings, and ``FUZZ_SEED`` when set."""
    test = SETTINGS(test)
    return seed(int(SEED))(test) if SEED else test
TRIED = {"requests": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    env.update(SERVICE_DATA_DIR=str(data), SERVICE_BIND=f"127.0.0.1:{port}",
               SERVICE_ADMIN_TOKEN=TOKEN, SERVICE_LOG_LEVEL="WARNING",
               SERVICE_UPLOAD_MAX_BYTES="64k", SERVICE_BODY_MAX_BYTES="64k")
    log = (Path(data) / "service.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "service"], env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "service did not start"
                assert process.poll() is None, "service exited"
                time.sleep(0.05)
            yield http
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0, "service did not stop cleanly"
        log.close()
        print(f"fuzz requests tried: {TRIED['requests']}")


def sent(response: httpx.Response) -> str:
    """The request behind ``response`` as sent, for an assertion message: enough to replay it."""
    request = response.request
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    if "authorization" in request.headers:
        headers["authorization"] = "Bearer <the fuzz token>"
    body = request.content
    shown = repr(body[:2000]) + (f" ... ({len(body):,} bytes)" if len(body) > 2000 else "")
    return f"request: {request.method} {request.url} headers={headers} body={shown}"


def check(response: httpx.Response) -> None:
    TRIED["requests"] += 1
    request = sent(response)
    assert response.status_code < 500, f"{response.status_code} {response.text[:500]!r}; {request}"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"a {response.status_code} that is not JSON:"
                                 f" {response.text[:500]!r}; {request}") from None
        assert set(body) == {"error"}, f"{body}; {request}"
        assert isinstance(body["error"]["code"], str), f"{body}; {request}"
        assert body["error"]["message"], f"{body}; {request}"
        fields = body["error"].get("fields")
        assert fields is None or (isinstance(fields, dict) and fields), f"{body}; {request}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30) | st.integers(min_value=10**30, max_value=10**60),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
user_like = st.fixed_dictionaries(
    {}, optional={"name": json_values | st.text(max_size=300), "email": json_values
                  | st.emails() | st.text(max_size=300)})
job_like = st.fixed_dictionaries(
    {}, optional={"task": st.sampled_from(["send_welcome_email", "process_upload", "x"])
                  | json_values,
                  "args": st.fixed_dictionaries({}, optional={"user_id": st.uuids().map(str)
                                                              | json_values,
                                                              "upload_id": json_values})
                  | json_values,
                  "delay": json_values, "run_at": json_values, "priority": json_values,
                  "unique_key": json_values, "max_attempts": json_values})
raw_bodies = st.binary(max_size=300) | st.just(b"[" * 50_000) | st.just(b'{"a":' * 20_000)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@FUZZ
@given(body=user_like | json_values)
def test_user_creation_never_fails_server_side(client: httpx.Client, body: Any) -> None:
    check(client.post("/api/users", json=body))


@FUZZ
@given(body=job_like | json_values)
def test_job_pushes_never_fail_server_side(client: httpx.Client, body: Any) -> None:
    check(client.post("/api/jobs", json=body, headers=ADMIN))


@FUZZ
@given(raw=raw_bodies, path=st.sampled_from(["/api/users", "/api/jobs", "/users",
                                              "/api/uploads", "/api/jobs/1/cancel"]),
       content_type=st.sampled_from(["application/json", "text/plain",
                                     "multipart/form-data; boundary=x",
                                     "application/x-www-form-urlencoded", ""]))
def test_raw_bodies_never_fail_server_side(
    client: httpx.Client, raw: bytes, path: str, content_type: str
) -> None:
    headers = {**ADMIN, **({"Content-Type": content_type} if content_type else {})}
    response = client.post(path, content=raw, headers=headers)
    if path == "/users" and response.status_code < 500:
        TRIED["requests"] += 1  # the HTML form answers HTML errors, by design
        return
    check(response)


@FUZZ
@given(segment=st.text(max_size=60).map(lambda s: quote(s, safe="")),
       prefix=st.sampled_from(["/api/users/", "/api/jobs/", "/api/uploads/", "/api/queues/",
                               "/", "/api/"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
def test_odd_paths_and_methods_get_json_errors(
    client: httpx.Client, segment: str, prefix: str, method: str
) -> None:
    response = client.request(method, prefix + segment, headers=ADMIN)
    if response.status_code < 400:
        TRIED["requests"] += 1
        return
    check(response)


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["state", "task", "limit", "cursor"]),
                             st.text(max_size=30), max_size=4))
def test_job_listing_queries_never_fail_server_side(
    client: httpx.Client, query: dict[str, str]
) -> None:
    check(client.get("/api/jobs", params=query, headers=ADMIN))


def test_an_oversized_json_body_is_413(client: httpx.Client) -> None:
    body = json.dumps({"name": "x" * 100_000, "email": "a@b.c"})
    response = client.post("/api/users", content=body,
                           headers={"Content-Type": "application/json"})
    check(response)
    assert response.status_code == 413


HOSTILE = "<script>alert(1)</script>"
LIVE_SCRIPT_TAG = '<script src="/admin/live.js" defer></script>'
hostile_text = st.text(max_size=30) | st.just(HOSTILE) | st.just('"><img src=x onerror=alert(1)>')


def check_page(response: httpx.Response) -> None:
    """A dashboard answer: never 5xx; pages are HTML that never echo markup unescaped."""
    TRIED["requests"] += 1
    request = sent(response)
    assert response.status_code < 500, f"{response.status_code} {response.text[:500]!r}; {request}"
    if response.headers.get("content-type", "").startswith("text/html"):
        # The dashboard's own live-refresh script is the only script a page may load.
        text = response.text.lower().replace(LIVE_SCRIPT_TAG, "")
        assert "<script" not in text, f"{response.text[:500]!r}; {request}"
        assert "<img" not in response.text.lower(), f"{response.text[:500]!r}; {request}"
    elif response.status_code >= 400:
        assert set(response.json()) == {"error"}, f"{response.text[:500]!r}; {request}"


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["state", "task", "limit", "before", "cursor"]),
                             hostile_text, max_size=4),
       segment=hostile_text.map(lambda s: quote(s, safe="")))
def test_dashboard_pages_never_fail_or_echo_markup(
    client: httpx.Client, query: dict[str, str], segment: str
) -> None:
    check_page(client.get("/admin/jobs", params=query, headers=ADMIN))
    check_page(client.get(f"/admin/jobs/{segment}", headers=ADMIN))


@FUZZ
@given(raw=raw_bodies | hostile_text.map(lambda s: f"token={quote(s)}&reason={quote(s)}".encode()),
       path=st.sampled_from(["/admin/login", "/admin/logout", "/admin/jobs/1/retry",
                             "/admin/jobs/1/cancel", "/admin/jobs/x/cancel"]),
       origin=st.sampled_from([None, "http://evil.example", "null"]))
def test_dashboard_forms_never_fail_or_echo_markup(
    client: httpx.Client, raw: bytes, path: str, origin: str | None
) -> None:
    headers = {**ADMIN, "Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin
    check_page(client.post(path, content=raw, headers=headers))
