"""Which requests get an ``http.request`` line: errors and slow ones always, the fast
successful ones sampled, the first of them included."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.http.plumbing.access_log import AccessLog

if TYPE_CHECKING:
    import pytest


def test_fast_successes_are_sampled_from_the_first_and_every_error_and_slow_request_is_kept(
) -> None:
    log = AccessLog(every=3, slow=0.5)
    fast = [log.should_log(200, 0.001) for _ in range(7)]
    assert fast == [True, False, False, True, False, False, True]
    assert all(log.should_log(status, 0.001) for status in (400, 404, 422, 500, 503))
    assert log.should_log(201, 0.5)
    assert log.should_log(201, 3.0)
    # Errors and slow requests do not use up the sample: the next fast one is still skipped.
    assert log.should_log(200, 0.001) is False


def test_every_one_logs_each_request_without_a_sampled_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="service.http")
    every = AccessLog(every=1, slow=0.5)
    sampled = AccessLog(every=100, slow=0.5)
    for log in (every, every, sampled, sampled):
        log.request(method="POST", path="/api/jobs", route="/api/jobs", status=201,
                    seconds=0.002, request_id="r")
    sampled.request(method="POST", path="/api/jobs", route="/api/jobs", status=503,
                    seconds=0.002, request_id="e")
    sampled.request(method="POST", path="/api/jobs", route="/api/jobs", status=201,
                    seconds=0.9, request_id="s")
    fields = [dict(getattr(r, "fields", {})) for r in caplog.records]
    assert [f.get("sampled") for f in fields] == [None, None, 100, None, None]
    assert [f["request_id"] for f in fields] == ["r", "r", "r", "e", "s"]
    assert fields[-1]["ms"] == 900.0
