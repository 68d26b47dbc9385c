"""Retry backoff maths: the schedule, the cap, jitter bounds, overflow, and validation."""

from __future__ import annotations

import math
import random

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.jobs._retry import Backoff


def test_default_backoff_doubles_from_one_second() -> None:
    assert Backoff(jitter=0).schedule(8) == [1, 2, 4, 8, 16, 32, 64, 128]


def test_defaults_are_one_second_doubling_capped_at_an_hour_with_ten_percent_jitter() -> None:
    backoff = Backoff()
    assert (backoff.base, backoff.factor, backoff.cap, backoff.jitter) == (1.0, 2.0, 3600.0, 0.1)


@pytest.mark.parametrize("attempt", range(1, 13))
def test_delay_without_jitter_is_base_times_factor_to_attempt_minus_one(attempt: int) -> None:
    assert Backoff(jitter=0).delay(attempt) == 2.0 ** (attempt - 1)


def test_base_and_factor_shape_the_schedule() -> None:
    assert Backoff(base=0.5, factor=3, jitter=0).schedule(4) == [0.5, 1.5, 4.5, 13.5]


def test_delay_is_capped() -> None:
    assert Backoff(base=1, factor=2, cap=10, jitter=0).schedule(7) == [1, 2, 4, 8, 10, 10, 10]


def test_default_cap_is_reached_at_attempt_thirteen() -> None:
    backoff = Backoff(jitter=0)
    assert backoff.delay(12) == 2048
    assert backoff.delay(13) == 3600
    assert backoff.delay(100) == 3600


def test_base_above_cap_is_capped_from_the_first_attempt() -> None:
    assert Backoff(base=100, cap=10, jitter=0).delay(1) == 10


def test_schedule_ignores_jitter() -> None:
    assert Backoff(jitter=0.5).schedule(6) == Backoff(jitter=0).schedule(6)


def test_schedule_of_zero_attempts_is_empty() -> None:
    assert Backoff().schedule(0) == []


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jittered_delay_stays_within_the_jitter_fraction_either_way(jitter: float) -> None:
    rng = random.Random(20270115)
    backoff = Backoff(cap=100_000, jitter=jitter)
    plain = Backoff(cap=100_000, jitter=0)
    for attempt in range(1, 25):
        expected = plain.delay(attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(expected * (1 - jitter) <= d <= expected * (1 + jitter) for d in delays)
        assert len(set(delays)) > 1


def test_jitter_spreads_delays_over_both_sides() -> None:
    rng = random.Random(7)
    delays = [Backoff(base=100, jitter=0.2).delay(1, rng) for _ in range(500)]
    assert min(delays) < 95
    assert max(delays) > 105


def test_full_jitter_never_gives_a_negative_delay() -> None:
    rng = random.Random(3)
    assert all(Backoff(jitter=1.0).delay(n, rng) >= 0 for n in range(1, 50) for _ in range(20))


def test_jitter_is_reproducible_from_a_seeded_rng() -> None:
    backoff = Backoff(jitter=0.3)
    first = [backoff.delay(n, random.Random(42)) for n in range(1, 10)]
    second = [backoff.delay(n, random.Random(42)) for n in range(1, 10)]
    assert first == second


def test_jitter_without_an_rng_uses_the_module_random_within_bounds() -> None:
    for _ in range(100):
        assert 3.6 <= Backoff(jitter=0.1).delay(3) <= 4.4


@pytest.mark.parametrize("attempt", [1023, 1024, 1025, 10_000, 10**6, 10**100])
def test_huge_attempt_gives_the_cap_without_overflow(attempt: int) -> None:
    assert Backoff(jitter=0).delay(attempt) == 3600


@pytest.mark.parametrize("attempt", [400, 1000, 5000])
def test_large_factor_power_overflow_falls_back_to_the_cap(attempt: int) -> None:
    # 10.0 ** 400 raises OverflowError rather than giving inf.
    assert Backoff(factor=10, cap=60, jitter=0).delay(attempt) == 60


def test_huge_base_times_power_is_capped() -> None:
    assert Backoff(base=1e300, factor=1e10, cap=60, jitter=0).delay(5) == 60


@pytest.mark.parametrize(
    ("factor", "expected"),
    [(1.0, 5.0), (0.5, 0.0)],
    ids=["constant", "shrinking"],
)
def test_huge_attempt_follows_the_factor_when_it_does_not_grow(
    factor: float, expected: float
) -> None:
    backoff = Backoff(base=5, factor=factor, cap=3600, jitter=0)
    assert backoff.delay(2000) == pytest.approx(expected)


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_attempt_below_one_is_rejected(attempt: int) -> None:
    with pytest.raises(ValueError, match="1-based"):
        Backoff().delay(attempt)


@pytest.mark.parametrize("name", ["base", "factor", "cap"])
@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan], ids=["zero", "minus1", "neg", "nan"])
def test_non_positive_base_factor_or_cap_is_rejected(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be > 0"):
        Backoff(**{name: value})


@pytest.mark.parametrize("value", [-0.01, 1.01, 2, math.nan], ids=["neg", "over1", "two", "nan"])
def test_jitter_outside_zero_to_one_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="jitter must be within"):
        Backoff(jitter=value)


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0])
def test_jitter_bounds_zero_and_one_are_accepted(value: float) -> None:
    assert Backoff(jitter=value).jitter == value


def test_backoff_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Backoff().base = 2  # type: ignore[misc]


positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(database=None, max_examples=300)
@given(
    base=positive,
    factor=st.floats(min_value=1.0, max_value=100.0),
    cap=positive,
    jitter=st.floats(min_value=0.0, max_value=1.0),
    attempt=st.integers(min_value=1, max_value=10**9),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_is_finite_and_within_jitter_of_the_capped_delay(
    base: float, factor: float, cap: float, jitter: float, attempt: int, seed: int
) -> None:
    backoff = Backoff(base=base, factor=factor, cap=cap, jitter=jitter)
    plain = attrs.evolve(backoff, jitter=0).delay(attempt)
    assert 0 < plain <= cap
    delay = backoff.delay(attempt, random.Random(seed))
    assert math.isfinite(delay)
    assert plain * (1 - jitter) - 1e-9 <= delay <= plain * (1 + jitter) + 1e-9


@settings(database=None, max_examples=200)
@given(
    base=positive,
    factor=st.floats(min_value=1.0, max_value=100.0),
    cap=positive,
    attempt=st.integers(min_value=1, max_value=2000),
)
def test_delay_without_jitter_never_shrinks_as_attempts_grow(
    base: float, factor: float, cap: float, attempt: int
) -> None:
    backoff = Backoff(base=base, factor=factor, cap=cap, jitter=0)
    assert backoff.delay(attempt) <= backoff.delay(attempt + 1)
