"""Configuration: environment variables, each with a matching CLI flag; validated at start.

Every setting is named ``SERVICE_<NAME>`` in the environment and ``--<name>`` on the command
line (the flag wins). An invalid value raises :class:`SettingsError` naming the setting.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .jobs import ServiceError


class SettingsError(ServiceError, ValueError):
    """A setting has an invalid value; the message names it."""


@attrs.frozen(kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    bind: str
    admin_token: str | None
    shutdown_grace: float
    smtp_url: str | None
    mail_from: str
    mail_dir: Path
    upload_dir: Path
    upload_max_bytes: int
    body_max_bytes: int
    log_level: str
    db_pool_size: int
    sqlite_cache_bytes: int = 8 * 1024**2
    sqlite_mmap_bytes: int = 0
    lease_ttl: float = 15.0
    rescue_interval: float = 5.0
    max_rescues: int = 5

    @property
    def host(self) -> str:
        return split_bind(self.bind)[0]

    @property
    def port(self) -> int:
        return split_bind(self.bind)[1]

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a ``sqlite:///`` URL, else None."""
        if not self.database_url.startswith("sqlite:"):
            return None
        return Path(self.database_url.removeprefix("sqlite:///").removeprefix("sqlite://"))


@attrs.frozen
class Option:
    name: str  # settings field; env SERVICE_<NAME>, flag --<name with dashes>
    help: str
    default: str | None
    parse: Callable[[str, str], Any]

    @property
    def env(self) -> str:
        return "SERVICE_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _text(name: str, value: str) -> str:
    return value


def _optional(name: str, value: str) -> str | None:
    return value or None


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"{_env(name)}: expected seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise SettingsError(f"{_env(name)}: expected a non-negative number, got {value!r}")
    return seconds


_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?)?\s*$", re.IGNORECASE)


def _positive_seconds(name: str, value: str) -> float:
    seconds = _seconds(name, value)
    if seconds <= 0:
        raise SettingsError(f"{_env(name)}: expected a positive number of seconds, got {value!r}")
    return seconds


def _bytes(name: str, value: str) -> int:
    match = _SIZE.match(value)
    if not match:
        raise SettingsError(
            f"{_env(name)}: expected a size like 1048576, 512k or 64M, got {value!r}"
        )
    number, unit = int(match.group(1)), (match.group(2) or "").lower()[:1]
    size = number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    if size < 1:
        raise SettingsError(f"{_env(name)}: must be at least 1 byte")
    return size


def _bytes_or_zero(name: str, value: str) -> int:
    return 0 if value.strip() == "0" else _bytes(name, value)


def split_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    valid_port = port.isascii() and port.isdigit() and 0 <= int(port) <= 65535
    if not sep or not host or not valid_port:
        raise SettingsError(f"SERVICE_BIND: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _bind(name: str, value: str) -> str:
    split_bind(value)
    return value


def _database_url(name: str, value: str) -> str:
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme == "sqlite":
        if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
            raise SettingsError(
                f"{_env(name)}: expected sqlite:///path/to/file.db, got {value!r}"
            )
        return value
    if scheme in ("postgresql", "postgres"):
        if not urlsplit(value).hostname and "host=" not in value:
            raise SettingsError(f"{_env(name)}: a postgresql:// URL needs a host, got {value!r}")
        return value
    raise SettingsError(
        f"{_env(name)}: expected sqlite:///path or postgresql://..., got {value!r}"
    )


def _smtp_url(name: str, value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise SettingsError(
            f"{_env(name)}: expected smtp://[user:pass@]host[:port] (or smtps://,"
            f" smtp+starttls://), got {value!r}"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise SettingsError(f"{_env(name)}: invalid port in {value!r}") from None
    return value


def _pool_size(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise SettingsError(f"{_env(name)}: expected an integer from 1 to 100, got {value!r}")
    return int(value)


def _max_rescues(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1000:
        raise SettingsError(f"{_env(name)}: expected an integer from 1 to 1000, got {value!r}")
    return int(value)


def _log_level(name: str, value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"{_env(name)}: expected DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return level


def _path(name: str, value: str) -> Path:
    if not value:
        raise SettingsError(f"{_env(name)}: must not be empty")
    return Path(value)


def _env(name: str) -> str:
    return "SERVICE_" + name.upper()


OPTIONS = [
    Option("data_dir", "directory for the default database, mail and uploads", "data", _path),
    Option("database_url", "sqlite:///path/to.db or postgresql://user@host/db"
           " (default: sqlite:///<data-dir>/service.db)", None, _database_url),
    Option("bind", "host:port the HTTP server listens on", "127.0.0.1:8000", _bind),
    Option("admin_token", "bearer token for the operator API; unset closes it", None, _optional),
    Option("shutdown_grace", "seconds in-flight requests and jobs get to finish on shutdown",
           "10", _seconds),
    Option("smtp_url", "deliver email by SMTP (smtp://user:pass@host:port); unset writes .eml"
           " files into the mail directory", None, _smtp_url),
    Option("mail_from", "From address of outgoing email", "service@localhost", _text),
    Option("mail_dir", "where .eml files go without SMTP (default: <data-dir>/mail)", None,
           _path),
    Option("upload_dir", "where uploads are stored (default: <data-dir>/uploads)", None, _path),
    Option("upload_max_bytes", "largest accepted upload (e.g. 64M)", "64M", _bytes),
    Option("body_max_bytes", "largest accepted JSON or form body (e.g. 1M)", "1M", _bytes),
    Option("log_level", "DEBUG, INFO, WARNING or ERROR", "INFO", _log_level),
    Option("db_pool_size", "PostgreSQL connections per process", "8", _pool_size),
    Option("sqlite_cache_bytes", "SQLite page cache per process (e.g. 64M); claims stay fast"
           " on big tables without a big cache", "8M", _bytes),
    Option("sqlite_mmap_bytes", "SQLite memory-mapped I/O (e.g. 256M; 0 = off)", "0",
           _bytes_or_zero),
    Option("lease_ttl", "seconds a claimed job's lease lasts; renewed every third of it. The job"
           " of a killed process runs again about this long after the kill", "15",
           _positive_seconds),
    Option("rescue_interval", "how often (seconds) jobs whose lease expired are returned to the"
           " queue", "5", _positive_seconds),
    Option("max_rescues", "lease expiries after which a job (that keeps killing its process) is"
           " discarded", "5", _max_rescues),
]


def load(
    overrides: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from ``environ`` (default: the process environment), then ``overrides``."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = overrides.get(option.name)
        if raw is None:
            raw = environ.get(option.env)
        if raw is None:
            raw = option.default
        values[option.name] = None if raw is None else option.parse(option.name, raw)
    data_dir: Path = values["data_dir"]
    if values["database_url"] is None:
        values["database_url"] = f"sqlite:///{data_dir / 'service.db'}"
    if values["mail_dir"] is None:
        values["mail_dir"] = data_dir / "mail"
    if values["upload_dir"] is None:
        values["upload_dir"] = data_dir / "uploads"
    if values["shutdown_grace"] is None:
        values["shutdown_grace"] = 10.0
    return Settings(**values)
