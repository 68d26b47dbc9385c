"""schemathesis hooks for tests/acceptance/test_schemathesis.py (loaded by SCHEMATHESIS_HOOKS).

``GET /api/jobs/{id}?wait=N`` long-polls up to 60 s for a job that is not final, and the run's
jobs never become final (no worker runs their tasks to the end within it). A valid ``wait`` is
therefore shortened before each call, which keeps it valid; invalid ones are sent as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: The ``wait`` (seconds) a valid generated one is shortened to.
SHORT_WAIT = 0.1


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    query = case.query
    if not isinstance(query, dict) or "wait" not in query:
        return
    try:
        seconds = float(query["wait"])
    except (TypeError, ValueError):
        return
    if SHORT_WAIT < seconds <= 60:
        query["wait"] = SHORT_WAIT
