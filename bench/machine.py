"""What the suite ran on: hardware, versions, and how busy the machine was."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path

from . import pg

PACKAGES = ("trio", "hypercorn", "quart-trio", "psycopg", "huey", "procrastinate", "matplotlib",
            "psutil")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def engine_version(root: Path) -> str:
    """The commit the suite ran on, with the id of its ``service/`` tree (so two commits that
    differ only outside the engine compare equal), and any uncommitted engine changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    tree = git("rev-parse", "--short", "HEAD:service") or "?"
    text = f"service/ tree {tree} (commit {commit})"
    dirty = git("diff", "HEAD", "--", "service")
    if dirty:
        digest = hashlib.sha1(dirty.encode()).hexdigest()[:8]
        files = len(git("diff", "HEAD", "--name-only", "--", "service").splitlines())
        text += f" + uncommitted changes to {files} file(s) (diff {digest})"
    return text


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def describe(pg_url: str | None) -> list[tuple[str, str]]:
    memory = _memory_gib()
    rows = [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores"),
        ("RAM", f"{memory:.1f} GiB" if memory else "unknown"),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", sys.version.split()[0]),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", pg.describe(pg_url) if pg_url else "not reachable: scenarios skipped"),
    ]
    versions = [f"{name} {v}" for name in PACKAGES if (v := _version(name))]
    rows.append(("Packages", ", ".join(versions)))
    return rows
