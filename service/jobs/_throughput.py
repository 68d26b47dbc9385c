"""Jobs finished per minute over the last hour, for the dashboard's chart. Pure."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from ._states import JobState

if TYPE_CHECKING:
    from collections.abc import Mapping

MINUTE = 60.0


@attrs.frozen(kw_only=True)
class Minute:
    """One minute of the chart: its start (epoch seconds), jobs completed and jobs that failed
    for good (discarded) in it."""

    start: float
    completed: int
    failed: int


def per_minute(
    counts: Mapping[tuple[float, JobState], int], now: float, minutes: int
) -> list[Minute]:
    """``minutes`` whole minutes ending with the current one, oldest first, zeros included."""
    current = math.floor(now / MINUTE) * MINUTE
    starts = [current - MINUTE * n for n in range(minutes - 1, -1, -1)]
    return [Minute(start=start, completed=counts.get((start, JobState.COMPLETED), 0),
                   failed=counts.get((start, JobState.DISCARDED), 0)) for start in starts]


def since(now: float, minutes: int) -> float:
    """The start of the oldest minute :func:`per_minute` shows."""
    return math.floor(now / MINUTE) * MINUTE - MINUTE * (minutes - 1)
