"""Configuration: environment variables, each with a matching CLI flag; validated at start.

Every setting is named ``SERVICE_<NAME>`` in the environment and ``--<name>`` on the command
line (the flag wins). An invalid value raises :class:`SettingsError` naming the setting, and so
does a ``SERVICE_*`` variable that names no setting (with the closest known name).

Values arrive as strings and each is parsed on purpose by its option (sizes like ``64M``,
seconds, URLs); the parsed values are then structured into :class:`Settings` by the project's one
strict converter (unknown keys refused, no coercion), the same one that decodes task payloads.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .jobs import PayloadError, ServiceError, redact_secrets, structure_payload


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
    #: Where a separate HTTP server answers /metrics, /healthz and /readyz; None: none.
    metrics_bind: str | None = None
    #: ``text`` or ``json``; None: text when stderr is a terminal, JSON otherwise.
    log_format: str | None = None
    #: One ``http.request`` line per this many fast successful requests (errors and slow
    #: requests always get theirs); 1 logs every request.
    http_log_every: int = 100
    #: Seconds from which a request counts as slow (always logged).
    http_slow: float = 0.5
    #: Seconds an idle keep-alive connection is kept (above a load balancer's idle timeout).
    http_keep_alive: float = 75.0
    #: Seconds a request head may take from its first byte to its end (slowloris clients).
    http_head_timeout: float = 10.0
    #: Seconds a connection with a request in progress may send nothing before it is cut.
    http_read_timeout: float = 75.0
    #: Requests handled at once; more answer 503 with ``Retry-After`` at once.
    http_max_in_flight: int = 128

    @property
    def host(self) -> str:
        return split_bind(self.bind)[0]

    @property
    def port(self) -> int:
        return split_bind(self.bind)[1]


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


def split_bind(value: str, name: str = "bind") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    valid_port = port.isascii() and port.isdigit() and 0 <= int(port) <= 65535
    if not sep or not host or not valid_port:
        raise SettingsError(f"{_env(name)}: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _bind(name: str, value: str) -> str:
    split_bind(value, name)
    return value


def _optional_bind(name: str, value: str) -> str | None:
    return _bind(name, value) if value else None


LOG_FORMATS = ("text", "json")


def _log_format(name: str, value: str) -> str | None:
    if not value:
        return None
    if value.lower() not in LOG_FORMATS:
        raise SettingsError(f"{_env(name)}: expected text or json, got {value!r}")
    return value.lower()


def _database_url(name: str, value: str) -> str:
    shown = redact_secrets(value)  # error messages never show a password
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme == "sqlite":
        if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
            raise SettingsError(
                f"{_env(name)}: expected sqlite:///path/to/file.db, got {shown!r}"
            )
        return value
    if scheme in ("postgresql", "postgres"):
        try:
            host = urlsplit(value).hostname
        except ValueError:  # an unbalanced [ in the host
            host = None
        if not host and "host=" not in value:
            raise SettingsError(f"{_env(name)}: a postgresql:// URL needs a host, got {shown!r}")
        return value
    raise SettingsError(
        f"{_env(name)}: expected sqlite:///path or postgresql://..., got {shown!r}"
    )


def _smtp_url(name: str, value: str) -> str | None:
    if not value:
        return None
    shown = redact_secrets(value)  # error messages never show a password
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced [ in the host
        raise SettingsError(f"{_env(name)}: invalid host in {shown!r}") from None
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise SettingsError(
            f"{_env(name)}: expected smtp://[user:pass@]host[:port] (or smtps://,"
            f" smtp+starttls://), got {shown!r}"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise SettingsError(f"{_env(name)}: invalid port in {shown!r}") from None
    return value


def _pool_size(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100:
        raise SettingsError(f"{_env(name)}: expected an integer from 1 to 100, got {value!r}")
    return int(value)


def _max_rescues(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1000:
        raise SettingsError(f"{_env(name)}: expected an integer from 1 to 1000, got {value!r}")
    return int(value)


def _count(name: str, value: str, high: int = 1_000_000) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= high:
        raise SettingsError(f"{_env(name)}: expected an integer from 1 to {high:,}, got"
                            f" {value!r}")
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
    Option("log_format", "text or json (default: text when stderr is a terminal, JSON"
           " otherwise)", None, _log_format),
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
    Option("metrics_bind", "host:port of a separate HTTP server answering only /metrics, /healthz"
           " and /readyz (for a worker process, which has no other port; default: none)", None,
           _optional_bind),
    Option("http_log_every", "log one http.request line per this many fast successful requests"
           " (errors and slow requests are always logged; 1 = every request)", "100", _count),
    Option("http_slow", "seconds from which a request is slow: its http.request line is always"
           " logged", "0.5", _positive_seconds),
    Option("http_keep_alive", "seconds an idle keep-alive connection stays open (more than a"
           " load balancer's idle timeout, 60 s for most)", "75", _positive_seconds),
    Option("http_head_timeout", "seconds a request head may take from its first byte to its"
           " end before the connection is closed (slowloris clients)", "10", _positive_seconds),
    Option("http_read_timeout", "seconds a connection with a request in progress may send"
           " nothing before it is closed (more than the longest long-poll, 60)", "75",
           _positive_seconds),
    Option("http_max_in_flight", "requests handled at once; more answer 503 with Retry-After"
           " at once", "128", _count),
]


#: ``SERVICE_*`` variables that are not settings: the test suite reads them (the PostgreSQL server
#: of its integration tests, whether it may restart it). A shell that exports them can still run
#: the service.
NOT_SETTINGS = frozenset({"SERVICE_TEST_DATABASE_URL", "SERVICE_TEST_PG_RESTART"})

_PREFIX = "SERVICE_"
_BY_ENV = {option.env: option for option in OPTIONS}
_BY_NAME = {option.name: option for option in OPTIONS}


def load(
    overrides: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from ``environ`` (default: the process environment), then ``overrides``.

    Raises :class:`SettingsError` for an invalid value, a ``SERVICE_*`` variable that names no
    setting, or an override that names no setting.
    """
    raw = from_environment(os.environ if environ is None else environ)
    for name, value in (overrides or {}).items():
        if name not in _BY_NAME:
            raise SettingsError(_unknown_setting(_env(name)))
        if value is not None:
            raw[name] = value
    return from_strings(raw)


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``{setting name: text}`` of the ``SERVICE_*`` variables in ``environ``.

    Raises :class:`SettingsError` naming the first (in sorted order) unknown ``SERVICE_*``
    variable, so a misspelt one stops the process instead of being silently ignored.
    """
    raw: dict[str, str] = {}
    for key in sorted(environ):
        if not key.startswith(_PREFIX) or key in NOT_SETTINGS:
            continue
        option = _BY_ENV.get(key)
        if option is None:
            raise SettingsError(_unknown_setting(key))
        raw[option.name] = environ[key]
    return raw


def from_strings(raw: Mapping[str, str]) -> Settings:
    """Parse each setting's text (or its default) and structure the result into Settings."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        text = raw.get(option.name, option.default)
        values[option.name] = None if text is None else option.parse(option.name, text)
    data_dir: Path = values["data_dir"]
    if values["database_url"] is None:
        values["database_url"] = f"sqlite:///{data_dir / 'service.db'}"
    if values["mail_dir"] is None:
        values["mail_dir"] = data_dir / "mail"
    if values["upload_dir"] is None:
        values["upload_dir"] = data_dir / "uploads"
    return from_values(values)


def from_values(values: Mapping[str, Any]) -> Settings:
    """Settings from typed values, every field given, by the strict converter: ``"1"`` is not
    an int and an unknown key is refused; :class:`SettingsError` names the setting."""
    try:
        return structure_payload(dict(values), Settings, name="settings")
    except PayloadError as exc:
        path, problem = next(iter(exc.fields.items()))
        name = path.removeprefix("$.")
        where = _env(name) if name in _BY_NAME else "settings"
        raise SettingsError(f"{where}: {problem}") from None


def _unknown_setting(env: str) -> str:
    """``<env>: unknown setting[; did you mean <the closest setting>?]``."""
    suggestion = _closest(env.removeprefix(_PREFIX).upper(),
                         (known.removeprefix(_PREFIX) for known in _BY_ENV))
    hint = f"; did you mean {_PREFIX}{suggestion}?" if suggestion else ""
    return f"{env}: unknown setting{hint}"


def _closest(word: str, known: Iterable[str]) -> str | None:
    """The known word most like ``word`` (difflib's ratio of at least 0.6), else None."""
    matches = difflib.get_close_matches(word, list(known), n=1)
    return matches[0] if matches else None
