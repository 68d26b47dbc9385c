"""Which stores a scenario runs on: fresh ones, described as specs a child process can open.

``sqlite``: the engine's defaults (WAL, ``synchronous=NORMAL``). ``sqlite_full``: the same at
``synchronous=FULL`` (set through the store's own ``query``, see :mod:`bench.ours`), Huey's
durability. ``pg``: PostgreSQL in a throw-away schema, dropped afterwards.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from . import pg

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .common import Context

Spec = dict[str, Any]
LABELS = {"sqlite": "SQLite", "sqlite_full": "SQLite FULL", "pg": "PostgreSQL"}


@contextmanager
def sqlite_spec(ctx: Context, synchronous: str | None = None) -> Iterator[Spec]:
    yield {"backend": "sqlite", "path": str(ctx.scratch("jobs.db")), "synchronous": synchronous}


@contextmanager
def pg_spec(url: str) -> Iterator[Spec]:
    with pg.throwaway_schema(url) as schema:
        yield {"backend": "postgresql", "url": url, "schema": schema}


def variants(ctx: Context, names: tuple[str, ...]
             ) -> dict[str, Callable[[], AbstractContextManager[Spec]]]:
    """The requested store variants that can run here (``pg`` only if the server answers)."""
    makers: dict[str, Callable[[], AbstractContextManager[Spec]]] = {
        "sqlite": partial(sqlite_spec, ctx),
        "sqlite_full": partial(sqlite_spec, ctx, "FULL"),
    }
    if ctx.pg_url is not None:
        makers["pg"] = partial(pg_spec, ctx.pg_url)
    return {name: makers[name] for name in names if name in makers}
