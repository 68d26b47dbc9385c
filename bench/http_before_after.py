"""Scenario 7 before and after a change: an older ``service/`` tree, this one and the bare app.

    git archive <commit> service | tar -x -C /tmp/before
    .venv/bin/python -m bench.http_before_after /tmp/before --rounds 3 --seconds 5

Each round starts each server afresh and loads it at 1 and then 16 connections with the same
generator (:func:`bench.http_api.load`), the three interleaved so a shared machine's drift
spreads over all of them. Prints medians of requests/s and of server CPU per request, and the
ratios to the bare app; CPU per request moves far less than the rate when other work shares
the cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from . import http_api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path, help="a directory holding the older service/ tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    ours = http_api.ROOT
    samples: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.rounds):
            for name in ("before", "after", "bare"):
                directory = Path(tmp) / f"{name}{run}"
                directory.mkdir()
                # `python -m service` runs the service/ tree of its working directory.
                http_api.ROOT = args.before if name == "before" else ours
                server = http_api.bare(directory) if name == "bare" else http_api.service(
                    directory)
                with server as running:
                    for connections in http_api.CONNECTIONS:
                        out = http_api.load(running.port, connections, 10**6, args.seconds,
                                            running.pid)
                        assert set(out["statuses"]) == {"201"}, out["statuses"]
                        samples.setdefault(f"{name}.c{connections}", []).append(
                            (out["rate"], out["cpu_us"]))
    http_api.ROOT = ours
    med = {key: (statistics.median(r for r, _ in values), statistics.median(c for _, c in values))
           for key, values in samples.items()}
    for c in http_api.CONNECTIONS:
        before, after, bare = med[f"before.c{c}"], med[f"after.c{c}"], med[f"bare.c{c}"]
        print(f"c{c}: req/s before {before[0]:.0f} after {after[0]:.0f} bare {bare[0]:.0f};"
              f" ours/bare before {before[0] / bare[0]:.2f}x after {after[0] / bare[0]:.2f}x;"
              f" CPU us/request before {before[1]:.0f} after {after[1]:.0f} bare {bare[1]:.0f};"
              f" bare/ours CPU before {bare[1] / before[1]:.2f}x after {bare[1] / after[1]:.2f}x")
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
