"""A worker-only process (``python -m service worker``) with ``SERVICE_METRICS_BIND``: its own
port answering ``/metrics``, ``/healthz`` and ``/readyz``, so the durations and outcomes of the
jobs it ran can be scraped (they exist only in the process that ran them)."""

from __future__ import annotations

import json
import re
import signal
from typing import TYPE_CHECKING

import httpx
import trio
from support.processes import ADMIN_TOKEN, run_cli, service_env, service_process

if TYPE_CHECKING:
    from pathlib import Path


async def test_a_worker_process_serves_its_metrics_health_and_readiness_on_its_own_port(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path, metrics_bind="127.0.0.1:0", http_log_every="1")
    marker = tmp_path / "nap.txt"
    async with service_process(env, "worker") as worker:
        assert worker.url is None  # no web server: only the metrics one
        url = (await worker.wait_for("metrics.started"))["addresses"].split(",")[0]
        pushed = await trio.to_thread.run_sync(
            run_cli, env, "jobs", "push", "nap",
            "--args", json.dumps({"seconds": 0.2, "marker": str(marker)}))
        assert pushed.returncode == 0, pushed.stderr
        completed = await worker.wait_for("job.completed")
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            healthz = await client.get("/healthz")
            readyz = await client.get("/readyz")
            closed = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            scraped = await client.get("/metrics",
                                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            api = await client.get("/api/jobs", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        worker.signal(signal.SIGTERM)
        assert await worker.process.wait() == 0

    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ready"})
    # The web role's token rule: no token or a wrong one is 401, with a JSON error body.
    assert (closed.status_code, wrong.status_code) == (401, 401)
    assert closed.json()["error"]["request_id"] == closed.headers["X-Request-ID"]
    assert api.status_code == 404  # this port serves nothing else
    assert scraped.status_code == 200
    text = scraped.text
    task = 'task="nap"'
    assert re.search(rf"^service_job_duration_seconds_count\{{{task}\}} 1$", text, re.M), text
    assert re.search(rf'^service_job_outcomes_total\{{state="completed",{task}\}} 1$', text,
                     re.M), text
    assert re.search(rf'^service_jobs\{{state="completed",{task}\}} 1$', text, re.M), text
    assert re.search(rf"^service_queue_lag_seconds\{{{task}\}} 0$", text, re.M), text
    # job.completed says how long the attempt ran: the task naps 0.2 s.
    assert completed["task"] == "nap"
    assert 200 <= completed["ms"] < 30_000
    assert {"metrics.started", "metrics.stopped", "service.stopped"} <= set(worker.names())
    scrapes = [e for e in worker.events if e.get("event") == "http.request"]
    assert [e["path"] for e in scrapes] == ["/healthz", "/readyz"] + ["/metrics"] * 3 + [
        "/api/jobs"]
    assert all(e["request_id"] for e in scrapes)
