"""``python -m service`` where it cannot listen: one line naming the address, the reason and the
setting, exit 2, and nothing created (issue 11, bug 5): the web role binds before it opens the
store. The worker alone listens on nothing and does not care."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
from support.http import make_settings
from support.processes import service_env, service_process

from service.runtime import ListenError, WebService, listen_failure, open_state

if TYPE_CHECKING:
    from collections.abc import Iterator

#: TEST-NET-1 (RFC 5737): never an address of this host.
NOT_LOCAL = "192.0.2.1"


def _python_m_service(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port of 127.0.0.1 another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _message(bind: str, reason: str, setting: str = "SERVICE_BIND or --bind") -> str:
    return f"python -m service: cannot listen on {bind} ({reason}): set {setting}"


METRICS_SETTING = "SERVICE_METRICS_BIND or --metrics-bind"


@pytest.mark.parametrize("command", [[], ["run"], ["web"]])
def test_a_port_in_use_exits_2_naming_address_and_setting_and_creates_nothing(
    tmp_path: Path, held_port: int, command: list[str]
) -> None:
    bind = f"127.0.0.1:{held_port}"
    result = _python_m_service(service_env(tmp_path, bind=bind), *command)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [_message(bind, "address already in use")]
    assert not (tmp_path / "data").exists()  # no database file, no data directory


def test_the_bind_flag_is_reported_the_same_way(tmp_path: Path, held_port: int) -> None:
    bind = f"127.0.0.1:{held_port}"
    result = _python_m_service(service_env(tmp_path), "web", "--bind", bind)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [_message(bind, "address already in use")]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", [["worker"], ["run"], ["web"]])
def test_a_metrics_port_in_use_exits_2_naming_its_setting_and_creates_nothing(
    tmp_path: Path, held_port: int, command: list[str]
) -> None:
    bind = f"127.0.0.1:{held_port}"
    result = _python_m_service(service_env(tmp_path, metrics_bind=bind), *command)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        _message(bind, "address already in use", METRICS_SETTING)]
    assert not (tmp_path / "data").exists()


def test_the_metrics_bind_flag_is_reported_the_same_way(tmp_path: Path, held_port: int) -> None:
    bind = f"127.0.0.1:{held_port}"
    result = _python_m_service(service_env(tmp_path), "worker", "--metrics-bind", bind)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        _message(bind, "address already in use", METRICS_SETTING)]
    assert not (tmp_path / "data").exists()


def test_an_address_of_another_host_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    bind = f"{NOT_LOCAL}:8000"
    result = _python_m_service(service_env(tmp_path, bind=bind), "web")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [_message(bind, "not an address of this host")]
    assert not (tmp_path / "data").exists()


def _privileged_port_refused() -> bool:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return os.geteuid() != 0 and start > 1


@pytest.mark.skipif(not _privileged_port_refused(),
                    reason="this user may listen on ports below 1024 (root or a lowered"
                    " ip_unprivileged_port_start); the reason's wording is tested below")
def test_a_privileged_port_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    result = _python_m_service(service_env(tmp_path, bind="127.0.0.1:1"), "web")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [_message("127.0.0.1:1", "permission denied")]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.EADDRINUSE, "Address already in use"), "address already in use"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
         "not an address of this host"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         "name or service not known"),
        (OSError(errno.ENOBUFS, "No buffer space available"), "no buffer space available"),
    ],
)
def test_each_reason_is_said_in_words(error: OSError, reason: str) -> None:
    assert listen_failure(error) == reason
    assert str(ListenError("example:80", error)) == (
        f"cannot listen on example:80 ({reason}): set SERVICE_BIND or --bind")
    assert str(ListenError("example:80", error, "metrics_bind")) == (
        f"cannot listen on example:80 ({reason}): set SERVICE_METRICS_BIND or --metrics-bind")


async def test_a_web_service_that_never_started_logs_no_stop(
    tmp_path: Path, held_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service")
    settings = make_settings(tmp_path, bind=f"127.0.0.1:{held_port}")
    async with open_state(settings) as state:
        web = WebService(state)
        with pytest.raises(ListenError, match="address already in use"):
            await web.run()
        with trio.fail_after(5):
            await web.shutdown()  # returns at once: nothing to stop
    events = [getattr(record, "event", None) for record in caplog.records]
    assert "web.started" not in events
    assert "web.stopped" not in events


async def test_the_worker_alone_does_not_listen_and_starts_with_the_port_taken(
    tmp_path: Path, held_port: int
) -> None:
    env = service_env(tmp_path, bind=f"127.0.0.1:{held_port}")
    async with service_process(env, "worker") as worker:
        assert worker.url is None
        worker.signal(signal.SIGTERM)
        assert await worker.process.wait() == 0
    assert "web.started" not in worker.names()
    assert "web.stopped" not in worker.names()
    assert "metrics.started" not in worker.names()  # off by default
