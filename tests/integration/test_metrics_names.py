"""The Prometheus series an operator's dashboards and alerts are built on, by name.

README.md's Metrics table lists them: jobs by task and state, queue lag, attempt durations and
outcomes, failures, rescues, HTTP requests. Renaming one silently
breaks every dashboard, so the names, types and labels are pinned here.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from support.http import serve_app
from support.waiting import wait_until

SERIES = {
    "service_jobs": "gauge",
    "service_queue_lag_seconds": "gauge",
    "service_job_rescues_total": "counter",
    "service_job_duration_seconds": "histogram",
    "service_job_outcomes_total": "counter",
    "service_job_failures_total": "counter",
    "service_job_claims_throttled_total": "counter",
    "service_http_requests_total": "counter",
    "service_http_request_duration_seconds": "histogram",
}


async def test_every_documented_series_is_exposed_with_samples_after_some_traffic(
    tmp_path: Path,
) -> None:
    async with serve_app(tmp_path, worker=True) as app:
        # A welcome for a user that does not exist: the worker runs it and it cancels itself.
        pushed = await app.admin.post("/api/jobs", json={
            "task": "send_welcome_email", "args": {"user_id": str(uuid.uuid4())}})
        assert pushed.status_code == 201, pushed.text
        job_url = f"/api/jobs/{pushed.json()['id']}"

        async def state() -> str:
            return str((await app.admin.get(job_url)).json()["state"])

        await wait_until(f"{job_url} to be cancelled", state, lambda s: s == "cancelled",
                         within=30)
        text = (await app.admin.get("/metrics")).text

    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    assert {name: types.get(name) for name in SERIES} == SERIES, text
    task = 'task="send_welcome_email"'
    assert re.search(rf'^service_jobs\{{state="cancelled",{task}\}} 1$', text, re.M), text
    assert re.search(rf'^service_job_duration_seconds_count\{{{task}\}} 1$', text, re.M), text
    assert re.search(rf'^service_job_outcomes_total\{{state="cancelled",{task}\}} 1$', text,
                     re.M), text
    assert re.search(r'^service_http_requests_total\{method="POST",route="/api/jobs",'
                     r'status="201"\} 1$', text, re.M), text
    assert re.search(r'^service_http_request_duration_seconds_count\{route="/api/jobs"\} 1$',
                     text, re.M), text


def test_the_readme_metrics_table_lists_exactly_these_series_with_their_types() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = re.findall(r"^\| `(service_[a-z_]+)` \| (\w+) \|", readme, re.M)
    assert dict(rows) == SERIES
    assert len(rows) == len(SERIES)
