"""Soak: ``python -m service`` (HTTP API and worker in one process, as operators run it) under
a steady ``POST /api/jobs`` load for minutes while its worker drains.

    .venv/bin/python -m bench.soak --backend sqlite --minutes 10       # ~12 min
    .venv/bin/python -m bench.soak --backend postgresql --minutes 10
    .venv/bin/python -m bench.soak --minutes 1 --rate 50 --no-write --json out.json   # CI

One run: start ``python -m service`` on a fresh database (a SQLite file, or a throw-away
PostgreSQL database) with its default settings (log level INFO, JSON lines to a file), sign one
user up, then **probe** its maximum rate with the closed-loop load generator of scenario 7
(:func:`bench.loadgen.generate`: 16 keep-alive connections, one request in flight each, for
``--probe-seconds``) while the worker drains what the probe pushes, and **soak** at
``--rate-fraction`` of that maximum (or at a fixed ``--rate``) for ``--minutes``, open loop
(:func:`bench.loadgen.paced`: a request is due every ``1/rate`` s whatever the answers do).
Every request pushes ``send_welcome_email`` for the user (after the first one sends, each
completes as "already sent": one read and one outcome). The server's RSS is read from
``/proc`` every second. After the load, the worker is given time to drain, then the database is
read directly. Checks (all must hold):

- every ``201`` of the soak names a job that is ``completed``, and no job of the database is in
  any other state (the probe's and the sign-up's included);
- no answer but ``201`` and no log line at ERROR or above, and the service exits 0 on SIGTERM;
- RSS grows less than 10% after the warm-up (the first minute; a quarter of shorter runs):
  the median of the last 10 samples against the median of the 10 around the warm-up's end;
- p99 latency of the last window (a minute; a quarter of shorter runs) within 1.5x of the first
  window's.

``--json`` writes the whole report; without ``--no-write`` the run replaces its backend's
section of ``bench/RESULTS.md`` (kept when ``bench.run_all`` rewrites the file) and draws
``soak_<backend>.png`` if matplotlib is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sqlite3
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import machine, pg, soak_report
from .http_api import TOKEN, Stopped, service
from .proc import run_child

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
CONNECTIONS = 16
#: Target bounds of the checks (issue 15).
RSS_GROWTH_MAX = 0.10
P99_RATIO_MAX = 1.5
FINISHED_BAD = ("cancelled", "discarded")


class RssSampler:
    """Reads a process's RSS (MiB) from ``/proc`` every second in a thread: ``(t, MiB)``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.origin = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self.rss()
            if value is not None:
                self.samples.append((time.monotonic() - self.origin, value))
            self._stop.wait(1.0)

    def __enter__(self) -> RssSampler:
        self.origin = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def database(backend: str, directory: Path, pg_url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'service.db'}"
    else:
        with pg.throwaway_database(pg_url, prefix="soak") as conninfo:
            # The service takes a URL: the server's, naming the throw-away database.
            name = conninfo_to_dict(conninfo)["dbname"]
            yield urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))


def job_states(url: str) -> dict[int, str]:
    """Every job's state, read straight from the database."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())


def database_mib(url: str) -> float:
    """The database's size on disk (SQLite: the file and its WAL), MiB."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 2**20
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return float(row[0] if row else 0) / 2**20


def sign_up(port: int) -> str:
    body = json.dumps({"name": "Soak", "email": f"soak-{uuid.uuid4().hex[:8]}@example.com"})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/users", body.encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["id"])


def log_problems(path: Path) -> tuple[list[str], dict[str, int]]:
    """Lines at ERROR or above (JSON or text), and a count of WARNING lines by event."""
    errors: list[str] = []
    warnings: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            level, event = str(entry.get("level", "")).lower(), str(entry.get("event", ""))
        except (ValueError, AttributeError):
            level = "error" if ("ERROR" in line or "Traceback" in line) else ""
            event = line[:80]
        if level in ("error", "critical"):
            errors.append(line[:300])
        elif level == "warning":
            warnings[event] = warnings.get(event, 0) + 1
    return errors, warnings


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def rss_growth(samples: list[tuple[float, float]], warmup: float) -> dict[str, float]:
    """RSS at the warm-up's end (median of the 10 samples around it), at the end (median of
    the last 10), the peak after the warm-up, the growth ratio end / warm-up - 1, and the
    growth over the second half of what follows the warm-up (a leak keeps growing there; a
    cache filling up does not)."""
    around = [mib for t, mib in samples if warmup - 5 <= t < warmup + 5]
    after = [mib for t, mib in samples if t >= warmup]
    if not around or not after:
        return {}
    start, end = _median(around), _median([mib for _, mib in samples[-10:]])
    middle = (warmup + samples[-1][0]) / 2
    halfway = [mib for t, mib in samples if middle - 5 <= t < middle + 5]
    half = _median(halfway) if halfway else start
    return {"warm": start, "end": end, "peak": max(after), "growth": end / start - 1,
            "peak_growth": max(after) / start - 1, "second_half_growth": end / half - 1}


def wait_drained(url: str, ids: list[int], seconds: float
                 ) -> tuple[dict[int, str], float, int]:
    """Poll the database until no job is waiting or running (or ``seconds`` pass): every
    job's state, how long it took, and how many jobs were unfinished when it began."""
    start = time.monotonic()
    backlog: int | None = None
    while True:
        states = job_states(url)
        unfinished = sum(s not in ("completed", *FINISHED_BAD) for s in states.values())
        backlog = unfinished if backlog is None else backlog
        if (not unfinished and all(i in states for i in ids)) or (
                time.monotonic() - start > seconds):
            return states, time.monotonic() - start, backlog
        time.sleep(1.0)


def _load_args(port: int, user: str) -> dict[str, Any]:
    body = json.dumps({"task": "send_welcome_email", "args": {"user_id": user}})
    return {"host": "127.0.0.1", "port": port, "path": "/api/jobs", "body": body,
            "headers": {"Authorization": f"Bearer {TOKEN}"}, "connections": CONNECTIONS}


def soak(*, backend: str, seconds: float, rate: float | None, fraction: float,
         probe_seconds: float, pg_url: str, drain_seconds: float = 300.0,
         log: Any = print) -> dict[str, Any]:
    """One soak run; the report (see the module's docstring)."""
    report: dict[str, Any] = {"backend": backend, "seconds": seconds, "fraction": fraction,
                              "load_before": machine.load(), "started": time.strftime(
                                  "%Y-%m-%d %H:%M %Z")}
    with TemporaryDirectory(prefix="soak-") as tmp, \
            database(backend, Path(tmp), pg_url) as url:
        directory = Path(tmp)
        stopped = Stopped()
        with service(directory, "run", url, stopped) as server:
            args = _load_args(server.port, sign_up(server.port))
            if rate is None:
                log(f"probing the maximum rate for {probe_seconds:.0f} s")
                probe = run_child("bench.loadgen:child_load", {
                    **args, "requests": 10**9, "seconds": probe_seconds},
                    timeout=probe_seconds + 120)
                report["probe"] = {"rate": probe["rate"], "statuses": probe["statuses"],
                                   "p99_ms": probe["percentiles"][2] * 1000}
                rate = probe["rate"] * fraction
            report["rate"] = rate
            log(f"soaking at {rate:.0f} req/s for {seconds:.0f} s")
            with RssSampler(server.pid) as sampler:
                out = run_child("bench.loadgen:child_paced",
                                {**args, "rate": rate, "seconds": seconds,
                                 "window": min(60.0, seconds / 4)},
                                timeout=seconds + 180)
                log(f"load done: {out['statuses']}; waiting for the worker to drain")
                states, drained, backlog = wait_drained(url, out["ids"], drain_seconds)
                report["database_mib"] = database_mib(url)
            report["load_after"] = machine.load()
        report["exit_code"] = stopped.code
        errors, warnings = log_problems(directory / "service.log")
    warmup = min(60.0, seconds / 4)
    ids = out.pop("ids")
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    window = out["window_p99"]
    report |= {
        "load": out, "rss": sampler.samples, "rss_growth": rss_growth(sampler.samples, warmup),
        "warmup": warmup, "created": len(ids), "jobs_by_state": counts,
        "soak_not_completed": sum(states.get(i) != "completed" for i in ids),
        "drain_seconds": drained, "backlog": backlog, "error_lines": errors[:20],
        "error_count": len(errors), "warnings": warnings,
        "non_201": sum(n for status, n in out["statuses"].items() if status != "201"),
        "p99_ratio": window[-1] / window[0] if len(window) > 1 and window[0] else None,
    }
    report["checks"] = checks(report)
    return report


def checks(report: dict[str, Any]) -> dict[str, bool]:
    growth = report["rss_growth"].get("growth")
    ratio = report["p99_ratio"]
    return {
        "every 201 completed": report["soak_not_completed"] == 0
        and set(report["jobs_by_state"]) == {"completed"},
        "no non-201 answer": report["non_201"] == 0,
        "no ERROR log line": report["error_count"] == 0,
        "exit 0 on SIGTERM": report["exit_code"] == 0,
        f"RSS growth < {RSS_GROWTH_MAX:.0%}": growth is not None and growth < RSS_GROWTH_MAX,
        f"p99 last/first <= {P99_RATIO_MAX}x": ratio is not None and ratio <= P99_RATIO_MAX,
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate-fraction", type=float, default=0.8,
                        help="share of the probed maximum rate (default 0.8)")
    parser.add_argument("--rate", type=float, help="a fixed rate (req/s) instead of a probe")
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--pg-url", default=pg.DEFAULT_URL)
    parser.add_argument("--json", type=Path, help="write the whole report here")
    parser.add_argument("--no-write", action="store_true",
                        help="leave bench/RESULTS.md and the charts alone")
    parser.add_argument("--note", default="", help="a sentence for the section (conditions)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    report = soak(backend=args.backend, seconds=args.minutes * 60, rate=args.rate,
                  fraction=args.rate_fraction, probe_seconds=args.probe_seconds,
                  pg_url=args.pg_url, log=log)
    shown = ["--backend", args.backend, "--minutes", f"{args.minutes:g}"]
    shown += ["--rate", f"{args.rate:g}"] if args.rate else [
        "--rate-fraction", f"{args.rate_fraction:g}"]
    report["command"] = shlex.join([".venv/bin/python", "-m", "bench.soak", *shown])
    report["note"] = args.note
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if not args.no_write:
        soak_report.write(HERE, report)
    for name, ok in report["checks"].items():
        log(f"{'PASS' if ok else 'FAIL'}: {name}")
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
