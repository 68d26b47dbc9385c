"""The one place the engine reads wall-clock time.

Durations come from trio (``trio.sleep``, ``move_on_after``); timestamps written to the store come
from a :class:`Clock`. :class:`TrioClock` derives timestamps from trio's own clock, so a
``trio.testing.MockClock`` drives scheduling, backoff and leases together.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

import trio


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """Wall-clock time, for production."""

    def now(self) -> float:
        return time.time()


class TrioClock:
    """Timestamps that move with trio's clock: ``start`` at the first reading, then in step.

    Use inside ``trio.run`` only. With ``MockClock`` every timestamp is virtual and exact.
    """

    def __init__(self, start: float | None = None) -> None:
        self._start = time.time() if start is None else start
        self._offset: float | None = None

    def now(self) -> float:
        current = trio.current_time()
        if self._offset is None:
            self._offset = self._start - current
        return self._offset + current


def to_datetime(timestamp: float | None) -> dt.datetime | None:
    """An aware UTC datetime for a stored timestamp."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def to_timestamp(moment: dt.datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
