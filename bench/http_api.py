"""Scenario 7: ``POST /api/jobs`` through hypercorn, as users run it.

The server is the product's own command, ``python -m service web`` (HTTP role only, so the
pushed ``send_welcome_email`` jobs just accumulate), on a fresh SQLite file, with its default
settings (log level INFO: one JSON log line per request, sent to a file here) and an admin
token. Load comes from a separate process on loopback (:mod:`bench.loadgen`): keep-alive
connections, one request in flight per connection, bounded by a request count and a time.
With ``wrk`` on the PATH (``apt-get install wrk``) the same load is also measured with it, a
generator that costs the shared 2 cores less. Every request must answer 201, and the database
must hold exactly as many jobs as 201s were counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .common import Context, Results, plural
from .proc import ROOT, ChildFailed, run_child

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "bench-token"
CONNECTIONS = (1, 16)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


@dataclass
class Stopped:
    """How the service exited, once its ``with`` block is left."""

    code: int | None = None


@contextlib.contextmanager
def _server(directory: Path, name: str, command: list[str], env: dict[str, str],
            port: int, stopped: Stopped | None = None) -> Iterator[Server]:
    """``command`` (logging to ``directory/<name>.log``) until SIGTERM on exit (its exit code
    into ``stopped``)."""
    log_path = directory / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while not _healthy(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ChildFailed(f"{' '.join(command[1:])} did not come up:\n"
                                      + log_path.read_text()[-2000:])
                time.sleep(0.1)
            yield Server(port, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            if stopped is not None:
                stopped.code = code


def service(directory: Path, command: str = "web", database_url: str | None = None,
            stopped: Stopped | None = None,
            **settings: str) -> contextlib.AbstractContextManager[Server]:
    """``python -m service <command>`` (a fresh SQLite file unless ``database_url``), its log in
    ``directory / "service.log"``, until SIGTERM on exit (its exit code into ``stopped``);
    ``settings`` add ``SERVICE_*`` variables (``shutdown_grace="2"`` is
    ``SERVICE_SHUTDOWN_GRACE=2``)."""
    port = free_port()
    env = {**os.environ, "SERVICE_DATA_DIR": str(directory),
           "SERVICE_DATABASE_URL": database_url or f"sqlite:///{directory / 'service.db'}",
           "SERVICE_BIND": f"127.0.0.1:{port}", "SERVICE_ADMIN_TOKEN": TOKEN,
           "SERVICE_SHUTDOWN_GRACE": "2",
           **{f"SERVICE_{name.upper()}": value for name, value in settings.items()}}
    return _server(directory, "service", [sys.executable, "-m", "service", command], env, port,
                   stopped)


def bare(directory: Path) -> contextlib.AbstractContextManager[Server]:
    """The bare quart-trio app of :mod:`bench.bare_app` on the same hypercorn."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return _server(directory, "bare", [sys.executable, "-m", "bench.bare_app",
                                       f"127.0.0.1:{port}"], env, port)


def _body() -> str:
    return f'{{"task": "send_welcome_email", "args": {{"user_id": "{uuid.uuid4()}"}}}}'


def _jobs_in(directory: Path) -> int:
    with contextlib.closing(sqlite3.connect(directory / "service.db")) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM jobs").fetchall()
    return int(count)


def _record(results: Results, key: str, label: str, rps: float, points: list[float]) -> None:
    results.add(f"{key}.rps", rps, f"{label}: requests/s", "req/s")
    for name, value in zip(("p50", "p95", "p99"), points, strict=True):
        results.add(f"{key}.{name}", value * 1000, f"{label}: {name}", "ms",
                    higher_is_better=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process ``pid`` has used (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, connections: int, requests: int, seconds: float,
         pid: int | None = None) -> dict[str, Any]:
    """Run the python load generator (a child process) against the server on ``port``; with
    the server's ``pid``, also the server's CPU time per request (``cpu_us``): on a shared
    machine it moves less than the rate, which counts time the server waited for a core."""
    before = cpu_seconds(pid) if pid is not None else 0.0
    out = run_child("bench.loadgen:child_load", {
        "host": "127.0.0.1", "port": port, "path": "/api/jobs", "body": _body(),
        "headers": {"Authorization": f"Bearer {TOKEN}"}, "connections": connections,
        "requests": requests, "seconds": seconds})
    if pid is not None and out["requests"]:
        out["cpu_us"] = (cpu_seconds(pid) - before) / out["requests"] * 1e6
    return out


def run(ctx: Context, results: Results) -> None:
    directory = ctx.scratch("http")
    directory.mkdir()
    requests = ctx.jobs
    seconds = ctx.http_seconds
    created = 0
    try:
        with service(directory) as server, bare(directory) as ceiling:
            for connections in CONNECTIONS:
                out = load(server.port, connections, requests, seconds, server.pid)
                if set(out["statuses"]) != {"201"}:
                    raise ChildFailed(f"unexpected statuses {out['statuses']}")
                created += out["statuses"]["201"]
                _record(results, f"http.c{connections}",
                        f"POST /api/jobs, {plural(connections, 'connection')}, python load"
                        " generator",
                        out["rate"], out["percentiles"])
                base = load(ceiling.port, connections, requests, seconds, ceiling.pid)
                if set(base["statuses"]) != {"201"}:
                    raise ChildFailed(f"bare app: unexpected statuses {base['statuses']}")
                _record(results, f"http.bare.c{connections}",
                        f"bare quart-trio app, {plural(connections, 'connection')}, python load"
                        " generator", base["rate"], base["percentiles"])
                results.add(f"http.ratio.c{connections}", out["rate"] / base["rate"],
                            f"POST /api/jobs ours/bare, {plural(connections, 'connection')}:"
                            " requests/s", "x")
                for key, measured in ((f"http.c{connections}", out),
                                      (f"http.bare.c{connections}", base)):
                    results.add(f"{key}.cpu", measured["cpu_us"], "server CPU per request",
                                "µs", higher_is_better=False)
                results.add(f"http.cpu_ratio.c{connections}", base["cpu_us"] / out["cpu_us"],
                            f"POST /api/jobs bare/ours, {plural(connections, 'connection')}:"
                            " server CPU per request", "x")
            if shutil.which("wrk"):
                created += _wrk(results, server.port, seconds)
            else:
                results.skip("http.wrk", "wrk is not installed (apt-get install wrk)")
    except ChildFailed as exc:
        results.skip("http", f"failed: {str(exc).strip()[:300]}")
        return
    # wrk stops with up to one request per connection in flight, which the server may store.
    stored = _jobs_in(directory)
    if not created <= stored <= created + CONNECTIONS[-1]:
        results.skip("http.check", f"{created} answers 201 but {stored} jobs stored")


WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _wrk(results: Results, port: int, seconds: float) -> int:
    """The same load through ``wrk`` (1 thread, 16 connections); how many requests it made."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=_body(), token=TOKEN))
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS[-1]}", f"-d{max(1, round(seconds))}s", "--latency",
             "-s", script.name, f"http://127.0.0.1:{port}/api/jobs"],
            capture_output=True, text=True, timeout=seconds + 60, check=True)
    finally:
        os.unlink(script.name)
    text = done.stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    # wrk counts a request still unanswered when the test stops as a timeout: not a failure.
    if "Non-2xx" in text or (errors and any(int(n) for n in errors.groups()[:3])):
        raise ChildFailed(f"wrk saw errors:\n{text}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    points = []
    for name in ("50", "90", "99"):
        match = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        assert match is not None, text
        points.append(float(match.group(1)) * _UNIT[match.group(2)])
    results.add("http.wrk.rps", rps, f"POST /api/jobs, {CONNECTIONS[-1]} connections, wrk: "
                "requests/s", "req/s")
    for name, value in zip(("p50", "p90", "p99"), points, strict=True):
        results.add(f"http.wrk.{name}", value * 1000,
                    f"POST /api/jobs, {CONNECTIONS[-1]} connections, wrk: {name}", "ms",
                    higher_is_better=False)
    total = re.search(r"(\d+) requests in", text)
    return int(total.group(1)) if total else 0
