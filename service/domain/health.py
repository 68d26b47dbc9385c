"""Whether the database takes writes: one tiny write, as every push would make."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import AppStore

_PROBE = (
    "INSERT INTO write_probe (id, probed_at) VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at"
)


async def probe_write(store: AppStore) -> None:
    """Rewrite the probe's one row in a write transaction; the store's error if it cannot.

    It fails the way a push would on a read-only or full disk, an unreachable server, or a lock
    held past the busy timeout.
    """
    async with store.transaction() as tx:
        await tx.execute(_PROBE, (store.clock.now(),))
