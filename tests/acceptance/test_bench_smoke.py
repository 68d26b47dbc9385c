"""The benchmark suite keeps working: its quick mode runs our own scenarios end to end.

Benchmarks are not tests (issue 5), so this checks only that ``python -m bench.run_all --quick``
runs every scenario family of the engine without a failure and writes ``RESULTS.md``. It passes
``--no-peers``: Huey and Procrastinate are never imported, and without the ``bench`` extra
(which CI does not install) charts are skipped and memory is read from ``/proc`` instead of
psutil, so nothing beyond the runtime and test dependencies is needed.

The run is read back from RESULTS.md's "Skipped or failed" list, entry by entry: only the
reasons below are acceptable (a peer not run, a tool not installed); anything else -- a family
that failed, or the HTTP scenario's check that every ``201`` answer left a stored job -- fails
the test. PostgreSQL scenarios run when the test server answers
(``SERVICE_TEST_DATABASE_URL``); otherwise the benchmark runs with ``--no-postgres`` and only
:func:`test_quick_benchmark_runs_the_postgresql_scenarios` is skipped -- or fails under
``CI=true`` (see ``tests/postgres/support.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from support.postgres import URL, require_postgres, unreachable_reason
from support.postgres_turns import postgres_turn

ROOT = Path(__file__).parent.parent.parent

OUR_SECTIONS = (
    "## Targets (issue 5)",
    "| ours, SQLite | push, 1 task",
    "| ours, SQLite | push_many, 1,000 per call",
    "| ours, SQLite | SQLite worker, concurrency 10",
    "| SQLite, same process |",
    "| SQLite, across processes |",
    "| SQLite, across processes (10 cancels) |",
    "| 1,000 | ",
    "drain 100 due jobs",
    "| ours (TaskWorker, 10 slots), idle |",
    "| POST /api/jobs, 16 connections, python load generator |",
    "| SQLite, push_many of 10,000 | ",
    "| single push, per-class check (push now) | ",
    "| ours, SQLite | SQLite worker, concurrency 10, global_concurrency=10",
    "| ours, SQLite | SQLite worker, concurrency 10, 100 keys, per_key=1",
    "| SQLite, job_list of 20,000 rows |",
    "| SQLite, retention pruner deleting 20,000 |",
)
POSTGRES_SECTIONS = (
    "| ours, PostgreSQL | push, 1 task",
    "| ours, PostgreSQL | push_many, 1,000 per call",
    "| ours, PostgreSQL | PostgreSQL worker, concurrency 10",
    "| PostgreSQL, same process |",
    "| PostgreSQL, across processes |",
    "| PostgreSQL, across processes (10 cancels) |",
    "| ours, PostgreSQL | PostgreSQL worker, concurrency 10, global_concurrency=10",
    "| ours, PostgreSQL | PostgreSQL worker, concurrency 10, 100 keys, per_key=1",
    "| PostgreSQL, job_list of 20,000 rows |",
)
PEERS = ("huey", "procrastinate")
#: Entries of "Skipped or failed" that are fine in this run: key pattern -> reason pattern.
ACCEPTABLE = {
    rf"({'|'.join(PEERS)})\.\w+|(latency|rss)\.({'|'.join(PEERS)})": r"not run \(--no-peers",
    r"http\.wrk": r"^wrk is not installed",
    r"charts": r"^matplotlib is not installed",
}


@attrs.frozen
class QuickRun:
    returncode: int
    stderr: str
    text: str  # RESULTS.md
    skipped: dict[str, str]  # "Skipped or failed": key -> reason
    postgres: bool  # whether the PostgreSQL scenarios were run


def skipped_entries(text: str) -> dict[str, str]:
    section = text.partition("## Skipped or failed")[2].partition("\n## ")[0]
    return dict(re.findall(r"^- `([^`]+)`: (.*)$", section, re.MULTILINE))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    out = tmp_path_factory.mktemp("bench")
    postgres = unreachable_reason() is None
    command = [sys.executable, "-m", "bench.run_all", "--quick", "--no-peers", "--out", str(out),
               "--pg-url", URL, *([] if postgres else ["--no-postgres"])]
    with postgres_turn():
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                timeout=600, check=False)
    results = out / "RESULTS.md"
    text = results.read_text() if results.exists() else ""
    return QuickRun(result.returncode, result.stderr, text, skipped_entries(text), postgres)


def test_quick_benchmark_runs_our_scenarios(quick_run: QuickRun) -> None:
    assert quick_run.returncode == 0, quick_run.stderr[-4000:]
    text = quick_run.text
    for section in OUR_SECTIONS:
        assert section in text, f"{section!r} missing from RESULTS.md:\n{text[:3000]}"
    skipped = text.partition("## Skipped or failed")[2].partition("\n## ")[0]
    assert "failed" not in skipped, skipped


def test_every_created_job_of_the_http_scenario_was_stored(quick_run: QuickRun) -> None:
    assert "http" not in quick_run.skipped, quick_run.skipped["http"]
    lost = quick_run.skipped.get("http.check")
    assert lost is None, f"the HTTP scenario lost jobs: {lost}"


def test_nothing_else_was_skipped_or_failed(quick_run: QuickRun) -> None:
    unexpected = {
        key: why for key, why in quick_run.skipped.items()
        if not any(re.fullmatch(k, key) and re.search(w, why) for k, w in ACCEPTABLE.items())
    }
    assert unexpected == {}, f"unexpected entries in 'Skipped or failed': {unexpected}"


def test_quick_benchmark_runs_the_postgresql_scenarios(quick_run: QuickRun) -> None:
    require_postgres()  # skipped when the server is away, failed under CI=true
    assert quick_run.postgres, "the server answered only after the benchmark had started"
    for section in POSTGRES_SECTIONS:
        assert section in quick_run.text, f"{section!r} missing from RESULTS.md"


def test_tree_ab_compares_two_service_trees_scenario_by_scenario(tmp_path: Path) -> None:
    # The before/after driver, run on this tree against itself: one row per scenario with its
    # two medians and a ratio, nothing skipped.
    out = tmp_path / "ab.md"
    command = [sys.executable, "-m", "bench.tree_ab", str(ROOT), "--quick", "--runs", "1",
               "--jobs", "200", "--only", "pushes", "--no-postgres", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| push")]
    assert rows, out.read_text()
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert re.fullmatch(r"\d+\.\d\d", cells[4]), row  # after/before of two real medians
    assert "skipped" not in out.read_text()
