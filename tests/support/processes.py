"""Test support: the service as a real subprocess, its JSON log lines read as they come."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from support.waiting import WaitTimedOut

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TESTS = Path(__file__).parent.parent
ADMIN_TOKEN = "process-test-token"


def service_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), *sys.path])
    env.update({
        "SERVICE_DATA_DIR": str(tmp_path / "data"),
        "SERVICE_BIND": "127.0.0.1:0",
        "SERVICE_ADMIN_TOKEN": ADMIN_TOKEN,
    })
    env.update({f"SERVICE_{k.upper()}": v for k, v in settings.items()})
    return env


@attrs.define
class ServiceProcess:
    process: trio.Process
    events: list[dict[str, Any]] = attrs.field(factory=list)
    url: str | None = None
    _new_line: trio.Event = attrs.field(factory=trio.Event)

    async def read_logs(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        async for chunk in self.process.stderr:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"event": "unparsed", "line": line.decode(errors="replace")}
                self.events.append(event)
                if event.get("event") == "web.started":
                    self.url = event["addresses"].split(",")[0]
            self._new_line.set()
            self._new_line = trio.Event()

    async def wait_for(self, name: str, within: float = 30) -> dict[str, Any]:
        """The first ``name`` event logged; fails naming it and the last events after
        ``within`` s (real time) or when the process exits first."""
        with trio.move_on_after(within):
            while True:
                for event in self.events:
                    if event.get("event") == name:
                        return event
                if self.process.returncode is not None:
                    raise AssertionError(f"exited {self.process.returncode}: {self.events}")
                await self._new_line.wait()
        raise WaitTimedOut(f"timed out after {within:g} s waiting for a {name!r} log event;"
                           f" last events seen: {self.names()[-10:]}")

    def names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def admin(self) -> httpx.AsyncClient:
        assert self.url is not None
        return httpx.AsyncClient(base_url=self.url, timeout=10,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@asynccontextmanager
async def service_process(
    env: dict[str, str], *args: str, with_nap: bool = True, wait_ready: bool = True,
    module: str | None = None, stdout: Path | None = None,
) -> AsyncIterator[ServiceProcess]:
    """Start the service (``python -m module``, by default the service with the test tasks);
    yields once it logged ``service.ready`` (at once unless ``wait_ready``); kills it if still
    running. Its stdout goes to the file ``stdout`` if given, else nowhere."""
    if module is None:
        module = "support.run_service" if with_nap else "service"
    out = (subprocess.DEVNULL if stdout is None
           else os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    try:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", module, *args], env=env, stderr=subprocess.PIPE, stdout=out,
        )
    finally:
        if stdout is not None:
            os.close(out)
    service = ServiceProcess(process)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service.read_logs)
        try:
            if wait_ready:
                await service.wait_for("service.ready")
            yield service
        finally:
            if process.returncode is None:
                process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "support.run_service", *args], env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )
