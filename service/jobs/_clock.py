"""The one place the engine reads wall-clock time.

Durations come from trio (``trio.sleep``, ``move_on_after``); timestamps written to the store come
from a :class:`Clock`. ``TrioClock`` (in ``_trio_clock``) derives timestamps from trio's own clock,
so a ``trio.testing.MockClock`` drives scheduling, backoff and leases together. This module is
pure: the sans-IO core (states, outcomes, row mapping) may import it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Where a store reads the time it writes: ``SystemClock`` in production, ``TrioClock`` in
    tests (so ``MockClock`` drives every timestamp). Give your own to the store to inject time."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time, for production."""

    def now(self) -> float:
        return time.time()


def to_datetime(timestamp: float | None) -> dt.datetime | None:
    """An aware UTC datetime for a stored timestamp."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def iso_time(timestamp: float) -> str:
    """A stored timestamp as logs show times: ISO 8601 in UTC, to the millisecond
    (``2026-05-01T12:00:03.250+00:00``)."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat(timespec="milliseconds")


def to_timestamp(moment: dt.datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
