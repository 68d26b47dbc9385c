"""Writing ``RESULTS.md``: machine and command, targets, then one table per scenario family."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .targets import FLOW_TARGETS, Verdict, all_targets, evaluate

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from .common import Metric, Results

NORMAL = "NORMAL"
FULL = "FULL"
POSTGRES = "PG"
HUEY = "FULL, taken = deleted"
DURABILITY = [
    "Durability column: **NORMAL** = SQLite WAL with `synchronous=NORMAL` (the engine's default):",
    "a commit survives a crash of the process, the last commits may be lost on power loss.",
    "**FULL** = WAL with `synchronous=FULL` (Huey's default, ours set by the harness): commits",
    "survive power loss. **PG** = a PostgreSQL commit (server settings above). **taken =",
    "deleted**: Huey deletes a task's row when a worker takes it, one write per job; a task whose",
    "worker dies mid-run is lost. Ours and Procrastinate claim, run, then record (two writes",
    "per job); a job whose worker dies runs again.",
    "",
]
CHARTS = {
    "throughput_vs_concurrency.png": "Burn-down throughput against concurrency",
    "claim_cost_vs_table_size.png": "Claim cost against table size",
    "latency_percentiles.png": "Latency percentiles",
    "pushes.png": "Pushes per second",
}
FAMILIES = ("bench.reference", "bench.pushes", "bench.burn", "bench.limits", "bench.latency",
            "bench.cancel_latency", "bench.claims", "bench.memory", "bench.http_api",
            "bench.http_limits", "bench.stalls", "bench.stall_ops", "bench.schema_cost",
            "bench.profile")


def number(value: float, unit: str) -> str:
    if unit in ("ms", "MiB"):
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.1f}"
    if unit == "µs":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{value:,.0f}"


def cell(metric: Metric | None) -> str:
    """``median [min-max]`` (just the value for a single run); ``-`` when not measured."""
    if metric is None:
        return "-"
    text = number(metric.median, metric.unit)
    if len(metric.values) > 1:
        text += f" [{number(metric.low, metric.unit)}-{number(metric.high, metric.unit)}]"
    if len(metric.values) < metric.runs:
        text += f" ({len(metric.values)} of {metric.runs} runs)"
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


@dataclass(frozen=True)
class Row:
    """One measured line of a throughput table, optionally compared with a baseline."""

    system: str
    key: str
    durability: str = ""
    baseline: str | None = None


def ratio(results: Results, key: str, baseline: str | None) -> str:
    a, b = results.median(key), results.median(baseline) if baseline else None
    if a is None or b is None or baseline is None:
        return ""
    base = results.metrics[baseline]
    return f"{a / b:.2f}x {base.label}"


def throughput_table(results: Results, rows: Sequence[Row]) -> list[str]:
    body = []
    for row in rows:
        metric = results.get(row.key)
        if metric is None:
            continue
        body.append([row.system, metric.label, row.durability, cell(metric),
                     ratio(results, row.key, row.baseline)])
    return table(["system", "what", "durability", "jobs/s median [min-max]", "ratio"], body)


def percentile_table(results: Results, prefixes: Sequence[str], points: Sequence[str],
                     first: str = "what") -> list[str]:
    body = []
    for prefix in prefixes:
        metrics = [results.get(f"{prefix}.{p}") for p in points]
        known = next((m for m in metrics if m is not None), None)
        if known is None:
            continue
        body.append([known.label.rsplit(" ", 1)[0].removesuffix(":"),
                     *(cell(m) for m in metrics)])
    return table([first, *(f"{p} ms" for p in points)], body)


# -- sections -------------------------------------------------------------------------------


def _pushes(results: Results) -> list[str]:
    rows = [Row("ours, SQLite", f"push.{m}.sqlite", NORMAL, "huey.enqueue.t1")
            for m in ("one", "tasks10")]
    rows.append(Row("ours, SQLite", "push.many.sqlite", NORMAL, "ref.minimal.push_batched"))
    rows += [Row("ours, SQLite FULL", f"push.{m}.sqlite_full", FULL, "huey.enqueue.t1")
             for m in ("one", "tasks10", "many")]
    rows += [Row("ours, PostgreSQL", f"push.{m}.pg", POSTGRES, "procrastinate.defer")
             for m in ("one", "tasks10")]
    rows.append(Row("ours, PostgreSQL", "push.many.pg", POSTGRES, "procrastinate.batch_defer"))
    rows += [Row("Huey", f"huey.enqueue.t{t}", HUEY) for t in (1, 10)]
    rows += [Row("Procrastinate", f"procrastinate.{k}", POSTGRES)
             for k in ("defer", "batch_defer")]
    rows += [Row("plain sqlite3", f"ref.{s}.push_{k}", NORMAL)
             for s in ("minimal", "engine") for k in ("one", "batched")]
    return ["## 1-2. Pushes (and PostgreSQL pushes, scenario 8)", "", *DURABILITY,
            *throughput_table(results, rows)]


def _burn(results: Results) -> list[str]:
    rows = []
    for variant, name, durability in (("sqlite", "ours, SQLite", NORMAL),
                                      ("sqlite_full", "ours, SQLite FULL", FULL),
                                      ("pg", "ours, PostgreSQL", POSTGRES)):
        baseline = "procrastinate.work.c10" if variant == "pg" else "huey.consume.t1"
        rows += [Row(name, f"burn.{variant}.c{c}", durability, baseline) for c in (1, 10, 100)]
    rows += [Row("Huey", f"huey.consume.t{t}", HUEY) for t in (1, 4, 10)]
    rows.append(Row("Procrastinate", "procrastinate.work.c10", POSTGRES))
    rows += [Row("plain sqlite3", f"ref.{s}.drain_{k}", NORMAL)
             for s in ("minimal", "engine") for k in ("one", "batched")]
    return ["## 3. Burn-down (and PostgreSQL burn-down, scenario 8)", "",
            *throughput_table(results, rows)]


LIMITS_TITLE = "## Flow control (issue 13): a limit that does not bind"


def limits_section(results: Results) -> list[str]:
    """The flow-control table, its targets and, where one is missed, why (``bench.limits``
    writes this section on its own too)."""
    rows = []
    for variant, name, durability in (("sqlite", "ours, SQLite", NORMAL),
                                      ("pg", "ours, PostgreSQL", POSTGRES)):
        rows += [Row(name, f"limits.{variant}.{form}", durability,
                     None if form == "none" else f"limits.{variant}.none")
                 for form in ("none", "global", "keys")]
    verdicts = [evaluate(t, results, lambda key: results.metrics[key].label.split(",", 1)[0])
                for t in FLOW_TARGETS]
    body = [[v.target.name, f"{v.value:.2f}x" if v.value is not None else "",
             v.status.upper(), v.gap] for v in verdicts]
    why = [f"- **{v.target.name}** ({v.value:.2f}x): {v.target.why_missed}"
           for v in verdicts
           if v.status == "missed" and v.target.why_missed and v.value is not None]
    return [LIMITS_TITLE, "",
            "Target: a limit that does not bind (`global_concurrency` equal to the worker's"
            " 10 slots; 100 keys at `per_key=1`) costs at most 10% of the throughput without"
            " limits (ratio >= 0.90). Ratios are of medians measured in the same run.", "",
            *throughput_table(results, rows),
            *table(["target", "ratio", "status", "gap"], body),
            *(["Where a target is missed, and why:", "", *why, ""] if why else [])]


def _limits(results: Results) -> list[str]:
    return limits_section(results)


def _latency(results: Results) -> list[str]:
    prefixes = [f"latency.{v}.{w}" for v in ("sqlite", "pg") for w in ("inproc", "xproc")]
    prefixes += ["latency.huey", "latency.procrastinate"]
    return ["## 4. Push->start latency (and PostgreSQL latency, scenario 8)", "",
            *percentile_table(results, prefixes, ("p50", "p95", "p99"))]


def _cancel(results: Results) -> list[str]:
    prefixes = [f"cancel.{v}" for v in ("sqlite", "pg")]
    if not any(results.get(f"{p}.p50") for p in prefixes):
        return []
    return ["## Cancel latency across processes (issue 14)", "",
            "Target: p99 < 1 s from an operator's cancel to the running task seeing"
            " `trio.Cancelled` (before: the next lease renewal, up to 5 s).", "",
            *percentile_table(results, prefixes, ("p50", "p95", "p99"))]


def _claims(results: Results, sizes: Sequence[int]) -> list[str]:
    body = []
    first = results.median(f"claim.store.{sizes[0]}")
    for size in sizes:
        store = results.get(f"claim.store.{size}")
        growth = (f"{store.median / first:.2f}x" if store is not None and first else "")
        body.append([f"{size:,}", cell(store), growth, cell(results.get(f"claim.sql.{size}")),
                     cell(results.get(f"claim.empty.{size}"))])
    lines = ["## 5. Claim cost against table size", "",
             *table(["rows in table", "job_claim µs", f"vs {sizes[0]:,}", "claim SQL only µs",
                     "empty claim µs"], body)]
    drain = [Row("ours, SQLite, concurrency 10", "drain.plain", NORMAL),
             Row("ours, SQLite, concurrency 10", "drain.scheduled", NORMAL, "drain.plain"),
             Row("ours, SQLite, concurrency 10", "drain.scheduled_together", NORMAL,
                 "drain.plain"),
             Row("ours, SQLite, concurrency 10", "drain.history_spread", NORMAL, "drain.plain"),
             Row("plain sqlite3, same statements", "drain_sql.plain", NORMAL),
             Row("plain sqlite3, same statements", "drain_sql.scheduled", NORMAL,
                 "drain_sql.plain"),
             Row("plain sqlite3, same statements", "drain_sql.scheduled_together", NORMAL,
                 "drain_sql.plain"),
             Row("plain sqlite3, same statements", "drain_sql.history_spread", NORMAL,
                 "drain_sql.plain")]
    return lines + throughput_table(results, drain)


MEMORY = ("rss.import.python", "rss.import.trio", "rss.import.deps", "rss.import.trio_testing",
          "rss.import.psycopg", "rss.import.engine", "rss.import.huey",
          "rss.ours.idle", "rss.ours.pending", "rss.ours.pending_big_cache", "rss.huey.idle",
          "rss.huey.pending",
          "rss.procrastinate.idle")


def _memory(results: Results) -> list[str]:
    body = []
    for key in MEMORY:
        rss = results.get(f"{key}.rss")
        if rss is None:
            continue
        jobs = results.get(f"{key}.jobs")
        body.append([rss.label.rsplit(":", 1)[0], cell(rss), cell(results.get(f"{key}.uss")),
                     cell(results.get(f"{key}.hwm")), cell(jobs) if jobs else ""])
    return ["## 6. Worker memory", "",
            *table(["process", "peak RSS MiB", "peak USS MiB", "VmHWM MiB", "jobs run meanwhile"],
                   body)]


def _http(results: Results) -> list[str]:
    body = []
    for prefix in ("http.c1", "http.bare.c1", "http.c16", "http.bare.c16", "http.wrk"):
        rps = results.get(f"{prefix}.rps")
        if rps is None:
            continue
        points = ("p50", "p90", "p99") if prefix == "http.wrk" else ("p50", "p95", "p99")
        body.append([rps.label.removesuffix(": requests/s"), cell(rps),
                     *(f"{p}: {cell(results.get(f'{prefix}.{p}'))}" for p in points),
                     cell(results.get(f"{prefix}.cpu"))])
    ratios = [[m.label, cell(m)] for key in ("ratio", "cpu_ratio") for c in ("c1", "c16")
              if (m := results.get(f"http.{key}.{c}")) is not None]
    return ["## 7. `POST /api/jobs` through hypercorn", "",
            *table(["load", "requests/s", "latency ms", "", "", "server CPU µs/request"],
                   body),
            *(["", *table(["ours / bare quart-trio app (same run)", "ratio"], ratios)]
              if ratios else [])]


def _http_limits(results: Results) -> list[str]:
    lines: list[str] = []
    for prefix, title, note in (
            ("http.slow.", "## 7b. Slow and idle clients beside normal ones", "http_slow"),
            ("http.over.", "## 7c. Overload: 3x capacity", "http_overload")):
        rows = [[m.label, cell(m)] for key, m in results.metrics.items()
                if key.startswith(prefix) and m.values]
        if not rows:
            continue
        lines += [title, "", *table(["what", "value"], rows)]
        for which, facts in results.notes.items():  # http_slow, http_slow_ka5...
            if which == note or which.startswith(f"{note}_"):
                lines += [f"- {which.removeprefix(note).strip('_') or 'default'} {name}:"
                          f" `{value}`" for name, value in facts.items() if name != "timeline"]
        lines.append("")
    return lines


def _stalls(results: Results) -> list[str]:
    body = []
    for key in ("stall.sqlite", "stall.sqlite.old", "stall.pg", "stall.pg.old"):
        worst = results.get(f"{key}.worst")
        if worst is not None:
            body.append([worst.label.rsplit(":", 1)[0], cell(worst),
                         cell(results.get(f"{key}.rate"))])
    checks = []
    for name in ("none", "decode", "check"):
        pushes = results.get(f"check.{name}.rate")
        if pushes is not None:
            checks.append([pushes.label, cell(pushes), ratio(results, pushes.key,
                                                             "check.none.rate"),
                           cell(results.get(f"check.{name}.us"))])
    if not body and not checks:
        return []
    return ["## Diagnostic: event-loop stalls of a big push_many; the push-time payload check",
            "", *table(["store, batch", "worst event-loop stall ms", "jobs/s"], body),
            *table(["SQLite, one push at a time", "pushes/s", "ratio", "µs per task"], checks)]


STALL_OPS = ("idle", "push_many", "list", "api_list", "count_by_state", "stats_by_state",
             "count", "prune")


def _stall_ops(results: Results) -> list[str]:
    body = []
    for variant in ("sqlite", "pg"):
        for name in STALL_OPS:
            worst = results.get(f"stall_ops.{variant}.{name}.worst")
            if worst is not None:
                body.append([worst.label.rsplit(":", 1)[0], cell(worst),
                             cell(results.get(f"stall_ops.{variant}.{name}.seconds"))])
    if not body:
        return []
    return ["## Loop stalls of the engine's big operations (issue 15)", "",
            "Target: <= 5 ms. The first row of each store is an idle loop: what the machine itself"
            " adds.", "",
            *table(["store, operation", "worst event-loop stall ms", "duration ms"], body)]


def _schema(results: Results) -> list[str]:
    pushes = [m for key, m in results.metrics.items()
              if key.startswith("schema.") and key.endswith(".push")]
    if not pushes:
        return []
    body = [[m.label.split(":")[0], cell(m),
             cell(results.get(m.key.removesuffix(".push") + ".drain"))] for m in pushes]
    return ["## Diagnostic: what the engine's schema costs (plain sqlite3, one run)", "",
            *table(["schema", "enqueue, 1,000 jobs/tx", "claim+complete, 1,000 jobs/tx"],
                   body)]


def _targets(results: Results, sizes: Sequence[int]) -> list[str]:
    def label(key: str) -> str:
        return results.metrics[key].label

    verdicts: list[Verdict] = [evaluate(t, results, label) for t in all_targets(tuple(sizes))]
    body = []
    for v in verdicts:
        status = v.status if not v.target.info else f"({v.status})"
        value = "" if v.value is None else f"{v.value:.2f}"
        if v.target.baseline is not None and value:
            value += "x"
        body.append([v.target.name, v.measured, value, status.upper() if not v.target.info
                     else status, v.gap])
    why = [f"- **{v.target.name}** ({v.value:.2f}x): {v.target.why_missed}"
           for v in verdicts
           if v.status == "missed" and v.target.why_missed and v.value is not None]
    return ["## Targets (issue 5)", "",
            "Ratios are of medians measured in this run. Indented rows are companions (the same",
            "goal at another durability or concurrency), not targets.", "",
            *table(["target", "measured (medians)", "value", "status", "gap"], body),
            *(["", "Where a target is missed, and why:", "", *why, ""] if why else [])]


#: A section written by a standalone scenario (``bench.soak``), kept when the suite rewrites
#: the file: ``<!-- kept:NAME -->`` ... ``<!-- /kept:NAME -->``.
_KEPT = re.compile(r"^<!-- kept:([\w.-]+) -->\n.*?^<!-- /kept:\1 -->\n", re.M | re.S)
_KEPT_BEFORE = "## How each scenario is measured"


def kept(path: Path) -> list[str]:
    """The kept sections of the file at ``path`` (none if it does not exist), as lines."""
    if not path.exists():
        return []
    lines: list[str] = []
    for block in _KEPT.finditer(path.read_text()):
        lines += [*block.group(0).splitlines(), ""]
    return lines


def put_kept(path: Path, name: str, lines: Sequence[str]) -> None:
    """Replace the kept section ``name`` of the file at ``path`` with ``lines`` (add it, before
    the method notes, if it is not there yet)."""
    block = "\n".join([f"<!-- kept:{name} -->", *lines, f"<!-- /kept:{name} -->"]) + "\n"
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^<!-- kept:{re.escape(name)} -->\n.*?^<!-- /kept:{re.escape(name)}"
                         r" -->\n", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif _KEPT_BEFORE in text:
        head, _, tail = text.partition(_KEPT_BEFORE)
        text = f"{head}{block}\n{_KEPT_BEFORE}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{block}"
    path.write_text(text)


def _method() -> list[str]:
    lines = ["## How each scenario is measured", ""]
    for name in FAMILIES:
        doc = (importlib.import_module(name).__doc__ or "").strip()
        lines += [f"### `{name}`", "", doc, ""]
    return lines


def write(path: Path, results: Results, *, command: str, machine: list[tuple[str, str]],
          sizes: Sequence[int], context: dict[str, Any], charts: Sequence[str],
          runs: int) -> None:
    for metric in results.metrics.values():
        if not metric.key.startswith(("schema.", "rss.import.")):  # measured once on purpose
            metric.runs = runs
    sections_kept = kept(path)
    lines = ["# Benchmark results", "",
             "Written by the suite itself; rerun it to replace this file. Command:", "",
             f"    {command}", ""]
    lines += table(["", ""], [[k, v] for k, v in machine + list(context.items())])
    lines += ["Every value is the median of the runs with [min-max] beside it; each measurement",
              "runs in a fresh process. N = 20,000 no-op jobs unless a row says otherwise.", ""]
    lines += _targets(results, sizes)
    lines += [f"![{CHARTS.get(c, c)}]({c})" for c in charts] + [""]
    for section in (_pushes(results), _burn(results), _limits(results), _latency(results),
                    _cancel(results), _claims(results, sizes), _memory(results), _http(results),
                    _http_limits(results)):
        lines += section
    lines += _stalls(results)
    lines += _stall_ops(results)
    lines += _schema(results)
    notes = results.notes.get("profiles")
    if notes:
        lines += ["## Profiles (py-spy, recorded after the runs)", "", notes, ""]
    if results.skipped:
        lines += ["## Skipped or failed", ""]
        lines += [f"- `{key}`: {why}" for key, why in results.skipped.items()] + [""]
    if results.notes.get("retries"):
        lines += ["## Measurements retried once (their first attempt failed)", ""]
        lines += [f"- {note}" for note in results.notes["retries"]] + [""]
    lines += sections_kept
    lines += _method()
    path.write_text("\n".join(lines).rstrip() + "\n")
