"""What an operator sees over real HTTP: the store's gauges and the rescue counter in
``/metrics``, one request id per request in its header, error body and log line, and a line for
a request that shutdown cut off."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import trio
from support.http import make_settings, serve_app
from support.waiting import wait_until

from service.runtime import WebService, open_state
from service.tasks import SendWelcomeEmail

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import pytest


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name{labels}`` in a Prometheus text answer, else None."""
    shown = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(shown)}\}} (\S+)$", text, re.M)
    return None if match is None else float(match.group(1))


def logged(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [dict(getattr(r, "fields", {})) for r in caplog.records
            if getattr(r, "event", None) == name]


async def test_metrics_show_queue_lag_and_every_state_of_every_task(tmp_path: Path) -> None:
    async with serve_app(tmp_path) as app:  # no worker: the job waits
        waiting_since = app.state.store.clock.now() - 120
        pushed = await app.admin.post("/api/jobs", json={
            "task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())},
            "run_at": dt.datetime.fromtimestamp(waiting_since, dt.UTC).isoformat()})
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["state"] == "available"
        text = (await app.admin.get("/metrics")).text

    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types["service_queue_lag_seconds"] == "gauge"
    assert types["service_job_rescues_total"] == "counter"
    lag = sample(text, "service_queue_lag_seconds", task="send_welcome_email")
    assert lag is not None, text
    assert 120 <= lag < 180, text
    assert sample(text, "service_queue_lag_seconds", task="process_upload") == 0, text
    welcome = {"task": "send_welcome_email"}
    assert sample(text, "service_jobs", state="available", **welcome) == 1, text
    # Every state of every registered task is a series, zeros included: no missing series.
    for state in ("scheduled", "running", "completed", "retryable", "cancelled", "discarded"):
        assert sample(text, "service_jobs", state=state, **welcome) == 0, text
        assert sample(text, "service_jobs", state=state, task="process_upload") == 0, text


async def test_a_job_whose_lease_expired_counts_as_rescued(tmp_path: Path) -> None:
    # A worker died holding the job: its lease ran out a second ago.
    async with open_state(make_settings(tmp_path)) as state:
        store = state.store
        job_id = await store.push(SendWelcomeEmail(user_id=uuid.uuid4()))
        now = store.clock.now()
        [claimed] = await store.job_claim("send_welcome_email", "dead:1:x", 1, now, now - 1)
        assert claimed.id == job_id

    async with serve_app(tmp_path, worker=True, rescue_interval="0.1") as app:
        async def scraped() -> str:
            return (await app.admin.get("/metrics")).text

        text = await wait_until(
            "the rescue to be counted", scraped,
            lambda t: sample(t, "service_job_rescues_total", state="available",
                             task="send_welcome_email") == 1,
            within=30)
        # The rescued job ran again (its user does not exist, so it cancelled itself).
        await wait_until("the rescued job to run", scraped,
                         lambda t: sample(t, "service_jobs", state="cancelled",
                                          task="send_welcome_email") == 1, within=30)
    assert sample(text, "service_job_rescues_total", state="discarded",
                  task="send_welcome_email") is None


async def test_every_answer_its_error_body_and_its_log_line_carry_one_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    async with serve_app(tmp_path, http_log_every="1") as app:
        answers = [
            await app.client.get("/healthz"),
            await app.client.get("/no/such/route"),
            await app.client.delete("/healthz"),
            await app.client.get("/api/jobs"),  # no token
            await app.client.post("/api/users", content=b"{not json",
                                  headers={"Content-Type": "application/json"}),
            await app.admin.post("/api/jobs", json={"task": "nope", "args": {}}),
            await app.client.get("/healthz", headers={"X-Request-ID": "trace-7.a"}),
            await app.client.get("/nope", headers={"X-Request-ID": "trace-8.b"}),
            await app.client.get("/nope", headers={"X-Request-ID": "not sane!"}),
        ]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 404, 405, 401, 400, 422, 200, 404, 404]
    lines = {line["request_id"]: line for line in logged(caplog, "http.request")}
    for answer in answers:
        rid = answer.headers["X-Request-ID"]
        assert rid, answer
        if answer.status_code >= 400:
            assert answer.json()["error"]["request_id"] == rid, answer.text
        assert lines[rid]["status"] == answer.status_code
        assert lines[rid]["path"] == answer.request.url.path
    assert [a.headers["X-Request-ID"] for a in answers[6:8]] == ["trace-7.a", "trace-8.b"]
    assert re.fullmatch(r"[0-9a-f]{32}", answers[8].headers["X-Request-ID"])
    assert len({a.headers["X-Request-ID"] for a in answers}) == len(answers)


async def _stalled_upload(url: str, request_id: str, sent: trio.Event) -> None:
    """POST /api/uploads that sends the start of the file and then nothing more."""

    async def body() -> AsyncIterator[bytes]:
        yield (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
               b"Content-Type: text/plain\r\n\r\n" + b"x" * 1000)
        sent.set()
        await trio.sleep_forever()

    headers = {"Content-Type": "multipart/form-data; boundary=b", "X-Request-ID": request_id}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        with contextlib.suppress(httpx.HTTPError):  # the server cuts it off
            await client.post("/api/uploads", content=body(), headers=headers)


async def test_a_request_cut_off_by_shutdown_is_logged_with_its_id_and_how_long_it_ran(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    settings = make_settings(tmp_path, shutdown_grace="0.5")
    async with open_state(settings) as state, trio.open_nursery() as nursery:
        web = WebService(state)
        [url] = await nursery.start(web.run)
        sent = trio.Event()
        nursery.start_soon(_stalled_upload, url, "cut-off-1", sent)
        await sent.wait()
        uploads = settings.upload_dir
        await wait_until("the upload handler to start writing", lambda: list(
            uploads.glob(".*.partial")) if uploads.exists() else [], bool, within=10)
        started = trio.current_time()
        await web.shutdown()  # waits out the 0.5 s grace, then cancels the request
        took = trio.current_time() - started
        nursery.cancel_scope.cancel()

    [cut] = logged(caplog, "http.cut")
    assert cut["method"] == "POST"
    assert cut["path"] == "/api/uploads"
    assert cut["request_id"] == "cut-off-1"
    assert cut["reason"] == "shutdown"
    assert cut["status"] is None  # no answer had started
    assert 500 <= cut["ms"] < 1000 * (took + 5)
    assert "cut-off-1" not in [line["request_id"] for line in logged(caplog, "http.request")]


async def test_a_client_that_hangs_up_mid_request_is_logged_as_disconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    async with serve_app(tmp_path) as app:
        uploads = app.state.settings.upload_dir
        async with trio.open_nursery() as nursery:
            sent = trio.Event()
            nursery.start_soon(_stalled_upload, app.url, "hung-up-1", sent)
            await sent.wait()
            await wait_until("the upload handler to start writing", lambda: list(
                uploads.glob(".*.partial")) if uploads.exists() else [], bool, within=10)
            nursery.cancel_scope.cancel()  # the client closes its connection
        await wait_until("http.cut to be logged", lambda: logged(caplog, "http.cut"), bool,
                         within=10)
    [cut] = logged(caplog, "http.cut")
    assert (cut["request_id"], cut["reason"], cut["path"]) == (
        "hung-up-1", "disconnected", "/api/uploads")

