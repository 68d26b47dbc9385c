"""The soak's section of ``RESULTS.md`` (one per backend) and its chart."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from . import report as results_file

if TYPE_CHECKING:
    from pathlib import Path

NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def chart(out: Path, data: dict[str, Any]) -> str | None:
    """``soak_<backend>.png``: latency per second and RSS per second; None without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    from .charts import _plt

    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    seconds = data["load"]["seconds"]
    xs = [row[0] for row in seconds]
    top.plot(xs, [row[2] for row in seconds], label="p50", linewidth=0.9, color="#1f77b4")
    top.plot(xs, [row[3] for row in seconds], label="p99", linewidth=0.9, color="#d62728")
    top.plot(xs, [row[5] for row in seconds], label="p99 from due time", linewidth=0.7,
             color="#ff7f0e", alpha=0.6)
    top.set_yscale("log")
    top.set_ylabel("POST /api/jobs latency, ms\n(per second, log scale)")
    top.legend(fontsize=8, loc="upper right")
    top.grid(True, which="both", alpha=0.3)
    rss = data["rss"]
    bottom.plot([t for t, _ in rss], [mib for _, mib in rss], color="#2ca02c", linewidth=1.2)
    bottom.axvline(data["warmup"], color="#7f7f7f", linestyle="--", linewidth=1,
                   label="end of warm-up")
    bottom.axvline(data["seconds"], color="#7f7f7f", linestyle=":", linewidth=1,
                   label="load stops; the worker drains")
    bottom.set_ylabel("server RSS, MiB")
    bottom.set_xlabel("seconds since the soak started")
    bottom.set_ylim(0, max((mib for _, mib in rss), default=1) * 1.15)
    bottom.legend(fontsize=8, loc="lower right")
    bottom.grid(True, alpha=0.3)
    name = NAMES[data["backend"]]
    fig.suptitle(f"Soak, {name}: python -m service at {data['rate']:.0f} req/s for "
                 f"{data['seconds'] / 60:g} min", fontsize=11)
    fig.tight_layout()
    file = f"soak_{data['backend']}.png"
    fig.savefig(out / file, dpi=100)
    plt.close(fig)
    return file


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def section(data: dict[str, Any], picture: str | None) -> list[str]:
    name = NAMES[data["backend"]]
    rss = data["rss_growth"]
    windows = data["load"]["window_p99"]
    span = f"{data['warmup']:.0f} s"
    probe = data.get("probe")
    rate = (f"{data['rate']:.0f} req/s = {data['fraction']:.0%} of the probed maximum "
            f"{probe['rate']:.0f} req/s (p99 {_ms(probe['p99_ms'])} ms at 16 connections,"
            f" answers {probe['statuses']})" if probe else f"{data['rate']:.0f} req/s (fixed)")
    states = ", ".join(f"{state} {n:,}" for state, n in sorted(data["jobs_by_state"].items()))
    warnings = ", ".join(f"`{e}` x{n}" for e, n in sorted(data["warnings"].items())) or "none"
    rows = [
        ["rate", rate],
        ["requests / 201 answers", f"{data['load']['requests']:,} / {data['created']:,}"
         f" (statuses {data['load']['statuses']})"],
        ["jobs in the database after the drain", f"{states}; the soak's 201s not completed: "
         f"{data['soak_not_completed']}; "
         + (f"{data['backlog']:,} jobs were unfinished when the load stopped, " if "backlog"
            in data else "")
         + f"drained {data['drain_seconds']:.0f} s after the load"],
        ["latency of the 201s, whole soak", ("p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f} ms;"
                                              " from the due time (with the wait behind a slow"
                                              " answer) p50 {due_p50:.1f}, p99 {due_p99:.1f} ms"
                                              ).format(**data["load"]["overall_ms"])
         if "overall_ms" in data["load"] else "-"],
        [f"p99 latency, first / last {span}", f"{_ms(windows[0])} / {_ms(windows[-1])} ms"
         f" (ratio {data['p99_ratio']:.2f}); every window: "
         + ", ".join(_ms(w) for w in windows) if data["p99_ratio"] is not None else "-"],
        [f"RSS at {span} / at the end / peak after",
         f"{rss['warm']:.1f} / {rss['end']:.1f} / {rss['peak']:.1f} MiB (growth"
         f" {rss['growth']:+.1%}, peak {rss['peak_growth']:+.1%}; over the second half"
         f" {rss.get('second_half_growth', float('nan')):+.1%})" if rss else "-"],
        ["database size after the drain", f"{data['database_mib']:.1f} MiB"
         + (" (the server's SQLite page cache is 8 MiB and its reader's 2 MiB by default: RSS"
            " grows while they fill)" if data["backend"] == "sqlite" else "")
         if "database_mib" in data else "-"],
        ["ERROR log lines / WARNING lines", f"{data['error_count']} / {warnings}"],
        ["exit code on SIGTERM", str(data["exit_code"])],
        ["load average (1/5/15 min)", f"before {data['load_before']}; after "
         f"{data['load_after']}"],
    ]
    checks = ", ".join(f"{'PASS' if ok else '**FAIL**'} {what}"
                       for what, ok in data["checks"].items())
    lines = [f"## Soak, {name}: `python -m service` under steady load (issue 15)", "",
             f"Run {data['started']}, {data['seconds'] / 60:g} min; written by"
             f" `{data['command']}` (see `bench/soak.py` for the method).", ""]
    if data.get("note"):
        lines += [data["note"], ""]
    lines += results_file.table(["", ""], rows)
    lines += [f"Checks: {checks}.", ""]
    if data["error_lines"]:
        lines += ["ERROR lines (first few):", "", *(f"    {e}" for e in data["error_lines"][:5]),
                  ""]
    if picture:
        lines += [f"![Soak, {name}]({picture})", ""]
    return lines


def write(out: Path, data: dict[str, Any]) -> None:
    """Replace this backend's soak section of ``out/RESULTS.md`` and draw its chart."""
    picture = chart(out, data)
    results_file.put_kept(out / "RESULTS.md", f"soak-{data['backend']}", section(data, picture))
