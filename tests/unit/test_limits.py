"""Flow control as data: options, overrides, and why a claim was held back. No I/O."""

from __future__ import annotations

import attrs
import pytest

from service.jobs import InvalidLimits, RateLimit, RateLimited, Task, TaskOptions
from service.jobs._limits import (
    AfterClaim,
    Limits,
    QueueLimitsRow,
    Throttle,
    effective,
    encode_override,
    explain,
    gate,
    key_want,
    override_from_json,
)
from service.jobs._task import key_of

NOW = 1_800_000_000.0


@attrs.frozen(kw_only=True)
class Export(Task):
    options = TaskOptions(name="export", concurrency_key=lambda t: t.customer, per_key=2)
    customer: object


def test_a_rate_spaces_its_starts_evenly() -> None:
    assert RateLimit(100, per=60).interval == pytest.approx(0.6)
    for bad in (lambda: RateLimit(0, per=1), lambda: RateLimit(1, per=0),
                lambda: RateLimit(1, per=float("inf")), lambda: RateLimit(True, per=1)):
        with pytest.raises(ValueError, match=r"limit|per"):
            bad()


def test_task_options_refuse_limits_that_are_not_limits() -> None:
    with pytest.raises(ValueError, match="global_concurrency"):
        TaskOptions(name="x", global_concurrency=0)
    with pytest.raises(ValueError, match="per_key"):
        TaskOptions(name="x", per_key=-1)
    with pytest.raises(TypeError, match="rate"):
        TaskOptions(name="x", rate=100)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="concurrency_key"):
        TaskOptions(name="x", concurrency_key="customer")  # type: ignore[arg-type]


def test_the_code_limits_of_a_task() -> None:
    assert TaskOptions(name="x").limits == Limits()
    assert not TaskOptions(name="x").limits.any
    limits = Export.options.limits
    assert limits == Limits(per_key=2, keyed=True)
    assert limits.serialised
    assert Limits(keyed=True).any
    assert not Limits(keyed=True).serialised


def test_a_key_function_gives_strings_and_ints_only() -> None:
    assert key_of(Export(customer="acme"), Export.options) == "acme"
    assert key_of(Export(customer=7), Export.options) == "7"
    assert key_of(Export(customer=None), Export.options) is None
    for bad in ("", "k" * 256, 1.5, True):
        with pytest.raises(ValueError, match="concurrency_key of task 'export'"):
            key_of(Export(customer=bad), Export.options)


def test_rate_limited_checks_its_pause() -> None:
    limited = RateLimited(retry_after=30, per_key=True)
    assert (limited.retry_after, limited.per_key) == (30.0, True)
    for bad in (-1, float("inf"), float("nan"), True):
        with pytest.raises(ValueError, match="retry_after"):
            RateLimited(retry_after=bad)


def test_an_override_names_every_wrong_field() -> None:
    with pytest.raises(InvalidLimits) as caught:
        override_from_json({"global_concurrency": 0, "per_key": "2", "burst": 1,
                            "rate": {"limit": 5, "per": -1, "per_key": "yes", "x": 1}})
    assert set(caught.value.fields) == {"$.global_concurrency", "$.per_key", "$.burst",
                                        "$.rate.per", "$.rate.per_key", "$.rate.x"}
    for body in (None, [], {}):
        with pytest.raises(InvalidLimits):
            override_from_json(body)


def test_an_override_replaces_the_fields_it_names_and_null_removes_a_limit() -> None:
    code = Limits(global_concurrency=5, rate=RateLimit(10, per=1))
    stored = encode_override(override_from_json({"global_concurrency": None, "per_key": 1}))

    limits = effective(code, stored)

    assert limits == Limits(global_concurrency=None, per_key=1, rate=RateLimit(10, per=1),
                            keyed=True)
    assert effective(code, None) == code
    assert effective(code, "{not json") == code  # an unreadable override: the code's limits


def test_a_claim_asks_for_one_job_per_due_start_of_a_task_rate() -> None:
    limits = Limits(rate=RateLimit(1, per=1))
    row = QueueLimitsRow(task="t", override=None, blocked_until=None, rate_next_at=None)
    assert gate(limits, 10, NOW, row) == (1, None)
    later = attrs.evolve(row, rate_next_at=NOW + 0.5)
    assert gate(limits, 10, NOW, later) == (0, Throttle(reason="rate", retry_at=NOW + 0.5))
    paused = attrs.evolve(row, blocked_until=NOW + 30)
    assert gate(Limits(), 10, NOW, paused) == (
        0, Throttle(reason="rate_limited", retry_at=NOW + 30))
    assert key_want(Limits(per_key=2, keyed=True), 10) == 2
    assert key_want(Limits(rate=RateLimit(1, per=1, per_key=True), keyed=True), 10) == 1


def test_why_a_claim_took_fewer_jobs() -> None:
    seen = AfterClaim(paused=False, blocked_until=None, rate_next_at=None, running=5,
                      more=True, key_next_at=None)
    full = Limits(global_concurrency=5)
    assert explain(full, 10, 0, NOW, seen) == Throttle(reason="global_concurrency")
    assert explain(full, 10, 0, NOW, attrs.evolve(seen, more=False)) is None
    assert explain(full, 3, 3, NOW, seen) is None
    per_key = Limits(per_key=1, keyed=True)
    assert explain(per_key, 10, 2, NOW, attrs.evolve(seen, running=2)) == Throttle(
        reason="per_key")
    rated = Limits(rate=RateLimit(1, per=2))
    assert explain(rated, 10, 1, NOW, attrs.evolve(seen, rate_next_at=NOW + 2)) == Throttle(
        reason="rate", retry_at=NOW + 2)
    assert explain(full, 10, 0, NOW, attrs.evolve(seen, paused=True)) is None
