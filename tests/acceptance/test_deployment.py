"""The deployment files: the Dockerfile, compose.yaml and the systemd unit say what the service
accepts, and the image's healthcheck probes a real process.

No container engine runs on our CI machines (the Docker client is there, no daemon, and no
registry to pull ``python:3.11-slim`` from), so building the image is tested only where one does
(``test_the_image_builds_and_reports_healthy``); everything the image runs is tested here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml
from dockerfile_parse import DockerfileParser
from support.processes import service_env, service_process

from service import settings

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
ROLES = {"run", "web", "worker"}

pytestmark = pytest.mark.slow


def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(ROOT / "Dockerfile"))


def final_stage(parser: DockerfileParser) -> list[dict[str, Any]]:
    instructions = [i for i in parser.structure if i["instruction"] != "COMMENT"]
    last_from = max(n for n, i in enumerate(instructions) if i["instruction"] == "FROM")
    return instructions[last_from:]


def instruction(stage: list[dict[str, Any]], name: str) -> str:
    values = [i["value"] for i in stage if i["instruction"] == name]
    assert values, f"the final stage has no {name}"
    return str(values[-1])


def accepted(environ: dict[str, str]) -> settings.Settings:
    """The service's own settings parser on ``environ``'s SERVICE_* variables: it refuses an
    unknown name or an invalid value, as the process would at start."""
    return settings.load(environ={k: v for k, v in environ.items() if k.startswith("SERVICE_")})


def test_the_image_runs_python_m_service_as_an_unprivileged_user() -> None:
    stage = final_stage(dockerfile())
    assert json.loads(instruction(stage, "ENTRYPOINT")) == ["python", "-m", "service"]
    assert json.loads(instruction(stage, "CMD"))[0] in ROLES
    user = instruction(stage, "USER")
    assert user not in {"root", "0"}
    assert not user.startswith(("root:", "0:"))
    assert instruction(stage, "STOPSIGNAL") == "SIGTERM", "docker stop drains like SIGTERM"
    assert instruction(stage, "EXPOSE") == "8000"


def test_the_images_settings_are_ones_the_service_accepts() -> None:
    parsed = accepted(dockerfile().envs)
    assert parsed.host == "0.0.0.0", "reachable from outside the container"
    assert parsed.port == 8000
    assert str(parsed.database_url) == "sqlite:////data/service.db", "in the /data volume"


def test_the_image_copies_files_that_exist_and_its_healthcheck_is_the_tested_script() -> None:
    parser = dockerfile()
    copies = [i["value"].split() for i in parser.structure if i["instruction"] == "COPY"]
    sources = [part for words in copies if not words[0].startswith("--from")
               for part in words[:-1]]
    assert sources, "the image copies the project in"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
    check = instruction(final_stage(parser), "HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    assert command[0] == "python"
    [(copied_from, copied_to)] = [(w[0], w[1]) for w in copies if w[0] == "deploy/healthcheck.py"]
    assert (ROOT / copied_from).samefile(HEALTHCHECK)
    assert command[1] == copied_to


def compose_file() -> dict[str, Any]:
    raw = (ROOT / "compose.yaml").read_text()
    # What `docker compose` would interpolate: ${NAME:?message} and ${NAME:-default}.
    raw = re.sub(r"\$\{(SERVICE_ADMIN_TOKEN):\?[^}]*\}", "a-token", raw)
    loaded: dict[str, Any] = yaml.safe_load(raw)
    return loaded


def test_compose_runs_postgresql_one_web_and_two_workers() -> None:
    services = compose_file()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        assert services[name]["build"] == "."
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert "uploads:/data/uploads" in services[name]["volumes"], (
            "web writes uploads, workers read them: one shared volume")


def test_composes_settings_are_ones_the_service_accepts_and_point_at_its_postgresql() -> None:
    services = compose_file()["services"]
    db = services["db"]["environment"]
    for name in ("web", "worker"):
        parsed = accepted(services[name]["environment"])
        assert str(parsed.database_url) == (
            f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@db:5432/"
            f"{db['POSTGRES_DB']}")
        assert parsed.admin_token == "a-token"
        grace = float(services[name]["stop_grace_period"].removesuffix("s"))
        assert grace > parsed.shutdown_grace, "compose waits longer than the jobs' grace"
    assert services["worker"]["environment"]["SERVICE_METRICS_BIND"], "its healthcheck port"


def test_the_systemd_unit_verifies_and_runs_the_service() -> None:
    unit = (ROOT / "deploy" / "service.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    assert exec_start is not None
    assert exec_start.group(1).split()[1:] == ["-m", "service", "run"]
    timeout = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)
    assert timeout is not None
    assert int(timeout.group(1)) > settings.load(environ={}).shutdown_grace
    assert re.search(r"^RestartPreventExitStatus=2$", unit, re.MULTILINE), (
        "a configuration error (exit 2) is not restarted in a loop")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The same unit with this machine's interpreter, which verify checks is executable.
    local = Path(os.environ.get("TMPDIR", "/tmp")) / f"service-{uuid.uuid4().hex}.service"
    local.write_text(unit.replace(exec_start.group(1).split()[0], sys.executable))
    try:
        result = subprocess.run([analyze, "verify", str(local)], capture_output=True,
                                text=True, timeout=60, check=False)
    finally:
        local.unlink()
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if local.name in line or "Unknown" in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not problems, result.stdout + result.stderr


def run_healthcheck(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=environ, capture_output=True,
                          text=True, timeout=30, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_healthcheck_passes_on_a_running_service_and_fails_when_it_is_gone(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = service_env(tmp_path, bind=f"0.0.0.0:{port}")
    async with service_process(env, module="service"):
        healthy = await trio.to_thread.run_sync(run_healthcheck, env)
        assert healthy.returncode == 0, healthy.stderr
    gone = await trio.to_thread.run_sync(run_healthcheck, env)
    assert gone.returncode == 1
    assert f"unhealthy: http://127.0.0.1:{port}/healthz" in gone.stderr


async def test_the_healthcheck_of_a_worker_container_probes_its_metrics_port(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = service_env(tmp_path, metrics_bind=f"0.0.0.0:{port}")  # SERVICE_BIND is set too
    async with service_process(env, "worker", module="service") as worker:
        await worker.wait_for("metrics.started")
        healthy = await trio.to_thread.run_sync(run_healthcheck, env)
        assert healthy.returncode == 0, healthy.stderr


def test_the_image_builds_and_reports_healthy(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True,
                                        timeout=30, check=False).returncode != 0:
        pytest.skip("no container engine runs on this machine (README: Deployment)")
    tag = f"service-test:{uuid.uuid4().hex[:12]}"
    subprocess.run([docker, "build", "-t", tag, str(ROOT)], check=True, timeout=900)
    try:
        run = subprocess.run(
            [docker, "run", "--rm", "-d", "-e", "SERVICE_ADMIN_TOKEN=t", tag],
            capture_output=True, text=True, check=True, timeout=60)
        container = run.stdout.strip()
        try:
            status = ""
            for _ in range(60):
                status = subprocess.run(
                    [docker, "inspect", "-f", "{{.State.Health.Status}}", container],
                    capture_output=True, text=True, check=True, timeout=30).stdout.strip()
                if status in {"healthy", "unhealthy"}:
                    break
                time.sleep(2)  # the engine's own healthcheck interval runs in real time
            assert status == "healthy"
        finally:
            subprocess.run([docker, "stop", container], check=False, timeout=120)
    finally:
        subprocess.run([docker, "rmi", "-f", tag], check=False, timeout=120)
