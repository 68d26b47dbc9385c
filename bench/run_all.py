"""Run every benchmark scenario and write ``RESULTS.md`` plus PNG charts.

    .venv/bin/pip install -e '.[bench]'      # Huey, Procrastinate, matplotlib, psutil, py-spy
    .venv/bin/python -m bench.run_all         # full suite, 3 runs: ~25 min on 2 cores
    .venv/bin/python -m bench.run_all --quick # tiny N, 1 run: well under a minute

Each scenario family (one module each) measures one repetition per call; the families are
interleaved run by run, so drift on a shared machine spreads over all of them. PostgreSQL
scenarios run when ``--pg-url`` (default: the test server) answers; peers run when installed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from . import machine, pg, report
from .common import Context, Results
from .peers import installed

if TYPE_CHECKING:
    from types import ModuleType

HERE = Path(__file__).resolve().parent
FAMILIES = ("reference", "pushes", "burn", "limits", "latency", "cancel_latency", "claims",
            "memory", "http_api", "http_limits", "stalls", "stall_ops")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="N=500, 1 run, small tables, fewer variants: a smoke run")
    parser.add_argument("--runs", type=int, help="repetitions of every scenario (default 3)")
    parser.add_argument("--jobs", type=int, help="N, no-op jobs per scenario (default 20000)")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where RESULTS.md and the charts go (default: bench/)")
    parser.add_argument("--pg-url", default=pg.DEFAULT_URL,
                        help="PostgreSQL server for its scenarios (default: %(default)s)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL scenarios")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip Huey and Procrastinate even if installed")
    parser.add_argument("--only", default=",".join(FAMILIES),
                        help="comma-separated families to run (default: all)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the diagnostics after the runs: schema cost and py-spy"
                        " profiles (never run with --quick)")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _run_family(module: ModuleType, ctx: Context, results: Results) -> None:
    name = module.__name__.removeprefix("bench.")
    started = time.monotonic()
    try:
        module.run(ctx, results)
    except Exception as exc:  # one broken family must not lose the others' results
        traceback.print_exc()
        results.skip(name, f"failed: {type(exc).__name__}: {exc}")
    when = (f"run {ctx.run_index + 1}/{ctx.runs}" if ctx.run_index < ctx.runs
            else "diagnostics")
    _log(f"{when}: {name} took {time.monotonic() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runs = args.runs or (1 if args.quick else 3)
    jobs = args.jobs or (500 if args.quick else 20_000)
    pg_url: str | None = None
    results = Results()
    if not args.no_postgres:
        reason = pg.unreachable(args.pg_url)
        if reason is None:
            pg_url = args.pg_url
        else:
            results.skip("postgresql", reason)
    peers = set() if args.no_peers else installed()
    families = [importlib.import_module(f"bench.{name}") for name in args.only.split(",")]
    command = " ".join([".venv/bin/python -m bench.run_all", *map(shlex.quote, sys.argv[1:])])
    load_before = machine.load()
    engine = machine.engine_version(HERE.parent)
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = Context(jobs=jobs, runs=runs, quick=args.quick, workdir=Path(tmp), pg_url=pg_url,
                      peers=peers, log=_log)
        for run in range(runs):
            ctx.run_index = run
            for module in families:
                _run_family(module, ctx, results)
        if not args.quick and not args.no_profile:
            ctx.run_index = runs
            for name in ("schema_cost", "profile"):
                _run_family(importlib.import_module(f"bench.{name}"), ctx, results)
        charts = _charts(results, args.out, ctx)
    minutes = (time.monotonic() - started) / 60
    context = {
        "Run": f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {runs} run(s), N = {jobs:,}, "
               f"took {minutes:.1f} min",
        "Load average (1/5/15 min)": f"before {load_before}; after {machine.load()}",
        "Engine (git)": engine if _same_engine(engine, now := machine.engine_version(HERE.parent))
                        else f"at the start {engine}; at the end {now}",
        "Peers": ", ".join(sorted(peers)) or "none",
    }
    report.write(args.out / "RESULTS.md", results, command=command,
                 machine=machine.describe(pg_url), sizes=ctx.sizes, context=context,
                 charts=charts, runs=runs)
    _log(f"wrote {args.out / 'RESULTS.md'} and {len(charts)} chart(s) in {minutes:.1f} min")
    return 0


def _same_engine(before: str, after: str) -> bool:
    """Same engine code: the same ``service/`` tree and uncommitted diff, whatever the commit."""
    return before.split(" (commit ")[0] == after.split(" (commit ")[0] and (
        before.partition(" + ")[2] == after.partition(" + ")[2])


def _charts(results: Results, out: Path, ctx: Context) -> list[str]:
    if importlib.util.find_spec("matplotlib") is None:
        results.skip("charts", "matplotlib is not installed (pip install -e '.[bench]')")
        return []
    from . import charts

    return charts.write(results, out, ctx.sizes)


if __name__ == "__main__":
    sys.exit(main())
