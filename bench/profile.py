"""Where the engine's time goes: py-spy profiles of the scenarios behind the targets.

After the measured runs (so profiling never slows a measurement), the same child processes run
once more under ``py-spy record --threads --rate 400 --nonblocking`` (CPU samples only: idle
threads are not sampled). Per profile: the share of samples per thread (the trio thread, the
engine's DB thread, others), the functions most often on top of the stack (self time; time in
C, such as SQLite, counts for the Python function that called it), and the engine functions
most often anywhere on the stack (inclusive time).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from . import claims, http_api, tables
from .ours import prefill
from .proc import Child, ChildFailed
from .report import table

if TYPE_CHECKING:
    from .common import Context, Results

FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
TOP = 12
RATE = 400


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _function(frame: str) -> str:
    match = FRAME.match(frame)
    if match is None:
        return frame
    where = match["file"].removeprefix("/work/main/")
    where = re.sub(r".*site-packages/", "", where)
    return f"{match['name']} ({where})"


#: Leaf functions that mean "this thread is waiting" (for epoll, or for the next DB call):
#: py-spy samples them as active when the wait is short; they are shown apart from work.
WAITS = ("EpollIOManager.get_events", "EpollIOManager._epoll_wait", "ThreadRunner._loop",
         "wait_task_rescheduled", "SimpleQueue.get")
THREAD = re.compile(r"^thread \((?P<id>\w+)\)(?:: (?P<name>.*))?$")


def _roles(lines: list[tuple[list[str], int]]) -> dict[str, str]:
    """Thread id -> role, from the thread names py-spy reports on some of the samples."""
    names: dict[str, str] = {}
    for frames, _ in lines:
        match = THREAD.match(frames[0])
        if match and match["name"]:
            names[match["id"]] = match["name"]
    roles = {}
    for tid, name in names.items():
        if name == "MainThread":
            roles[tid] = "trio (main) thread"
        elif name.startswith("service-db"):
            roles[tid] = "engine DB thread"
        else:
            roles[tid] = f"other threads ({name.split('-')[0].split(' ')[0]}...)"
    return roles


def _package(function: str) -> str:
    """``trio``, ``quart``, ``service.jobs``... from a function's ``name (file)``."""
    where = function.rpartition("(")[2].rstrip(")")
    parts = where.split("/")
    if parts[0] == "service" and len(parts) > 2:
        return f"service.{parts[1]}"
    if where.startswith("<frozen") or len(parts) == 1:
        return "python (stdlib)"
    return parts[0] if parts[0] not in ("json", "logging", "asyncio") else "python (stdlib)"


def summarize(raw: str) -> tuple[int, Counter[str], Counter[str], Counter[str], Counter[str]]:
    """(samples, by thread role, self counts, inclusive counts of engine functions, self
    counts by package).

    Samples taken while the process was still importing are counted under "startup" only.
    """
    lines = []
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if stack_text and count_text.isdigit():
            lines.append((stack_text.split(";"), int(count_text)))
    roles_by_id = _roles(lines)
    total = 0
    roles: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in lines:
        total += count
        match = THREAD.match(frames[0])
        role = roles_by_id.get(match["id"] if match else "", "other threads")
        functions = [_function(f) for f in frames[1:]]
        if any("_find_and_load" in f for f in functions):
            roles["startup: importing modules"] += count
            continue
        roles[role] += count
        if not functions:
            continue
        leaf = functions[-1]
        waiting = leaf.startswith(WAITS)
        own[f"waiting: {leaf}" if waiting else leaf] += count
        packages["waiting (the `waiting:` rows below)" if waiting else _package(leaf)] += count
        for name in set(functions):
            if "(service/" in name:
                inclusive[name] += count
    return total, roles, own, inclusive, packages


def render(title: str, raw: str) -> list[str]:
    total, roles, own, inclusive, packages = summarize(raw)
    if not total:
        return [f"### {title}", "", "no samples", ""]

    def share(counter: Counter[str]) -> list[list[str]]:
        return [[f"`{name}`", f"{100 * n / total:.1f}%"] for name, n in counter.most_common(TOP)]

    return [f"### {title}", "", f"{total:,} samples (CPU only: py-spy leaves idle threads out;"
            " `waiting:` marks short waits it still caught).", "",
            *table(["thread", "share of samples"], share(roles)),
            *table(["self time by package", "share"], share(packages)),
            *table(["self time: function (file)", "share"], share(own)),
            *table(["inclusive: engine function (file)", "share"], share(inclusive))]


def _cases(ctx: Context) -> list[tuple[str, str, dict[str, Any], int | None]]:
    """(title, child target, args, jobs to prefill) for each profile."""
    def sqlite(name: str) -> dict[str, Any]:
        return {"backend": "sqlite", "path": str(ctx.scratch(f"profile-{name}.db"))}

    big = ctx.sizes[-1]
    pending = tables.copy(tables.cached(ctx.workdir, f"pending-{big}", due=big),
                          ctx.scratch("profile-pending.db"))
    due = max(100, min(claims.SCHEDULED_DUE, big // 100))
    scheduled = tables.copy(
        tables.cached(ctx.workdir, f"scheduled-{big}", due=due, scheduled=big - due),
        ctx.scratch("profile-scheduled.db"))

    cases: list[tuple[str, str, dict[str, Any], int | None]] = [
        ("SQLite burn-down, concurrency 10", "bench.burn:child_ours",
         {"spec": sqlite("burn"), "jobs": 2 * ctx.jobs, "concurrency": 10}, 2 * ctx.jobs),
        ("SQLite burn-down, concurrency 100", "bench.burn:child_ours",
         {"spec": sqlite("burn100"), "jobs": 3 * ctx.jobs, "concurrency": 100}, 3 * ctx.jobs),
        ("SQLite push, 1 task", "bench.pushes:child_ours",
         {"spec": sqlite("push"), "mode": "one", "jobs": ctx.jobs}, None),
        ("SQLite push_many, 1,000 per call", "bench.pushes:child_ours",
         {"spec": sqlite("many"), "mode": "many", "jobs": ctx.jobs * 5}, None),
        (f"SQLite worker, concurrency 10, {big:,} jobs pending (runs {ctx.jobs:,} of them)",
         "bench.burn:child_ours",
         {"spec": {"backend": "sqlite", "path": str(pending)}, "jobs": ctx.jobs,
          "concurrency": 10, "drains_all": False}, None),
        (f"SQLite drain of {due:,} due jobs spread among {big - due:,} scheduled, concurrency 10",
         "bench.burn:child_ours",
         {"spec": {"backend": "sqlite", "path": str(scheduled)}, "jobs": due,
          "concurrency": 10, "drains_all": False}, None),
    ]
    return cases


def _spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy attached to a running process for ``seconds``."""
    return subprocess.Popen(
        [str(py_spy()), "record", "--pid", str(pid), "--duration", str(round(seconds)),
         "--format", "raw", "--threads", "--rate", str(RATE), "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _http(ctx: Context) -> list[str]:
    """The web process (``python -m service web``) while 16 connections POST jobs."""
    directory = ctx.scratch("profile-http")
    directory.mkdir()
    out = ctx.scratch("profile-http.txt")
    with http_api.service(directory) as server:
        spy = _spy(server.pid, 5, out)
        http_api.load(server.port, 16, 10**6, 5.5)
        spy.wait(timeout=60)
    return render("python -m service web, POST /api/jobs from 16 connections", out.read_text())


def run(ctx: Context, results: Results) -> None:
    if py_spy() is None:
        results.skip("profiles", "py-spy is not installed (pip install -e '.[bench]')")
        return
    lines: list[str] = []
    for title, target, args, fill in _cases(ctx):
        if fill:
            trio.run(prefill, args["spec"], fill)
        out = ctx.scratch("profile.txt")
        try:
            with Child(target, args, profile_to=out) as child:
                child.result()
        except ChildFailed as exc:
            results.skip(f"profile {title}", f"failed: {exc}")
            continue
        lines += render(title, out.read_text())
    try:
        lines += _http(ctx)
    except (ChildFailed, OSError, subprocess.SubprocessError) as exc:
        results.skip("profile http", f"failed: {exc}")
    results.notes["profiles"] = "\n".join(lines)
