"""PNG charts of one run (matplotlib, Agg). Every point is a median with a min-max error bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from .common import Metric, Results

COLORS = {"ours": "#1f77b4", "ours FULL": "#17becf", "ours PostgreSQL": "#2ca02c",
          "Huey": "#ff7f0e", "Procrastinate": "#d62728", "sqlite3": "#7f7f7f"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(metrics: Sequence[Metric]) -> list[list[float]]:
    return [[m.median - m.low for m in metrics], [m.high - m.median for m in metrics]]


def _line(ax: Any, results: Results, xs: Sequence[float], keys: Sequence[str], label: str,
          color: str, marker: str = "o") -> None:
    points = [(x, m) for x, k in zip(xs, keys, strict=True) if (m := results.get(k))]
    if not points:
        return
    x = [p[0] for p in points]
    metrics = [p[1] for p in points]
    ax.errorbar(x, [m.median for m in metrics], yerr=_errors(metrics), label=label, color=color,
                marker=marker, capsize=3, linewidth=1.8)


def _hline(ax: Any, results: Results, key: str, label: str, style: str) -> None:
    metric = results.get(key)
    if metric is not None:
        ax.axhline(metric.median, color=COLORS["sqlite3"], linestyle=style, linewidth=1.2,
                   label=f"{label}: {metric.median:,.0f}")


def throughput(results: Results, out: Path) -> bool:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    conc = (1, 10, 100)
    _line(ax, results, conc, [f"burn.sqlite.c{c}" for c in conc], "ours, SQLite (NORMAL)",
          COLORS["ours"])
    _line(ax, results, conc, [f"burn.sqlite_full.c{c}" for c in conc], "ours, SQLite (FULL)",
          COLORS["ours FULL"], "s")
    _line(ax, results, conc, [f"burn.pg.c{c}" for c in conc], "ours, PostgreSQL",
          COLORS["ours PostgreSQL"], "^")
    _line(ax, results, (1, 4, 10), [f"huey.consume.t{t}" for t in (1, 4, 10)],
          "Huey consumer (threads), SQLite FULL", COLORS["Huey"], "D")
    _line(ax, results, (10,), ["procrastinate.work.c10"], "Procrastinate worker, PostgreSQL",
          COLORS["Procrastinate"], "X")
    _hline(ax, results, "ref.minimal.drain_batched", "plain sqlite3, 1,000 jobs/tx", "--")
    _hline(ax, results, "ref.minimal.drain_one", "plain sqlite3, 1 job/tx", ":")
    if not ax.lines:
        plt.close(fig)
        return False
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([1, 4, 10, 100], ["1", "4", "10", "100"])
    ax.set_xlabel("concurrency (worker slots / consumer threads)")
    ax.set_ylabel("jobs/s (log scale)")
    ax.set_title("Burn-down of pre-inserted no-op jobs by one worker process\n"
                 "(N = 20,000; 5,000 at concurrency 1 and for Procrastinate)", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out / "throughput_vs_concurrency.png", dpi=110)
    plt.close(fig)
    return True


def claims(results: Results, out: Path, sizes: Sequence[int]) -> bool:
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8),
                                      gridspec_kw={"width_ratios": [2, 1]})
    _line(left, results, sizes, [f"claim.store.{s}" for s in sizes],
          "job_claim through the store (1 job)", COLORS["ours"])
    _line(left, results, sizes, [f"claim.sql.{s}" for s in sizes], "claim SQL only",
          COLORS["ours FULL"], "s")
    _line(left, results, sizes, [f"claim.empty.{s}" for s in sizes], "empty claim (store)",
          COLORS["sqlite3"], "^")
    if not left.lines:
        plt.close(fig)
        return False
    left.set_xscale("log")
    left.minorticks_off()
    left.set_xticks(list(sizes), [f"{s:,}" for s in sizes])
    left.set_ylim(bottom=0)
    left.set_xlabel("rows in the jobs table (mostly completed history)")
    left.set_ylabel("µs per claim (median)")
    left.set_title("Claim cost against table size")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8)
    bars = [(name, m) for name, key in (("plain", "drain.plain"),
                                        ("99% scheduled\n(due spread)", "drain.scheduled"),
                                        ("99% scheduled\n(due together)",
                                         "drain.scheduled_together"))
            if (m := results.get(key))]
    if bars:
        metrics = [m for _, m in bars]
        right.bar([n for n, _ in bars], [m.median for m in metrics], yerr=_errors(metrics),
                  color=[COLORS["ours"], COLORS["Huey"], COLORS["ours FULL"]][: len(bars)],
                  capsize=4)
        right.tick_params(axis="x", labelsize=8)
        right.set_ylabel("jobs/s")
        right.set_title("Draining the due jobs")
        right.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "claim_cost_vs_table_size.png", dpi=110)
    plt.close(fig)
    return True


LATENCY = (("latency.sqlite.inproc", "ours SQLite\nsame process"),
           ("latency.sqlite.xproc", "ours SQLite\nacross processes"),
           ("latency.pg.inproc", "ours PostgreSQL\nsame process"),
           ("latency.pg.xproc", "ours PostgreSQL\nacross processes"),
           ("latency.huey", "Huey\nacross processes"),
           ("latency.procrastinate", "Procrastinate\nacross processes"),
           ("http.c1", "HTTP POST\n1 connection"),
           ("http.c16", "HTTP POST\n16 connections"))


def latency(results: Results, out: Path) -> bool:
    plt = _plt()
    groups = [(prefix, name) for prefix, name in LATENCY if results.get(f"{prefix}.p50")]
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.27
    for offset, (point, shade) in enumerate((("p50", 0.45), ("p95", 0.7), ("p99", 1.0))):
        metrics = [results.metrics[f"{prefix}.{point}"] for prefix, _ in groups]
        xs = [i + (offset - 1) * width for i in range(len(groups))]
        ax.bar(xs, [m.median for m in metrics], width, yerr=_errors(metrics), capsize=2,
               label=point, color=COLORS["ours"], alpha=shade)
    ax.axhline(5, color=COLORS["Procrastinate"], linestyle="--", linewidth=1,
               label="target: in-process p99 <= 5 ms")
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [name for _, name in groups], fontsize=8)
    ax.set_ylabel("ms (log scale)")
    ax.set_title("Push->start latency at a steady rate below saturation; HTTP request latency")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency_percentiles.png", dpi=110)
    plt.close(fig)
    return True


PUSHES = (("push.one.sqlite", "ours SQLite\npush, 1 task", "ours"),
          ("push.tasks10.sqlite", "ours SQLite\npush, 10 tasks", "ours"),
          ("push.many.sqlite", "ours SQLite\npush_many", "ours"),
          ("push.one.sqlite_full", "ours FULL\npush, 1 task", "ours FULL"),
          ("push.many.sqlite_full", "ours FULL\npush_many", "ours FULL"),
          ("push.one.pg", "ours PG\npush, 1 task", "ours PostgreSQL"),
          ("push.many.pg", "ours PG\npush_many", "ours PostgreSQL"),
          ("huey.enqueue.t1", "Huey enqueue\n1 thread", "Huey"),
          ("huey.enqueue.t10", "Huey enqueue\n10 threads", "Huey"),
          ("procrastinate.defer", "Procrastinate\ndefer", "Procrastinate"),
          ("procrastinate.batch_defer", "Procrastinate\nbatch_defer", "Procrastinate"),
          ("ref.minimal.push_one", "sqlite3\n1 job/tx", "sqlite3"),
          ("ref.minimal.push_batched", "sqlite3\n1,000 jobs/tx", "sqlite3"))


def pushes(results: Results, out: Path) -> bool:
    plt = _plt()
    bars = [(name, results.metrics[key], COLORS[color]) for key, name, color in PUSHES
            if results.get(key)]
    if not bars:
        return False
    fig, ax = plt.subplots(figsize=(14, 5))
    metrics = [m for _, m, _ in bars]
    ax.bar(range(len(bars)), [m.median for m in metrics], yerr=_errors(metrics), capsize=3,
           color=[c for _, _, c in bars])
    for i, m in enumerate(metrics):
        ax.annotate(f"{m.median:,.0f}", (i, m.median), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 3), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(range(len(bars)), [n for n, _, _ in bars], fontsize=7)
    ax.set_ylabel("jobs/s (log scale)")
    ax.set_title("Durable pushes per second")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "pushes.png", dpi=110)
    plt.close(fig)
    return True


def write(results: Results, out: Path, sizes: Sequence[int]) -> list[str]:
    """Draw every chart that has data; the file names written."""
    made = []
    for name, draw in (("throughput_vs_concurrency.png", lambda: throughput(results, out)),
                       ("claim_cost_vs_table_size.png", lambda: claims(results, out, sizes)),
                       ("latency_percentiles.png", lambda: latency(results, out)),
                       ("pushes.png", lambda: pushes(results, out))):
        if draw():
            made.append(name)
    return made
