"""Which requests get an ``http.request`` log line: every error and every slow request, and one
in ``every`` of the others.

Formatting and writing a JSON line costs a request about as much as the rest of our own code
on the push path, so fast successful requests are sampled: the first one, then one in
``SERVICE_HTTP_LOG_EVERY`` (default 100), each such line saying ``sampled=<every>`` (it stands
for that many requests). A request that answers 400 or more, or takes ``SERVICE_HTTP_SLOW``
seconds or longer, always gets its line. ``/metrics`` counts every request either way
(``service_http_requests_total``).
"""

from __future__ import annotations

import logging

from ...jobs import emit

logger = logging.getLogger("service.http")


class AccessLog:
    """Logs ``http.request`` lines as the module says; one per app."""

    def __init__(self, every: int, slow: float) -> None:
        self.every = every
        self.slow = slow
        self._skipped = every - 1  # the first fast request is logged

    def should_log(self, status: int, seconds: float) -> bool:
        """Whether this request gets a line (counts it among the sampled ones if not)."""
        if status >= 400 or seconds >= self.slow:
            return True
        if self._skipped + 1 >= self.every:
            self._skipped = 0
            return True
        self._skipped += 1
        return False

    def request(self, *, method: str, path: str, route: str, status: int, seconds: float,
                request_id: str) -> None:
        if not logger.isEnabledFor(logging.INFO) or not self.should_log(status, seconds):
            return
        sampled = {} if status >= 400 or seconds >= self.slow or self.every == 1 else {
            "sampled": self.every}
        emit(logger, logging.INFO, "http.request", method=method, path=path, route=route,
             status=status, ms=round(seconds * 1000, 2), request_id=request_id, **sampled)
