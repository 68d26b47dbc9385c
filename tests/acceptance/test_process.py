"""``python -m service`` as a real subprocess: configuration, signals, draining, roles."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio
from support.faults import query
from support.processes import run_cli, service_env, service_process
from support.waiting import wait_until

if TYPE_CHECKING:
    from pathlib import Path


def test_help_documents_commands_and_settings(tmp_path: Path) -> None:
    result = run_cli(service_env(tmp_path), "--help")
    assert result.returncode == 0
    for word in ("SERVICE_DATABASE_URL", "SERVICE_BIND", "SERVICE_ADMIN_TOKEN",
                 "SERVICE_SHUTDOWN_GRACE", "SERVICE_SMTP_URL", "worker", "web", "migrate",
                 "jobs list", "queues pause"):
        assert word in result.stdout


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("BIND", "localhost"),
        ("BIND", "127.0.0.1:99999"),
        ("SHUTDOWN_GRACE", "soon"),
        ("SHUTDOWN_GRACE", "-3"),
        ("DATABASE_URL", "mysql://db/x"),
        ("DATABASE_URL", "sqlite://"),
        ("SMTP_URL", "http://mail"),
        ("UPLOAD_MAX_BYTES", "huge"),
        ("LOG_LEVEL", "LOUD"),
        ("LEASE_TTL", "0"),
        ("MAX_RESCUES", "none"),
        ("METRICS_BIND", "localhost"),
        ("LOG_FORMAT", "yaml"),
    ],
)
def test_invalid_configuration_exits_2_with_one_line_naming_the_setting(
    tmp_path: Path, setting: str, value: str
) -> None:
    result = run_cli(service_env(tmp_path, **{setting.lower(): value}), "migrate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"SERVICE_{setting}" in lines[0], result.stderr


def test_a_cli_flag_overrides_the_environment_and_is_validated_too(tmp_path: Path) -> None:
    result = run_cli(service_env(tmp_path), "migrate", "--shutdown-grace", "x")
    assert result.returncode == 2
    assert "SERVICE_SHUTDOWN_GRACE" in result.stderr


async def _push_nap(service: object, seconds: float, marker: Path) -> int:
    async with service.admin() as admin:  # type: ignore[attr-defined]
        response = await admin.post("/api/jobs", json={
            "task": "nap", "args": {"seconds": seconds, "marker": str(marker)}})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


async def _job(env: dict[str, str], job_id: int) -> dict[str, object]:
    import json

    result = await trio.to_thread.run_sync(run_cli, env, "jobs", "show", str(job_id))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_sigterm_drains_jobs_in_flight_and_returns_the_rest_to_the_queue(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path, shutdown_grace="3")
    short, long = tmp_path / "short.txt", tmp_path / "long.txt"
    async with service_process(env) as service:
        short_id = await _push_nap(service, 1.0, short)
        long_id = await _push_nap(service, 120.0, long)
        await wait_until("both jobs to start", lambda: service.names().count("job.started"),
                         lambda started: started >= 2, within=60)
        service.signal(signal.SIGTERM)
        started = trio.current_time()
        with trio.fail_after(100):
            code = await service.process.wait()
        took = trio.current_time() - started
    assert code == 0
    # Generous for a busy machine; the point is that the 120 s job was not waited out.
    assert took < 60, f"took {took:.1f} s: exits after the 3 s grace, not after the 120 s job"
    assert short.exists()
    assert not long.exists()
    assert (await _job(env, short_id))["state"] == "completed"
    returned = await _job(env, long_id)
    assert returned["state"] == "available"
    assert returned["attempt"] == 0
    assert returned["errors"][-1]["kind"] == "interrupted"  # type: ignore[index]
    assert "after the 3 s grace period" in returned["errors"][-1]["message"]  # type: ignore[index]
    assert "service.stopped" in service.names()


async def test_after_a_restart_the_returned_job_completes(tmp_path: Path) -> None:
    env = service_env(tmp_path, shutdown_grace="0")
    marker = tmp_path / "nap.txt"
    async with service_process(env) as service:
        job_id = await _push_nap(service, 2.0, marker)
        await service.wait_for("job.started")
        service.signal(signal.SIGINT)
        assert await service.process.wait() == 0
    assert not marker.exists()
    async with service_process(env) as service:
        await wait_until(f"{marker} to be written", marker.exists, bool, within=60)
        await service.wait_for("job.completed")
    assert marker.read_text() == "attempt 1\n"
    assert (await _job(env, job_id))["state"] == "completed"


async def test_sigterm_finishes_what_fits_in_the_grace_without_waiting_it_out(
    tmp_path: Path,
) -> None:
    # An idle keep-alive client (a load balancer, here the admin client) must not hold the
    # shutdown for the whole grace period; jobs not yet claimed stay untouched.
    env = service_env(tmp_path, shutdown_grace="60")
    markers = [tmp_path / f"nap{n}.txt" for n in range(8)]
    async with service_process(env) as service, service.admin() as admin:
        for marker in markers:  # concurrency 4: four run, four wait
            response = await admin.post("/api/jobs", json={
                "task": "nap", "args": {"seconds": 1.5, "marker": str(marker)}})
            assert response.status_code == 201, response.text
        await wait_until("four jobs to start", lambda: service.names().count("job.started"),
                         lambda started: started >= 4, within=60)
        service.signal(signal.SIGTERM)
        started = trio.current_time()
        with trio.fail_after(100):
            code = await service.process.wait()
        took = trio.current_time() - started
    assert code == 0
    # The jobs take 1.5 s; the grace is 60 s so that a busy machine cannot blur the two.
    assert took < 30, f"took {took:.1f} s: waited out the 60 s grace"
    jobs = await query(env, "SELECT state, attempt, errors FROM jobs ORDER BY id")
    assert sorted(state for state, _, _ in jobs) == ["available"] * 4 + ["completed"] * 4
    assert all(attempt == 0 and errors == "[]" for state, attempt, errors in jobs
               if state == "available"), jobs
    async with service_process(env) as service:
        await wait_until("every nap's marker", lambda: [m.name for m in markers if m.exists()],
                         lambda written: len(written) == len(markers), within=60)
        service.signal()
        assert await service.process.wait() == 0
    assert [marker.read_text() for marker in markers] == ["attempt 1\n"] * 8
    assert await query(env, "SELECT DISTINCT state FROM jobs") == [("completed",)]


async def test_a_second_signal_exits_at_once_and_still_returns_the_job(tmp_path: Path) -> None:
    env = service_env(tmp_path, shutdown_grace="600")
    async with service_process(env) as service:
        job_id = await _push_nap(service, 1200.0, tmp_path / "never.txt")
        await service.wait_for("job.started")
        service.signal(signal.SIGTERM)
        await service.wait_for("service.stopping")
        service.signal(signal.SIGTERM)
        with trio.fail_after(60):  # far under the 600 s grace
            code = await service.process.wait()
    assert code == 1
    job = await _job(env, job_id)
    assert job["state"] == "available"
    assert job["attempt"] == 0
    message = job["errors"][-1]["message"]  # type: ignore[index]
    assert message.startswith("interrupted by a forced shutdown"), message


async def test_logs_are_one_json_object_per_line_including_job_events(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    async with service_process(env) as service:
        await _push_nap(service, 0.0, tmp_path / "quick.txt")
        done = await service.wait_for("job.completed")
        service.signal()
        await service.process.wait()
    assert done["task"] == "nap"
    assert done["level"] == "info"
    assert "ts" in done
    assert "unparsed" not in service.names()
    assert {"service.ready", "web.started", "worker.started", "job.started"} <= set(
        service.names())


async def test_web_and_worker_in_two_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    marker = tmp_path / "cross.txt"
    async with service_process(env, "web") as web, service_process(env, "worker") as worker:
        assert web.url is not None
        assert worker.url is None
        await _push_nap(web, 0.0, marker)
        await wait_until(f"{marker} to be written by the worker process", marker.exists, bool,
                         within=60)
        for service in (web, worker):
            service.signal()
            assert await service.process.wait() == 0
    assert "job.started" in worker.names()
    assert "job.started" not in web.names()


def test_the_real_entry_point_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "service", "migrate"],
                            env=service_env(tmp_path), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "applied: app:1, app:2, app:3, jobs:1, jobs:2" in result.stdout
    again = subprocess.run([sys.executable, "-m", "service", "migrate"],
                           env=service_env(tmp_path), capture_output=True, text=True,
                           timeout=60, check=False)
    assert "schema is up to date" in again.stdout


async def test_a_task_that_blocks_the_event_loop_is_reported(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    async with service_process(env) as service:
        async with service.admin() as admin:
            response = await admin.post("/api/jobs", json={"task": "hog", "args": {"seconds": 3}})
            assert response.status_code == 201
        blocked = await service.wait_for("worker.loop_blocked")
        await service.wait_for("worker.loop_unblocked")
        service.signal()
        assert await service.process.wait() == 0
    assert blocked["level"] == "warning"
    assert "blocking the event loop" in blocked["message"]
