"""Database failures as clients see them, and as the log tells them.

A client whose request failed on the database learns only that, and what kind of failure it is
(:func:`public_reason`): "the database is unavailable: its disk is full, no space left
(SQLITE_FULL)". Never the driver's text, which names hosts, ports, database names, users and
file paths.

The detail goes to the log instead, as ``http.store_error`` with the request id, through
:class:`StoreOutage`: the first failure of an outage is logged at once, later ones at most once
every :data:`LOG_INTERVAL_S`, each line saying how many were not logged since the one before
(``suppressed``). During an outage every request fails, so logging each one would flood the log.
An outage ends at the first success -- ``/readyz`` answering 200, or a write request (``POST``,
``PUT``, ``PATCH``, ``DELETE``) answered below 400 -- which logs ``http.store_recovered`` with
the count of failures and how long it lasted; the next failure starts a new outage.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import TYPE_CHECKING, Any

from quart import current_app

from ...jobs import emit

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("service.http")

#: During an outage, at most one ``http.store_error`` line per this many seconds.
LOG_INTERVAL_S = 10.0

#: What kind of failure a driver message describes, by the words in it: (words, description).
_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("is full", "disk full", "diskfull", "no space left", "could not extend"),
     "its disk is full, no space left"),
    (("read-only", "readonly"), "it is read-only"),
    (("disk i/o",), "disk I/O error"),
    (("locked", "busy", "deadlock"), "it is busy"),
    (("timeout", "timed out"), "it did not answer in time"),
    (("connect", "connection", "unable to open", "could not translate host"),
     "it cannot be reached"),
)
#: SQLite's error code name, which the SQLite store appends to its messages.
_CODE = re.compile(r"\bSQLITE_[A-Z_]+\b")


def public_reason(detail: str) -> str:
    """What a client may know of the database failure ``detail``: ``": <kind> (<code>)"``, or
    less, or ``""`` -- never the detail itself."""
    lowered = detail.lower()
    kind = next((text for words, text in _KINDS if any(word in lowered for word in words)), "")
    code = _CODE.search(detail)
    if code is not None:
        kind = f"{kind} ({code.group()})" if kind else f"({code.group()})"
    return f": {kind}" if kind else ""


class StoreOutage:
    """Rate-limited logging of the database failures that requests of this process saw."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, interval: float = LOG_INTERVAL_S
    ) -> None:
        self._clock = clock
        self.interval = interval
        #: When the current outage began (its first failure); None while all is well.
        self.started_at: float | None = None
        #: Failures in the current outage, and those of them not logged yet.
        self.failures = 0
        self.suppressed = 0
        self._logged_at = -math.inf

    def failed(self, detail: str, **fields: Any) -> None:
        """A request failed on the database: log it now, or count it for the next line."""
        now = self._clock()
        if self.started_at is None:
            self.started_at, self.failures, self.suppressed = now, 0, 0
            self._logged_at = -math.inf
        self.failures += 1
        if now - self._logged_at < self.interval:
            self.suppressed += 1
            return
        emit(logger, logging.WARNING, "http.store_error", error=detail, **fields,
             suppressed=self.suppressed, outage_failures=self.failures,
             outage_s=round(now - self.started_at, 3))
        self._logged_at = now
        self.suppressed = 0

    def succeeded(self) -> None:
        """The database worked: the outage, if any, is over."""
        if self.started_at is None:
            return
        now = self._clock()
        emit(logger, logging.INFO, "http.store_recovered", failures=self.failures,
             suppressed=self.suppressed, outage_s=round(now - self.started_at, 3))
        self.started_at = None
        self.failures = self.suppressed = 0


def store_outage() -> StoreOutage:
    """The :class:`StoreOutage` of the app serving the current request."""
    outage: StoreOutage = current_app.extensions["store_outage"]
    return outage
