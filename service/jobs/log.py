"""Structured events: one log record per event, with its fields attached.

``record.event`` is the event name and ``record.fields`` a dict; a JSON formatter can emit them
as one line, and the plain message reads ``job.completed id=3 task=send_email``.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("service.jobs")


def event(level: int, name: str, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    text = " ".join([name, *(f"{k}={v}" for k, v in fields.items())])
    logger.log(level, text, extra={"event": name, "fields": fields})
