"""``SERVICE_LOG_FORMAT``: text lines for a person at a terminal, JSON lines for a machine.

By default the service writes text when stderr is a terminal and JSON otherwise; ``text`` or
``json`` forces one. Both show times as ISO 8601 in UTC. (JSON off a terminal is what every other
process test reads: ``support.processes`` parses each line.)
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from support.processes import run_cli, service_env

if TYPE_CHECKING:
    from pathlib import Path

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
TEXT_READY = re.compile(rf"^{ISO_UTC} INFO +service\.ready roles=worker database=sqlite:///\S+$")


def _worker_log(env: dict[str, str], *, terminal: bool) -> list[str]:
    """The lines ``python -m service worker`` writes on stderr from its start to its exit on
    SIGTERM, stderr being a terminal (a pseudo-terminal) or a pipe."""
    if terminal:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    process = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=writer)
    os.close(writer)
    output = b""
    stopping = False
    try:
        while True:
            ready, _, _ = select.select([reader], [], [], 30)
            assert ready, f"no output within 30 s: {output!r}"
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # a pseudo-terminal reads EIO once the process closed it
                chunk = b""
            if not chunk:
                break
            output += chunk
            if b"service.ready" in output and not stopping:
                process.send_signal(signal.SIGTERM)
                stopping = True
        assert process.wait(timeout=30) == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(reader)
    return output.decode().replace("\r\n", "\n").splitlines()


def test_on_a_terminal_logs_are_text_lines_by_default(tmp_path: Path) -> None:
    lines = _worker_log(service_env(tmp_path), terminal=True)
    assert any(TEXT_READY.match(line) for line in lines), lines
    assert not any(line.startswith("{") for line in lines), lines
    assert all(re.match(rf"^{ISO_UTC} [A-Z]+ +[a-z_]+\.[a-z_]+", line) for line in lines), lines


def test_off_a_terminal_logs_are_json_by_default(tmp_path: Path) -> None:
    lines = _worker_log(service_env(tmp_path), terminal=False)
    events = [json.loads(line) for line in lines]
    ready = next(e for e in events if e["event"] == "service.ready")
    assert re.fullmatch(ISO_UTC, ready["ts"])
    assert ready["roles"] == "worker"


@pytest.mark.parametrize(("log_format", "terminal"), [("json", True), ("text", False)])
def test_the_setting_overrides_what_stderr_is(
    tmp_path: Path, log_format: str, terminal: bool
) -> None:
    lines = _worker_log(service_env(tmp_path, log_format=log_format), terminal=terminal)
    if log_format == "json":
        assert "service.ready" in [json.loads(line)["event"] for line in lines]
    else:
        assert any(TEXT_READY.match(line) for line in lines), lines


def test_an_unknown_log_format_exits_2_naming_the_setting(tmp_path: Path) -> None:
    result = run_cli(service_env(tmp_path, log_format="yaml"), "worker")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "python -m service: invalid configuration: SERVICE_LOG_FORMAT: expected text or json,"
        " got 'yaml'"]
    assert not (tmp_path / "data").exists()
