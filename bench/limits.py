"""Issue 13: what flow control costs a burn-down when its limit does not bind.

N pre-inserted no-op jobs drained by one worker process with 10 slots (default
``WorkerConfig``), on SQLite and PostgreSQL, in three forms of the same task:

- ``none``: no limits (the plain claim, as in scenario 3);
- ``global``: ``global_concurrency=10``, equal to the worker's slots: every claim counts the
  running jobs inside its statement (and, on PostgreSQL, takes turns on the queue row's lock),
  but the limit never holds a job back;
- ``keys``: each job pushed with one of 100 concurrency keys, ``per_key=1``: claims take the
  keys round-robin (one index seek per key) under a per-key count.

The target (issue 13): ``global`` costs at most 10% of ``none``'s throughput.

Run on its own (``run_all`` runs it with the other families), printing its section of
``RESULTS.md`` or putting it in place of the one there::

    .venv/bin/python -m bench.limits --runs 3 [--jobs 20000] [--no-sqlite | --no-postgres]
        [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from service.jobs import JobState, Push

from . import machine, pg, report, stores
from .common import Context, Results, rate
from .ours import NoOp, TrioTally, opened, task_class, work_until_done
from .proc import measure

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.jobs import Task

TIMEOUT = 600.0
CONCURRENCY = 10
KEYS = 100
FORMS = {
    "none": "no limits",
    "global": f"global_concurrency={CONCURRENCY}",
    "keys": f"{KEYS} keys, per_key=1",
}


def limited_class(form: str) -> type[Task]:
    cls = task_class("noop", CONCURRENCY)
    options = attrs.evolve(cls.options, global_concurrency=None, per_key=None)
    if form == "global":
        options = attrs.evolve(options, global_concurrency=CONCURRENCY)
    elif form == "keys":
        options = attrs.evolve(options, per_key=1)
    cls.options = options  # type: ignore[misc]
    return cls


async def prefill(spec: dict[str, Any], jobs: int, keyed: bool) -> None:
    async with opened(spec) as store:
        for first in range(0, jobs, 1000):
            await store.push_many(
                Push(task=NoOp(n=n), concurrency_key=f"k{n % KEYS}" if keyed else None)
                for n in range(first, min(jobs, first + 1000)))


def child(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Drain ``jobs`` pre-inserted jobs with the task in ``form``; jobs/s."""
    jobs = args["jobs"]
    cls = limited_class(args["form"])

    async def main() -> float:
        async with opened(args["spec"]) as store:
            seconds = await work_until_done(store, cls, TrioTally(jobs), TIMEOUT)
            counts = await store.job_count_by_state()
            assert counts.get((cls.options.name, JobState.COMPLETED)) == jobs, counts
        return seconds

    return {"rate": rate(jobs, trio.run(main))}


def run(ctx: Context, results: Results, names: tuple[str, ...] = ("sqlite", "pg")) -> None:
    for variant, spec in stores.variants(ctx, names).items():
        for form, label in FORMS.items():
            with spec() as store:
                trio.run(prefill, store, ctx.jobs, form == "keys")
                if store["backend"] == "postgresql":
                    pg.analyze(store["url"], "jobs", store["schema"])
                measure(results, f"limits.{variant}.{form}",
                        f"{stores.LABELS[variant]} worker, concurrency {CONCURRENCY},"
                        f" {label} ({ctx.jobs:,})", "jobs/s", "bench.limits:child",
                        {"spec": store, "jobs": ctx.jobs, "form": form})


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--jobs", type=int, default=20_000, help="N (default 20000)")
    parser.add_argument("--pg-url", default=pg.DEFAULT_URL,
                        help="PostgreSQL server (default: %(default)s)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--write", type=Path, metavar="RESULTS.md",
                        help="replace the flow-control section of this file (else: print it)")
    return parser.parse_args(argv)


def section(results: Results, *, command: str, context: str) -> list[str]:
    """The flow-control section of RESULTS.md, as written by a run of this module alone."""
    lines = report.limits_section(results)
    return [lines[0], "", f"Measured by `{command}` alone: {context}.", *lines[1:]]


def replace_section(path: Path, lines: list[str]) -> None:
    """Put ``lines`` in place of the file's flow-control section (or before the method)."""
    text = path.read_text().split("\n")
    start = next((i for i, line in enumerate(text) if line.startswith(report.LIMITS_TITLE)),
                 None)
    if start is None:  # where run_all puts it: after the burn-down, before the latencies
        start = end = next(i for i, line in enumerate(text)
                           if line.startswith(("## 4. ", "## How each scenario")))
    else:
        end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")),
                   len(text))
    path.write_text("\n".join(text[:start] + lines + text[end:]))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    pg_url = None if args.no_postgres or pg.unreachable(args.pg_url) else args.pg_url
    results = Results()
    load_before = machine.load()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        ctx = Context(jobs=args.jobs, runs=args.runs, quick=False, workdir=Path(tmp),
                      pg_url=pg_url)
        for run_index in range(args.runs):
            ctx.run_index = run_index
            run(ctx, results, ("pg",) if args.no_sqlite else ("sqlite", "pg"))
    for metric in results.metrics.values():
        metric.runs = args.runs
    command = " ".join([".venv/bin/python -m bench.limits", *(argv or sys.argv[1:])])
    context = (f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {args.runs} run(s) interleaved, took"
               f" {(time.monotonic() - started) / 60:.1f} min, on a shared, loaded machine"
               f" (load average before {load_before}, after {machine.load()})")
    lines = section(results, command=command, context=context)
    if args.write is None:
        print("\n".join(lines))
    else:
        replace_section(args.write, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
