"""``open_store``: the store a database URL names, for code that should not care which backend.

PostgreSQL's module is imported only when a URL names it, so a SQLite-only process never loads
psycopg.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ._errors import UnsupportedStoreURL
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._clock import Clock
    from ._migrations import Migration
    from ._runner import Runner
    from ._store import JobStore

#: A URL scheme; one letter is a Windows drive, part of a plain path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")
_SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str | os.PathLike[str]) -> str | None:
    """The SQLite database ``url`` names (a file path or ``:memory:``), or None for PostgreSQL.

    ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``, ``sqlite:///:memory:`` and a
    plain path (anything without a scheme, ``:memory:`` included) name SQLite;
    ``postgresql://...`` and ``postgres://...`` name PostgreSQL. Anything else raises
    :class:`UnsupportedStoreURL`.
    """
    if not isinstance(url, str):
        return os.fspath(url)
    if not url.strip():
        raise UnsupportedStoreURL(url, "empty database URL")
    match = _SCHEME.match(url)
    if match is None:
        return url
    scheme = match.group(1).lower()
    if scheme in ("postgresql", "postgres"):
        return None
    if scheme != "sqlite":
        raise UnsupportedStoreURL(url, f"unsupported database {scheme!r}")
    if url[: len(_SQLITE_PREFIX)].lower() != _SQLITE_PREFIX or len(url) == len(_SQLITE_PREFIX):
        raise UnsupportedStoreURL(url, "a SQLite URL needs three slashes and a path")
    return url[len(_SQLITE_PREFIX):]


def open_store(
    url: str | os.PathLike[str],
    *,
    clock: Clock | None = None,
    migrations: Iterable[Migration] = (),
    runner: Runner | None = None,
    cache_bytes: int | None = None,
    mmap_bytes: int | None = None,
    pool_size: int | None = None,
    schema: str | None = None,
    listen: bool = True,
    create: bool = True,
) -> JobStore:
    """The store ``url`` names, not yet open: open it with ``async with`` (or ``open()``).

    ``url`` is read as :func:`sqlite_path` says; :class:`UnsupportedStoreURL` (a ``ValueError``)
    for any other. ``clock`` and ``migrations`` (the app's own schema steps) go to either
    backend. Options of the other backend are ignored, so one call serves both: SQLite takes
    ``runner``, ``cache_bytes`` and ``mmap_bytes``; PostgreSQL takes ``pool_size`` (connections
    per process), ``schema`` (the schema of its tables) and ``listen`` (False: a process that
    only pushes needs no LISTEN connection). An option left None keeps the backend's default.
    ``create=False``: a SQLite file that does not exist is not created (nor its directory);
    opening raises :class:`DatabaseNotFound` naming its absolute path. PostgreSQL never creates
    a database either way.
    """
    path = sqlite_path(url)
    if path is not None:
        sqlite_options: dict[str, Any] = _given(cache_bytes=cache_bytes, mmap_bytes=mmap_bytes)
        return SQLiteStore(path, clock=clock, runner=runner, migrations=migrations,
                           create=create, **sqlite_options)
    from ._postgres import PostgresStore  # psycopg is loaded only when a URL names PostgreSQL

    pg_options: dict[str, Any] = _given(max_size=pool_size)
    return PostgresStore(os.fspath(url), clock=clock, migrations=migrations, schema=schema,
                         listen=listen, **pg_options)


def _given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}
