"""The pure parts behind the dashboard: minutes of the throughput chart, a worker's status, what
a bulk action says it did, and the chart's y axis."""

from __future__ import annotations

import pytest

from service.http.operator.throughput_svg import _ceiling, throughput_chart
from service.jobs import STALE_BEATS, BulkAction, BulkResult, JobState, WorkerRow, WorkerStatus
from service.jobs import worker_status as status_of
from service.jobs._throughput import per_minute, since

NOW = 1_800_000_030.0  # 30 s into a minute
MINUTE_START = 1_800_000_000.0


def test_the_chart_has_every_minute_of_the_window_oldest_first_zeros_included() -> None:
    counts = {(MINUTE_START, JobState.COMPLETED): 4, (MINUTE_START, JobState.DISCARDED): 1,
              (MINUTE_START - 120, JobState.CANCELLED): 9}

    minutes = per_minute(counts, NOW, 3)

    assert [m.start for m in minutes] == [MINUTE_START - 120, MINUTE_START - 60, MINUTE_START]
    assert [(m.completed, m.failed) for m in minutes] == [(0, 0), (0, 0), (4, 1)]
    assert since(NOW, 3) == MINUTE_START - 120


def row(seen_at: float, stopped_at: float | None = None) -> WorkerRow:
    return WorkerRow(owner="w", host="h", pid=1, tasks=(), in_flight=0, started_at=0.0,
                     seen_at=seen_at, interval=5.0, stopped_at=stopped_at)


@pytest.mark.parametrize(("silent_for", "stopped", "expected"), [
    (0.0, False, WorkerStatus.LIVE),
    (STALE_BEATS * 5.0, False, WorkerStatus.LIVE),
    (STALE_BEATS * 5.0 + 0.001, False, WorkerStatus.GONE),
    (10_000.0, True, WorkerStatus.STOPPED),
])
def test_a_worker_is_gone_after_more_than_three_silent_heartbeat_intervals(
    silent_for: float, stopped: bool, expected: WorkerStatus
) -> None:
    worker = row(NOW - silent_for, NOW - silent_for if stopped else None)
    assert status_of(worker, NOW) is expected


def test_a_bulk_result_says_what_it_did_in_one_line() -> None:
    assert BulkResult(action=BulkAction.DELETE, changed=1).summary == "1 job deleted."
    assert BulkResult(action=BulkAction.RETRY, changed=5, skipped=2, raised=1).summary == (
        "5 jobs retried; 1 had used all their attempts: their max_attempts was raised so that"
        " they run once more; 2 left as they were (their state changed meanwhile).")


@pytest.mark.parametrize(("peak", "top"), [(0, 5), (5, 5), (6, 10), (11, 20), (140, 200),
                                           (501, 1000)])
def test_the_charts_y_axis_ends_at_a_round_number(peak: int, top: int) -> None:
    assert _ceiling(peak) == top


def test_an_idle_hour_draws_sixty_empty_bars() -> None:
    chart = str(throughput_chart(per_minute({}, NOW, 60)))
    assert chart.count("<g><title>") == 60
    assert 'height="0.0"' in chart
    assert "0 completed, 0 failed" in chart
