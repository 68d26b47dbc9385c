"""Every scenario of ``bench.run_all`` before and after a change: an older ``service/`` tree
and this one.

    git worktree add --detach /tmp/before 45d3fa6
    .venv/bin/python -m bench.tree_ab /tmp/before --runs 3
    .venv/bin/python -m bench.tree_ab /tmp/before --only burn,pushes --runs 5

Each run measures every family once per tree, the trees alternating family by family (and
which tree goes first alternating run by run), so a machine's drift falls on both alike. Each
measurement is a fresh process whose ``service`` package is the tree's while this checkout's
``bench`` drives both: both are measured the same way. A scenario the older tree cannot run
(it lacks the feature) is listed as such. Peers are left out: they do not change with the tree.
The table gives each metric's medians and after/before, the ratio turned so that below 1.00 is
worse; rows worse by more than ``--threshold`` are marked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import number
from .run_all import FAMILIES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _tree(directory: Path, service: Path) -> Path:
    """A directory whose ``service`` is ``service`` and whose ``bench`` is a copy of this one.

    A copy, not a link: the scenarios start their children with the working directory at the
    root above their own (resolved) file, and ``python -m`` puts that directory first on the
    path -- through a link, every child would import this checkout's ``service``.
    """
    directory.mkdir()
    (directory / "service").symlink_to(service.resolve())
    shutil.copytree(HERE, directory / "bench", ignore=shutil.ignore_patterns("__pycache__",
                                                                             "*.png"))
    return directory


def child(family: str, jobs: int, pg_url: str | None, out: Path, quick: bool = False) -> None:
    """Run one family once in this process's ``service`` tree; its metrics as JSON in ``out``."""
    import importlib

    from .common import Context, Results

    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        ctx = Context(jobs=jobs, runs=1, quick=quick, workdir=Path(tmp), pg_url=pg_url,
                      peers=set(), log=lambda message: print(message, file=sys.stderr))
        try:
            importlib.import_module(f"bench.{family}").run(ctx, results)
        except Exception as exc:  # the older tree may lack what a scenario needs
            results.skip(family, f"failed: {type(exc).__name__}: {exc}")
    out.write_text(json.dumps({
        "metrics": {key: {"label": m.label, "unit": m.unit, "values": m.values,
                          "higher_is_better": m.higher_is_better}
                    for key, m in results.metrics.items()},
        "skipped": results.skipped}))


def _measure(cwd: Path, family: str, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, "-m", "bench.tree_ab", "--child", family, "--jobs",
                   str(args.jobs), "--out-json", out.name]
        if args.pg_url:
            command += ["--pg-url", args.pg_url]
        if args.quick:
            command.append("--quick")
        env = {**os.environ, "PYTHONPATH": str(cwd)}
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=3600)
        if done.returncode:
            return {"metrics": {}, "skipped": {family: done.stderr.strip()[-300:]}}
        return json.loads(Path(out.name).read_text())


def _table(samples: dict, labels: dict, threshold: float) -> list[str]:
    lines = ["| scenario | unit | before (median) | after (median) | after/before | |",
             "|---|---|---|---|---|---|"]
    for key, (label, unit, higher) in labels.items():
        before, after = samples["before"].get(key), samples["after"].get(key)
        if not before or not after:
            missing = "before" if not before else "after"
            lines.append(f"| {label} | {unit} | {_fmt(before, unit)} | {_fmt(after, unit)} | "
                         f"n/a ({missing} has no value) | |")
            continue
        b, a = statistics.median(before), statistics.median(after)
        ratio = (a / b if higher else b / a) if a and b else float("nan")
        mark = "**worse**" if ratio < 1 - threshold else ""
        lines.append(f"| {label} | {unit} | {_fmt(before, unit)} | {_fmt(after, unit)} |"
                     f" {ratio:.2f} | {mark} |")
    return lines


def _fmt(values: list[float] | None, unit: str) -> str:
    """The median, and the range when there are several values, as RESULTS.md writes them."""
    if not values:
        return "-"
    median = number(statistics.median(values), unit)
    spread = (f" [{number(min(values), unit)}-{number(max(values), unit)}]" if len(values) > 1
              else "")
    return f"{median}{spread}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tree_ab",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, nargs="?",
                        help="a directory holding the older service/ tree")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--only", default=",".join(FAMILIES))
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true",
                        help="the families' small sizes and fewer variants (a smoke run)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.no_postgres:
        args.pg_url = None
    if args.child:
        child(args.child, args.jobs, args.pg_url, args.out_json, args.quick)
        return 0
    if args.before is None:
        parser.error("the older tree's directory is required")
    families = args.only.split(",")
    samples: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    labels: dict[str, tuple[str, str, bool]] = {}
    skipped: dict[str, dict[str, str]] = {"before": {}, "after": {}}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": _tree(Path(tmp) / "before", args.before / "service"),
                 "after": _tree(Path(tmp) / "after", ROOT / "service")}
        for run in range(args.runs):
            for number, family in enumerate(families):
                order = ["before", "after"] if (run + number) % 2 == 0 else ["after", "before"]
                for name in order:
                    found = _measure(trees[name], family, args)
                    for key, metric in found["metrics"].items():
                        labels.setdefault(key, (metric["label"], metric["unit"],
                                                metric["higher_is_better"]))
                        samples[name].setdefault(key, []).extend(metric["values"])
                    skipped[name].update({
                        scenario: reason for scenario, reason in found["skipped"].items()
                        if "--no-peers" not in reason})
                print(f"[{time.strftime('%H:%M:%S')}] run {run + 1}/{args.runs}: {family}",
                      file=sys.stderr, flush=True)
    lines = _table(samples, labels, args.threshold)
    for name, reasons in skipped.items():
        lines += [f"- {name} skipped {scenario}: {reason.splitlines()[-1] if reason else ''}"
                  for scenario, reason in reasons.items()]
    lines.append(f"\n{args.runs} run(s), N = {args.jobs:,}, took "
                 f"{(time.monotonic() - started) / 60:.1f} min")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
