"""The soak's quick variant: ``python -m service`` (HTTP API and worker in one process) takes a
steady stream of ``POST /api/jobs`` for 60 s while its worker drains, and loses nothing.

It runs ``python -m bench.soak`` (see its docstring) at a modest fixed rate on SQLite, so the
load does not depend on this machine's speed, and checks what a user would notice: every job
answered ``201`` ends ``completed`` in the database, no other answer, no ERROR log line, a clean
exit on SIGTERM, and memory that does not keep growing (loosely: < 50% after the warm-up, so a
busy machine cannot make it flaky). The latency ratio the benchmark reports is not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
SECONDS = 60
RATE = 40  # requests/s: well below what the service sustains on a loaded 2-core machine

pytestmark = pytest.mark.slow


def test_a_minute_of_steady_pushes_completes_every_job_without_errors_or_growth(
    tmp_path: Path,
) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--backend", "sqlite", "--minutes",
         str(SECONDS / 60), "--rate", str(RATE), "--no-write", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 240, check=False)
    assert out.exists(), done.stderr[-4000:]
    report = json.loads(out.read_text())

    assert report["created"] >= SECONDS * RATE * 0.99, report["load"]["statuses"]
    assert report["non_201"] == 0, report["load"]["statuses"]
    assert report["soak_not_completed"] == 0, report["jobs_by_state"]
    assert set(report["jobs_by_state"]) == {"completed"}, report["jobs_by_state"]
    assert report["error_count"] == 0, report["error_lines"]
    assert report["exit_code"] == 0
    growth = report["rss_growth"]
    assert growth["growth"] < 0.5, growth
