"""The benchmark suite keeps working: its quick mode runs our own scenarios end to end.

Benchmarks are not tests (issue 5), so this checks only that ``python -m bench.run_all --quick``
runs every scenario family of the engine without a failure and writes ``RESULTS.md``. It passes
``--no-peers``: Huey and Procrastinate are never imported, and without the ``bench`` extra
(which CI does not install) charts are skipped and memory is read from ``/proc`` instead of
psutil, so nothing beyond the runtime and test dependencies is needed. PostgreSQL scenarios run
when the test server answers, and are reported as skipped otherwise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent

OUR_SECTIONS = (
    "## Targets (issue 5)",
    "| ours, SQLite | push, 1 task",
    "| ours, SQLite | push_many, 1,000 per call",
    "| ours, SQLite | SQLite worker, concurrency 10",
    "| SQLite, same process |",
    "| SQLite, across processes |",
    "| 1,000 | ",
    "drain 100 due jobs",
    "| ours (TaskWorker, 10 slots), idle |",
    "| POST /api/jobs, 16 connections, python load generator |",
    "| SQLite, push_many of 10,000 | ",
    "| single push, per-class check (push now) | ",
)


def test_quick_benchmark_runs_our_scenarios(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--no-peers", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    text = (tmp_path / "RESULTS.md").read_text()
    for section in OUR_SECTIONS:
        assert section in text, f"{section!r} missing from RESULTS.md:\n{text[:3000]}"
    skipped = text.partition("## Skipped or failed")[2].partition("\n## ")[0]
    assert "failed" not in skipped, skipped
