"""Retry backoff maths. Pure: no trio, no database."""

from __future__ import annotations

import math
import random

import attrs


def _positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attr.name} must be > 0, got {value!r}")


def _fraction(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attr.name} must be within [0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff: after failed attempt ``n`` wait ``base * factor**(n-1)``, up to ``cap``.

    ``jitter`` spreads each delay uniformly by up to that fraction either way, so a burst of
    failures does not retry in lockstep. ``Backoff(base=1, factor=2, cap=3600, jitter=0)`` waits
    1, 2, 4, 8 ... seconds, never more than an hour.
    """

    base: float = attrs.field(default=1.0, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_positive)
    cap: float = attrs.field(default=3600.0, validator=_positive)
    jitter: float = attrs.field(default=0.1, validator=_fraction)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        # Compare in log space: factor**attempt overflows a float for large attempts.
        exponent = (attempt - 1) * math.log(self.factor) + math.log(self.base)
        if exponent >= math.log(self.cap):
            raw = self.cap
        else:
            raw = min(self.cap, self.base * self.factor ** (attempt - 1))
        if self.jitter:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            raw = raw * (1 + spread)
        return min(self.cap, max(0.0, raw))

    def schedule(self, attempts: int) -> list[float]:
        """The delays after attempts 1..attempts, without jitter (for docs and tests)."""
        plain = attrs.evolve(self, jitter=0.0)
        return [plain.delay(n) for n in range(1, attempts + 1)]
