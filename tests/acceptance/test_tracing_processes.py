"""Tracing across real processes: a web process pushes, a separate worker process runs the job
and continues the trace through the traceparent stored with it; and the service without the
``otel`` extra."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from support.faults import query
from support.processes import run_cli, service_env, service_process
from support.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def exported_spans(path: Path) -> list[dict[str, Any]]:
    """The spans the console exporter wrote to ``path`` (one JSON object after another)."""
    text, spans, at = path.read_text(), [], 0
    decoder = json.JSONDecoder()
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        span, at = decoder.raw_decode(text, at)
        spans.append(span)
    return spans


def named(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [span] = [s for s in spans if s["name"] == name]
    return span


async def test_a_worker_process_continues_the_trace_of_the_web_request_that_pushed(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path) | {"OTEL_TRACES_EXPORTER": "console"}
    env.pop("OTEL_SDK_DISABLED", None)
    web_out, worker_out = tmp_path / "web-spans.json", tmp_path / "worker-spans.json"
    marker = tmp_path / "nap.txt"
    async with service_process(env, "web", stdout=web_out) as web, \
            service_process(env, "worker", stdout=worker_out) as worker:
        async with web.admin() as admin:
            response = await admin.post(
                "/api/jobs", json={"task": "nap", "args": {"seconds": 0, "marker": str(marker)}},
                headers={"traceparent": TRACEPARENT},
            )
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        await wait_until("the worker process's attempt span",
                         lambda: worker_out.read_text().count('"run nap"'), within=60)
        for service in (web, worker):
            service.signal()
            assert await service.process.wait() == 0

    request = named(exported_spans(web_out), "POST /api/jobs")
    push = named(exported_spans(web_out), "push nap")
    attempt = named(exported_spans(worker_out), "run nap")
    assert request["context"]["trace_id"] == push["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert push["parent_id"] == request["context"]["span_id"]
    [(stored,)] = await query(env, "SELECT traceparent FROM jobs WHERE id = ?", (job_id,))
    assert stored == f"00-{TRACE_ID}-{push['context']['span_id'].removeprefix('0x')}-01"
    assert attempt["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert attempt["parent_id"] == push["context"]["span_id"]
    assert attempt["kind"] == "SpanKind.CONSUMER"
    assert attempt["attributes"]["job.id"] == job_id
    assert attempt["attributes"]["job.attempt"] == 1
    assert attempt["attributes"]["job.state"] == "completed"
    assert attempt["resource"]["attributes"]["service.name"] == "service"


async def test_without_opentelemetry_the_service_says_so_once_and_runs_untraced(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path) | {"OTEL_TRACES_EXPORTER": "console"}
    marker = tmp_path / "nap.txt"
    async with service_process(env, module="support.without_otel") as service:
        async with service.admin() as admin:
            response = await admin.post(
                "/api/jobs", json={"task": "nap", "args": {"seconds": 0, "marker": str(marker)}},
                headers={"traceparent": TRACEPARENT},
            )
        assert response.status_code == 201, response.text
        await wait_until(f"{marker} to be written", marker.exists, within=30)
        service.signal()
        assert await service.process.wait() == 0
    assert service.names().count("tracing.unavailable") == 1
    [(stored,)] = await query(env, "SELECT traceparent FROM jobs")
    assert stored is None


def test_with_tracing_off_no_module_of_the_service_imports_opentelemetry() -> None:
    script = (
        "import sys, service.cli, service.runtime, service.http.app, service.tracing\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_an_unknown_trace_exporter_exits_2_naming_the_variable_and_creates_nothing(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path) | {"OTEL_TRACES_EXPORTER": "zipkin"}
    env.pop("OTEL_SDK_DISABLED", None)
    result = run_cli(env, "web")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'" in line
    assert not (tmp_path / "data").exists()
