"""Structured events: one log record per event, with its fields attached.

``record.event`` is the event name and ``record.fields`` a dict; a JSON formatter emits them as
one line, and the plain message reads ``job.completed id=3 task=send_email``.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("service.jobs")


def emit(log: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log the event ``name`` with ``fields`` on ``log``."""
    if not log.isEnabledFor(level):
        return
    text = " ".join([name, *(f"{k}={v}" for k, v in fields.items())])
    log.log(level, text, extra={"event": name, "fields": fields})


def event(level: int, name: str, **fields: Any) -> None:
    """An event of the jobs engine."""
    emit(logger, level, name, **fields)
