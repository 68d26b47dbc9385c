"""The engine's main throughputs before and after a change: an older ``service/`` tree and this one.

    git worktree add --detach /tmp/before 45d3fa6      # or: git archive ... | tar -x
    .venv/bin/python -m bench.engine_before_after /tmp/before --rounds 5
    .venv/bin/python -m bench.engine_before_after /tmp/before --database-url postgresql://...

Each round runs :mod:`bench.burn_down` (push one at a time, ``push_many`` of 500 a call,
burn-down with a real TaskWorker) once per tree and concurrency, the trees alternating, in a
fresh process whose ``service`` package is the tree's (this checkout's ``bench`` drives both,
so both are measured the same way). A shared machine's speed drifts by tens of percent from
one run to the next: the best of the rounds (the run least disturbed) and the median are both
printed, with the after/before ratio of each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .tree_ab import _tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METRICS = {"push (1 per call)": "push_one", "burn-down": "burn_down",
           "push_many (500/call)": "push_many"}
LINE = re.compile(r"^(push \(1 per call\)|burn-down|push_many \(500/call\))\s+([\d,]+)")


def _run(cwd: Path, jobs: int, concurrency: int, url: str | None) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.burn_down", "--jobs", str(jobs),
               "--concurrency", str(concurrency)]
    if url:
        command += ["--database-url", url]
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                         check=True, timeout=1800).stdout
    found = {}
    for line in out.splitlines():
        match = LINE.match(line)
        if match:
            found[METRICS[match.group(1)]] = float(match.group(2).replace(",", ""))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="a directory holding the older service/ tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", default="10,100")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": _tree(Path(tmp) / "before", args.before / "service"),
                 "after": _tree(Path(tmp) / "after", ROOT / "service")}
        for _ in range(args.rounds):
            for concurrency in concurrencies:
                for name, cwd in trees.items():
                    found = _run(cwd, args.jobs, concurrency, args.database_url)
                    for metric, value in found.items():
                        if metric == "burn_down" or concurrency == concurrencies[0]:
                            key = (f"{metric} c{concurrency}" if metric == "burn_down"
                                   else metric)
                            samples.setdefault(f"{name} {key}", []).append(value)
    keys = sorted({key.split(" ", 1)[1] for key in samples})
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{backend}, {args.jobs} jobs, {args.rounds} rounds, jobs/s")
    print(f"{'metric':<18}{'before best':>12}{'after best':>12}{'ratio':>7}"
          f"{'before med':>12}{'after med':>12}{'ratio':>7}")
    for key in keys:
        before, after = samples[f"before {key}"], samples[f"after {key}"]
        b_best, a_best = max(before), max(after)
        b_med, a_med = statistics.median(before), statistics.median(after)
        print(f"{key:<18}{b_best:>12,.0f}{a_best:>12,.0f}{a_best / b_best:>7.2f}"
              f"{b_med:>12,.0f}{a_med:>12,.0f}{a_med / b_med:>7.2f}")
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
