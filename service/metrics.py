"""A small Prometheus registry: counters and histograms with labels, text exposition 0.0.4."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import TYPE_CHECKING

from .jobs import JobState

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from .jobs import JobStats

Labels = tuple[tuple[str, str], ...]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    items = (*labels, *extra)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.values: dict[Labels, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Histogram:
    def __init__(self, name: str, help: str, buckets: Sequence[float] = DURATION_BUCKETS) -> None:
        self.name, self.help = name, help
        self.buckets = tuple(sorted(buckets))
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = defaultdict(float)

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts = self.counts.setdefault(key, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[key] += value

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self.counts.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                le = (("le", _number(bound)),)
                yield f"{self.name}_bucket{_labels(labels, le)} {cumulative}"
            yield f"{self.name}_sum{_labels(labels)} {_number(self.sums[labels])}"
            yield f"{self.name}_count{_labels(labels)} {cumulative}"


class Gauge:
    """Values computed at scrape time (set them just before exposing)."""

    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.values: dict[Labels, float] = {}

    def set(self, value: float, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] = value

    def expose(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Metrics:
    """The service's metrics, shared by the HTTP app and the worker of one process."""

    def __init__(self) -> None:
        self.jobs = Gauge("service_jobs", "Jobs in the store by task and state.")
        self.queue_lag = Gauge(
            "service_queue_lag_seconds",
            "Age of the oldest available job by task: how long it has waited for a worker"
            " (0 when none waits).",
        )
        self.job_duration = Histogram(
            "service_job_duration_seconds", "Duration of job attempts run by this process."
        )
        self.job_outcomes = Counter(
            "service_job_outcomes_total", "Attempt outcomes recorded by this process."
        )
        self.job_failures = Counter(
            "service_job_failures_total", "Failed or timed-out attempts in this process."
        )
        self.job_rescues = Counter(
            "service_job_rescues_total",
            "Jobs whose lease expired and that this process's rescues took back, by task and"
            " the state the rescue left them in.",
        )
        self.claims_throttled = Counter(
            "service_job_claims_throttled_total",
            "Claims held back by a limit (global_concurrency, per_key, rate, rate_limited)"
            " in this process.",
        )
        self.http_requests = Counter(
            "service_http_requests_total", "HTTP requests by method, route and status."
        )
        self.http_duration = Histogram(
            "service_http_request_duration_seconds", "HTTP request durations by route."
        )

    def expose(self) -> str:
        lines: list[str] = []
        for metric in (self.jobs, self.queue_lag, self.job_duration, self.job_outcomes,
                       self.job_failures, self.job_rescues, self.claims_throttled,
                       self.http_requests, self.http_duration):
            lines.extend(metric.expose())
        return "\n".join(lines) + "\n"

    def observe_store(
        self, stats: Mapping[tuple[str, JobState], JobStats], tasks: Iterable[str], now: float
    ) -> None:
        """Set the store's gauges from one ``job_stats_by_state`` read at ``now``: jobs by
        state for each of ``tasks`` (the registered ones) and each task with jobs, every state
        given (zeros too, so a rate or an alert never meets a missing series), and queue lag."""
        names = sorted({*tasks, *(task for task, _ in stats)})
        self.jobs.values.clear()
        self.queue_lag.values.clear()
        for task in names:
            for state in JobState:
                found = stats.get((task, state))
                self.jobs.set(0 if found is None else found.count, task=task, state=state.value)
            available = stats.get((task, JobState.AVAILABLE))
            lag = 0.0 if available is None else max(0.0, now - available.oldest_run_at)
            self.queue_lag.set(round(lag, 3), task=task)
