"""What every scenario family shares: the run's context, where results go, and timing helpers.

A scenario family is a module with ``run(ctx, results)`` that measures one repetition of each of
its scenarios and records one value per metric; ``run_all`` calls it ``ctx.runs`` times,
interleaved with the other families, and reports the median with the min-max of the values.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Table sizes of the claim-cost scenario, full and quick.
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 2_000, 5_000)


@dataclass
class Context:
    """Settings of one run of the suite, handed to every scenario family."""

    jobs: int  # N: no-op jobs per scenario unless the scenario says otherwise
    runs: int
    quick: bool
    workdir: Path  # scratch space, deleted at the end
    pg_url: str | None  # None: PostgreSQL unreachable, its scenarios are skipped
    peers: set[str] = field(default_factory=set)  # installed peers: "huey", "procrastinate"
    run_index: int = 0
    log: Callable[[str], None] = print

    @property
    def sizes(self) -> tuple[int, ...]:
        return QUICK_SIZES if self.quick else SIZES

    @property
    def slow_jobs(self) -> int:
        """N of the scenarios that run at ~0.5-2k jobs/s (one job per statement: PostgreSQL
        single pushes, concurrency-1 and Procrastinate drains): 5,000, so a run stays short."""
        return min(self.jobs, 5_000)

    @property
    def variants(self) -> tuple[str, ...]:
        """Store variants of the push and burn-down scenarios (see :mod:`bench.stores`)."""
        return ("sqlite", "pg") if self.quick else ("sqlite", "sqlite_full", "pg")

    @property
    def concurrencies(self) -> tuple[int, ...]:
        return (10,) if self.quick else (1, 10, 100)

    @property
    def huey_threads(self) -> tuple[int, ...]:
        return (1,) if self.quick else (1, 4, 10)

    @property
    def latency_variants(self) -> tuple[str, ...]:
        return ("sqlite", "pg")

    @property
    def latency_seconds(self) -> float:
        return 0.5 if self.quick else 5.0

    @property
    def latency_warmup(self) -> float:
        """Seconds of pushes before the measured ones (left out of the percentiles)."""
        return 0.5 if self.quick else 1.0

    @property
    def latency_rate(self) -> float:
        """Pushes per second of the latency scenarios: well below every system's saturation."""
        return 100.0

    @property
    def memory_seconds(self) -> float:
        return 1.0 if self.quick else 5.0

    @property
    def http_seconds(self) -> float:
        return 1.0 if self.quick else 5.0

    @property
    def can_sample_memory(self) -> bool:
        return importlib.util.find_spec("psutil") is not None

    def without(self, peer: str) -> str | None:
        """Why ``peer`` does not run here (or None when it does)."""
        if peer not in self.peers:
            return f"{peer} not run (--no-peers, or not installed: pip install -e '.[bench]')"
        if peer == "procrastinate" and self.pg_url is None:
            return "procrastinate not run: PostgreSQL is unreachable"
        return None

    def scratch(self, name: str) -> Path:
        """A fresh path under the work directory (nothing exists there yet)."""
        path = self.workdir / f"r{self.run_index}-{name}"
        counter = 0
        while path.exists():
            counter += 1
            path = self.workdir / f"r{self.run_index}-{name}-{counter}"
        return path


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    values: list[float] = field(default_factory=list)
    higher_is_better: bool = True
    note: str = ""
    runs: int = 0  # runs of the suite; a metric with fewer values says so

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


class Results:
    """Every metric of the run, by key, in the order first recorded."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.skipped: dict[str, str] = {}  # scenario -> why
        self.notes: dict[str, Any] = {}  # facts a family reports once (row counts, tools used)

    def add(self, key: str, value: float, label: str, unit: str, *,
            higher_is_better: bool = True, note: str = "") -> None:
        metric = self.metrics.get(key)
        if metric is None:
            metric = self.metrics[key] = Metric(key, label, unit,
                                                higher_is_better=higher_is_better, note=note)
        metric.values.append(float(value))

    def skip(self, scenario: str, reason: str) -> None:
        self.skipped.setdefault(scenario, reason)

    def get(self, key: str) -> Metric | None:
        metric = self.metrics.get(key)
        return metric if metric is not None and metric.values else None

    def median(self, key: str) -> float | None:
        metric = self.get(key)
        return None if metric is None else metric.median


class Tally:
    """Counts started jobs and keeps their push->start latencies; ``on_done()`` at ``target``.

    One class for every system: our trio worker, Huey's worker threads (callers hold a lock)
    and Procrastinate's asyncio worker each wrap it with their own kind of event.
    """

    def __init__(self, target: int = 0, on_done: Callable[[], object] = lambda: None) -> None:
        self.target = target
        self.count = 0
        self.samples: list[tuple[float, float]] = []  # (pushed_at, latency), wall clock
        self._on_done = on_done

    def hit(self, pushed_at: float | None = None) -> None:
        self.count += 1
        if pushed_at is not None:
            self.samples.append((pushed_at, time.time() - pushed_at))
        if self.count == self.target:
            self._on_done()

    def report(self, warmup: int = 0) -> dict[str, Any]:
        """``started`` and, if latencies were kept, their ``percentiles`` once warmed up:
        the ``warmup`` earliest-pushed jobs are left out (a worker idle before the first push
        has backed its poll off; the scenario is about the steady state)."""
        out: dict[str, Any] = {"started": self.count}
        steady = [latency for _, latency in sorted(self.samples)[warmup:]]
        if steady:
            out["percentiles"] = percentiles(steady)
        return out


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def percentiles(samples: list[float], points: tuple[float, ...] = (50, 95, 99)) -> list[float]:
    """Nearest-rank percentiles of ``samples`` (at least one sample)."""
    ordered = sorted(samples)
    out = []
    for p in points:
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        out.append(ordered[rank - 1])
    return out


def chunks(total: int, size: int) -> Iterator[range]:
    """``range(0, total)`` cut into consecutive ranges of at most ``size``."""
    for first in range(0, total, size):
        yield range(first, min(total, first + size))


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with_suffix = Path(f"{path}{suffix}")
        if with_suffix.exists():
            os.remove(with_suffix)
