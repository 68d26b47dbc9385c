"""Readiness's memory of database failures (service/http/health.py), on a hand-driven clock.

End to end (a full disk, a read-only file) it is exercised by
tests/acceptance/test_storage_faults.py.
"""

from __future__ import annotations

from service.http.plumbing.health import HOLD_S, PROBE_INTERVAL_S, StoreHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_while_all_is_well_the_write_probe_runs_at_most_once_per_interval() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    assert health.probe_due(), "the first readiness check probes"
    health.probe_succeeded()
    clock.now += PROBE_INTERVAL_S - 0.1
    assert not health.probe_due()
    clock.now += 0.1
    assert health.probe_due()


def test_a_failed_request_makes_the_process_not_ready_and_probes_at_every_check() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    health.probe_succeeded()
    health.failed("database or disk is full (SQLITE_FULL)")
    assert health.failure == "database or disk is full (SQLITE_FULL)"
    assert health.probe_due()
    clock.now += 1.0
    assert health.failed_seconds_ago() == 1.0


def test_a_failure_holds_for_a_while_even_if_a_probe_succeeds_then_clears() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    health.failed("disk I/O error (SQLITE_IOERR_WRITE)")
    clock.now += HOLD_S - 0.5
    health.probe_succeeded()  # one small row went through; real pushes may still fail
    assert health.failure is not None
    assert health.probe_due()
    clock.now += 0.5
    health.probe_succeeded()
    assert health.failure is None
    assert not health.probe_due()


def test_a_new_failure_restarts_the_hold() -> None:
    clock = Clock()
    health = StoreHealth(clock)
    health.failed("first")
    clock.now += HOLD_S
    health.failed("second")
    health.probe_succeeded()
    assert health.failure == "second"
