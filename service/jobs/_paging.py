"""Long listings a page at a time, so a million-row ``job_list`` never holds the event loop.

One statement that returns a million rows builds a million :class:`JobRow` objects in one go:
seconds of work that, on any thread, holds the GIL for long stretches and lets CPython's cyclic
collector run full passes over the growing heap (100-250 ms each, on whichever thread allocated
last). :func:`list_in_pages` reads ``PAGE`` rows per statement instead (keyset paging on the id,
as the API pages), each page built on the store's thread, with the collector paused until the
listing is done and the loop free to run between pages.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import attrs

from ._push import collector_paused

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._store import JobFilter, JobRow

#: Rows read and built per statement of a long listing: about a millisecond of work on the
#: store's thread, so the event loop never waits for the GIL for long (500 rows a page made it
#: wait up to the interpreter's 5 ms switch interval, again and again).
PAGE = 100


def _to_oldest_generation() -> None:
    """Move every object the collector tracks into its oldest generation, without a pass.

    The listing's rows outlive the pause: left in the youngest generation, the first collection
    after it would walk them all at once (~0.4 s for 100,000 rows, holding the GIL), and again
    as they age. ``freeze`` + ``unfreeze`` splices the generations' lists into the oldest one
    in constant time; young garbage cycles moved along with them wait for the next full
    collection instead of the next young one.
    """
    gc.freeze()
    gc.unfreeze()


async def list_in_pages(read: Callable[[JobFilter], Awaitable[list[JobRow]]],
                        where: JobFilter) -> list[JobRow]:
    """``read(where)``'s rows, read ``PAGE`` at a time (newest first, each page below the last
    id seen). Rows are read from successive statements: a job that changes meanwhile is listed
    once, as one of the statements saw it."""
    if where.limit <= PAGE:
        return await read(where)
    rows: list[JobRow] = []
    with collector_paused():
        page = where
        while True:
            want = min(PAGE, where.limit - len(rows))
            found = await read(attrs.evolve(page, limit=want))
            rows += found
            if len(found) < want or len(rows) >= where.limit:
                _to_oldest_generation()
                return rows
            page = attrs.evolve(where, before_id=found[-1].id)
