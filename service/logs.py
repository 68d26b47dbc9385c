"""Structured logs on stderr, one line per event: JSON objects, or ``key=value`` text for people.

``SERVICE_LOG_FORMAT`` chooses (:func:`setup`): ``json``, ``text``, or by default text when
stderr is a terminal and JSON otherwise (a file, a pipe, journald, a container's log driver).
Both carry the same fields; times are ISO 8601 in UTC.

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

__all__ = ["JsonFormatter", "TextFormatter", "emit", "setup"]

_STANDARD = set(vars(logging.makeLogRecord({})))


def _entry(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, Any]:
    """``{"ts", "level", "logger", "event", ...fields, "exception"?}`` of ``record``, redacted;
    ``event`` defaults to the message."""
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
        entry["exception"] = formatter.formatException(record.exc_info)
    return _redacted(entry)  # type: ignore[no-any-return]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``{"ts", "level", "logger", "event", ...fields}``."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_entry(self, record), default=_text, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """One line for people: ``2026-05-01T12:00:03.250+00:00 INFO  job.completed id=3 ms=12.5``.

    A value with spaces, quotes or ``=`` in it is quoted (as JSON); an exception follows on the
    next lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(self, record)
        exception = entry.pop("exception", None)
        head = f"{entry.pop('ts')} {entry.pop('level').upper():<7} {entry.pop('event')}"
        entry.pop("logger")
        parts = [head, *(f"{key}={_shown(value)}" for key, value in entry.items())]
        line = " ".join(parts)
        return line if exception is None else f"{line}\n{exception}"


def _shown(value: Any) -> str:
    """A field's value in a text line: bare when it reads unambiguously, else as JSON."""
    if isinstance(value, str):
        if value and not any(c.isspace() or c in "\"=\\" for c in value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, default=_text, ensure_ascii=False, separators=(",", ":"))


def _text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
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


def setup(level: str = "INFO", log_format: str | None = None) -> None:
    """Send every logger's records to stderr, one line each: ``log_format`` ``"json"`` or
    ``"text"``; None chooses text when stderr is a terminal, else JSON."""
    if log_format is None:
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # hypercorn's own loggers would print plain text; route them through ours.
    for name in ("hypercorn.error", "hypercorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
