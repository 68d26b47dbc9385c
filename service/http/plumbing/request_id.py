"""The request id: one per request, in the ``X-Request-ID`` header, every error body and the log.

A client (or a proxy in front) may send its own ``X-Request-ID``; it is kept when it is sane --
1 to 128 characters of letters, digits and ``. _ : + / = -``, starting with a letter or a digit --
so it can never forge a log field or a header. Otherwise the server makes one up (32 hex digits).
"""

from __future__ import annotations

import re
import uuid

from quart import g, has_request_context, request

HEADER = "X-Request-ID"
#: Where :class:`.in_flight.InFlight` keeps the id it chose, in the request's ASGI scope.
SCOPE_KEY = "service.request_id"
#: Where :class:`.in_flight.InFlight` keeps the ``time.perf_counter()`` of the request's arrival.
STARTED_KEY = "service.started"

_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")


def choose(sent: str | None) -> str:
    """``sent`` if it is a sane request id, else a new one."""
    if sent is not None and _SANE.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def request_id() -> str:
    """The current request's id: the one :class:`.in_flight.InFlight` chose as the request
    arrived, else (an app served without it, as by quart's test client) chosen on first use;
    ``""`` outside a request."""
    if not has_request_context():
        return ""
    chosen: str | None = g.get("request_id")
    if chosen is None:
        kept = request.scope.get(SCOPE_KEY)
        chosen = kept if isinstance(kept, str) else choose(request.headers.get(HEADER))
        g.request_id = chosen
    return chosen
