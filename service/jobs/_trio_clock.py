"""Timestamps that follow trio's clock, so that ``MockClock`` drives them in tests."""

from __future__ import annotations

import trio

from ._clock import SystemClock


class TrioClock:
    """Timestamps that move with trio's clock: ``start`` at the first reading, then in step.

    Use inside ``trio.run`` only. With ``MockClock`` every timestamp is virtual and exact.
    """

    def __init__(self, start: float | None = None) -> None:
        # The wall clock is read in one place only: the system clock.
        self._start = SystemClock().now() if start is None else start
        self._offset: float | None = None

    def now(self) -> float:
        current = trio.current_time()
        if self._offset is None:
            self._offset = self._start - current
        return self._offset + current
