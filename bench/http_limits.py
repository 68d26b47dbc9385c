"""Scenarios 7b and 7c: ``python -m service web`` beside hostile clients, and at 3x capacity.

**Slow and idle clients** (7b). Normal clients push at a steady 100 requests/s (open loop,
:mod:`bench.openloop`, 4 connections) for a while alone (quiet), then again while a child
process holds 1,000 idle keep-alive connections and 50 slowloris connections (a header byte
every 2 s; :mod:`bench.hostile`), every one reconnecting as soon as the server cuts it.
Reported: the normal clients' p99 quiet and attacked (target: attacked <= 2x quiet), their
statuses, how many idle and slowloris connections the server cut and how long it let them
live (its documented timeouts: ``SERVICE_HTTP_HEAD_TIMEOUT``, 10 s, from a head's first byte;
``SERVICE_HTTP_KEEP_ALIVE``, 75 s, for an idle connection), and the server's open file
descriptors against its limit. A second run sets ``SERVICE_HTTP_KEEP_ALIVE=5``: the 1,000 idle
clients, connected at once, are then cut at once and all reconnect at once, every 5 s -- what a
short keep-alive costs the normal clients.

**Overload** (7c). The capacity is measured first (closed loop, 16 connections), then requests
arrive open-loop at 3x that rate over 300 connections for a while. Reported: statuses (201 or
the documented 503 with ``Retry-After`` past ``SERVICE_HTTP_MAX_IN_FLIGHT``), the slowest
answer (target: none past a documented timeout), the server's RSS before, at peak and after,
and how long after the load stopped a single client saw normal answers again (target: 5 s).
The same overload against the bare quart-trio app (no database, no middleware) gives the floor
of the slowest answer: what the framework, the generator and the two shared cores make of 300
connections opened at once.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http_api import TOKEN, _body, bare, load, service
from .proc import Child, ChildFailed, run_child

if TYPE_CHECKING:
    from pathlib import Path

    from .common import Context, Results

NORMAL_RATE = 100.0
IDLE = 1000
SLOWLORIS = 50
DRIP = 2.0
OVERLOAD = 3.0
OVERLOAD_CONNECTIONS = 300


def _open_loop(port: int, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    return run_child("bench.openloop:child_open_loop", {
        "host": "127.0.0.1", "port": port, "path": "/api/jobs", "body": _body(),
        "headers": {"Authorization": f"Bearer {TOKEN}"}, "rate": rate, "seconds": seconds,
        "connections": connections}, timeout=seconds + 120)


@dataclass
class Sampler:
    """The server's RSS (MiB) and open descriptors, sampled every ``interval`` s in a thread."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as status:
                    rss = next(int(line.split()[1]) for line in status
                               if line.startswith("VmRSS:")) / 1024
                fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            except (OSError, StopIteration):
                return
            self.samples.append((time.monotonic() - start, rss, fds))
            self._stop.wait(self.interval)

    def peak(self, since: float = 0.0) -> tuple[float, int]:
        chosen = [(rss, fds) for t, rss, fds in self.samples if t >= since] or [(0.0, 0)]
        return max(r for r, _ in chosen), max(f for _, f in chosen)


def server_p99(port: int, route: str = "/api/jobs") -> float | None:
    """The upper bound (s) of the bucket holding the 99th percentile of the server's own
    request durations (``service_http_request_duration_seconds``, from arrival at the app to
    its answer): what the server took, apart from what the client's own delays add."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                     "\r\nConnection: close\r\n\r\n".encode())
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    buckets = sorted(
        (float(le.group(1)), float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
        if line.startswith("service_http_request_duration_seconds_bucket{")
        and f'route="{route}"' in line and (le := re.search(r'le="([^"]+)"', line)))
    if not buckets:
        return None
    total = buckets[-1][1]
    return next((le for le, count in buckets if count >= 0.99 * total), None)


def open_files_limit(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as limits:
        line = next(x for x in limits if x.startswith("Max open files"))
    return int(line.split()[3])


def run(ctx: Context, results: Results) -> None:
    seconds = 1.0 if ctx.quick else 6.0
    for name, scenario in (("slow clients", _slow_clients), ("overload", _overload)):
        directory = ctx.scratch(f"http-{name.replace(' ', '-')}")
        directory.mkdir()
        try:
            scenario(directory, results, seconds, ctx.quick)
        except (ChildFailed, OSError) as exc:
            results.skip(f"http {name}", f"failed: {str(exc).strip()[:300]}")


#: The slow-clients runs: the default timers, then a short keep-alive (the 5 s of hypercorn and
#: of this service before 4 Dec) under which every idle client is cut, and reconnects, at once.
SLOW_VARIANTS = {"": {}, "ka5.": {"http_keep_alive": "5"}}
#: The attacked window starts past one head timeout (10 s): slowloris clients have been cut
#: and are reconnecting.
SETTLE = 11.0


def _slow_clients(directory: Path, results: Results, seconds: float, quick: bool) -> None:
    for key, settings in SLOW_VARIANTS.items():
        if quick and key:
            continue
        where = directory / (key.rstrip(".") or "default")
        where.mkdir()
        _slow_clients_once(where, results, seconds, quick, key, settings)


def _slow_clients_once(directory: Path, results: Results, seconds: float, quick: bool,
                       key: str, settings: dict[str, str]) -> None:
    # --quick: a smoke run of the same steps, 10x fewer hostile connections, no settling.
    idle, slow = (IDLE // 10, SLOWLORIS // 10) if quick else (IDLE, SLOWLORIS)
    with service(directory, **settings) as server, Sampler(server.pid) as sampler:
        quiet = _open_loop(server.port, NORMAL_RATE, seconds, 4)
        with Child("bench.hostile:child_hostile", {
                "host": "127.0.0.1", "port": server.port, "idle": idle, "slow": slow,
                "drip": DRIP, "seconds": seconds + (2 if quick else SETTLE + 14)},
                timeout=seconds + 120) as hostile:
            hostile.ready()
            time.sleep(0 if quick else SETTLE)
            since = sampler.samples[-1][0] if sampler.samples else 0.0
            attacked = _open_loop(server.port, NORMAL_RATE, seconds, 4)
            peak_rss, peak_fds = sampler.peak(since)
            held = hostile.result()
        limit = open_files_limit(server.pid)
    label = "normal clients, 100 requests/s"
    timers = ("SERVICE_HTTP_KEEP_ALIVE=5: " if key else "")
    p = f"http.slow.{key}"
    if not key:
        results.add(f"{p}quiet.p99", quiet["percentiles"][2] * 1000,
                    f"{label}, quiet: p99", "ms", higher_is_better=False)
    results.add(f"{p}attacked.p99", attacked["percentiles"][2] * 1000,
                f"{timers}{label}, beside {idle:,} idle + {slow} slowloris connections: p99",
                "ms", higher_is_better=False)
    results.add(f"{p}ratio", attacked["percentiles"][2] / quiet["percentiles"][2],
                f"{timers}p99 attacked / quiet (target <= 2x)", "x", higher_is_better=False)
    results.add(f"{p}fds", peak_fds, f"{timers}server's open descriptors at peak (limit"
                f" {limit:,})", "", higher_is_better=False)
    results.add(f"{p}rss", peak_rss, f"{timers}server's RSS at peak while attacked", "MiB",
                higher_is_better=False)
    for kind in ("idle", "slowloris"):
        results.add(f"{p}cut.{kind}", held["cut"].get(kind, 0),
                    f"{timers}{kind} connections the server cut (each reconnected)", "",
                    higher_is_better=False)
        if kind in held["held_max"]:
            results.add(f"{p}held.{kind}", held["held_max"][kind],
                        f"{timers}longest a {kind} connection was kept before its cut (s)",
                        "s", higher_is_better=False)
    results.notes[f"http_slow{'_' + key.rstrip('.') if key else ''}"] = {
        "quiet": quiet["statuses"], "attacked": attacked["statuses"],
        "cut": held["cut"], "connect_errors": held["errors"],
        "attacked_errors": attacked["errors"]}


def _overload(directory: Path, results: Results, seconds: float, quick: bool) -> None:
    with service(directory) as server, Sampler(server.pid) as sampler:
        capacity = load(server.port, 16, 10**6, seconds)
        quiet_p50 = capacity["percentiles"][0]
        before = sampler.samples[-1][1] if sampler.samples else 0.0
        started = sampler.samples[-1][0] if sampler.samples else 0.0
        rate = OVERLOAD * capacity["rate"]
        over = _open_loop(server.port, rate, seconds * 2, OVERLOAD_CONNECTIONS)
        stopped = time.monotonic()
        recovered = None
        while time.monotonic() - stopped < 15:
            probe = load(server.port, 1, 50, 0.5)
            if set(probe["statuses"]) == {"201"} and probe["percentiles"][0] <= 2 * quiet_p50:
                recovered = time.monotonic() - stopped
                break
        peak_rss, _ = sampler.peak(started)
        inside = server_p99(server.port)
        after = sampler.samples[-1][1] if sampler.samples else 0.0
    results.add("http.over.capacity", capacity["rate"], "capacity, 16 connections", "req/s")
    results.add("http.over.offered", rate, f"offered: {OVERLOAD:.0f}x capacity, open loop,"
                f" {OVERLOAD_CONNECTIONS} connections", "req/s")
    statuses = over["statuses"]
    results.add("http.over.201", statuses.get("201", 0) / over["seconds"], "answered 201",
                "req/s")
    results.add("http.over.503", statuses.get("503", 0) / over["seconds"],
                "answered 503 + Retry-After", "req/s")
    results.add("http.over.max", over["max"] * 1000, "slowest answer", "ms",
                higher_is_better=False)
    for status, points in over["by_status"].items():
        results.add(f"http.over.p99.{status}", points[2] * 1000, f"p99 of the {status}s", "ms",
                    higher_is_better=False)
    if inside is not None:
        results.add("http.over.server_p99", inside * 1000, "p99 inside the server, arrival at"
                    " the app to answer (bucket bound, all requests of the run)", "ms",
                    higher_is_better=False)
    results.add("http.over.rss.before", before, "server RSS before", "MiB")
    results.add("http.over.rss.peak", peak_rss, "server RSS at peak", "MiB",
                higher_is_better=False)
    results.add("http.over.rss.after", after, "server RSS after", "MiB")
    if recovered is not None:
        results.add("http.over.recovered", recovered,
                    "back to normal after the load stopped (s)", "s", higher_is_better=False)
    else:
        results.skip("http.over.recovered", "not back to normal within 15 s")
    results.notes["http_overload"] = {"statuses": statuses, "errors": over["errors"],
                                      "timeline": over["timeline"],
                                      "queued_p99_s": over["queued_p99"],
                                      "p99_by_second_ms": _p99_by_second(over)}
    if not quick:
        _overload_bare(directory, results, seconds)


def _p99_by_second(over: dict[str, Any]) -> list[int]:
    """The worst p99 of each second of an open-loop run, ms (any status)."""
    return [round(max((p99 for _, p99 in second.values()), default=0.0) * 1000)
            for second in over["timeline"]]


def _overload_bare(directory: Path, results: Results, seconds: float) -> None:
    """The same overload against the bare quart-trio app (:mod:`bench.bare_app`): what the
    framework, the load generator and the machine make of 300 connections at 3x capacity
    with no database and no middleware -- the floor of the slowest answer."""
    where = directory / "bare"
    where.mkdir()
    with bare(where) as server:
        capacity = load(server.port, 16, 10**6, seconds)
        over = _open_loop(server.port, OVERLOAD * capacity["rate"], seconds * 2,
                          OVERLOAD_CONNECTIONS)
    results.add("http.over.bare.max", over["max"] * 1000, "bare quart-trio app at 3x its"
                " capacity, same generator: slowest answer", "ms", higher_is_better=False)
    results.add("http.over.bare.p99", over["percentiles"][2] * 1000, "bare quart-trio app at"
                " 3x its capacity: p99", "ms", higher_is_better=False)
    results.notes["http_overload_bare"] = {"statuses": over["statuses"],
                                           "p99_by_second_ms": _p99_by_second(over)}
