"""What readiness knows about the database beyond "it answers a SELECT": does it take writes?

A database can answer reads while refusing every write (a read-only file, a full disk), so
``GET /readyz`` does not stop at ``SELECT 1``. Two sources feed :class:`StoreHealth`:

- every request that failed on the database (a 503) records the failure as it happens;
- readiness itself writes one row (:func:`service.domain.health.probe_write`): at once while a
  failure is recorded, else at most every :data:`PROBE_INTERVAL_S`, so a fault nobody has
  written into yet is found too, without a write on every probe.

A recorded failure keeps the process not-ready for :data:`HOLD_S` even if a probe succeeds
meanwhile: the probe writes one small row, and on a nearly full disk it can succeed while real
pushes fail. After that, the first probe that succeeds makes it ready again.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from quart import current_app

if TYPE_CHECKING:
    from collections.abc import Callable

#: While no failure is recorded, readiness writes at most this often (seconds).
PROBE_INTERVAL_S = 5.0
#: A recorded failure keeps readiness at 503 at least this long (seconds).
HOLD_S = 3.0


class StoreHealth:
    """The last database failure seen by this process, and when writes last worked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failure: str | None = None
        self._failed_at = -math.inf
        self._probed_at = -math.inf

    def failed(self, message: str) -> None:
        """A request or a probe failed on the database."""
        self.failure = message
        self._failed_at = self._clock()

    def probe_due(self) -> bool:
        return self.failure is not None or self._clock() - self._probed_at >= PROBE_INTERVAL_S

    def probe_succeeded(self) -> None:
        """A write went through: the failure is over, once it is older than :data:`HOLD_S`."""
        now = self._clock()
        self._probed_at = now
        if now - self._failed_at >= HOLD_S:
            self.failure = None

    def failed_seconds_ago(self) -> float:
        return self._clock() - self._failed_at


def store_health() -> StoreHealth:
    """The :class:`StoreHealth` of the app serving the current request."""
    health: StoreHealth = current_app.extensions["store_health"]
    return health
