"""Structured logs: one JSON object per line on stderr, one line per event.

Every string in a line (fields, messages, tracebacks, other libraries' records) goes through
:func:`service.jobs.redact_secrets`: a URL's password never reaches the log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from .jobs import emit, redact_secrets

__all__ = ["JsonFormatter", "emit", "setup"]

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}``; ``event`` defaults to the message."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", None) or {}
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        for key, value in fields.items():
            entry.setdefault(key, value)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("event", "fields") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(_redacted(entry), default=_text, separators=(",", ":"))


def _text(value: object) -> str:
    return redact_secrets(str(value))


def _redacted(value: Any) -> Any:
    """``value`` with every string in it (keys too) redacted, however deeply nested."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


def setup(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # hypercorn's own loggers would print plain text; route them through ours.
    for name in ("hypercorn.error", "hypercorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
