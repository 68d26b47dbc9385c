"""``job_wait``: sleep until a job reaches a final state, woken by the outcome itself.

A store owns one :class:`OutcomeSignal` and sets it wherever it records outcomes in this process
(and, on PostgreSQL, when another process's outcome NOTIFY arrives). A waiter re-reads its job
after each wake-up, so a spurious wake-up costs one read and a missed one is impossible: the
event is taken *before* the read. Where no cross-process wake-up exists (PostgreSQL with
``listen=False``, SQLite where the wake channel is off) the waiter also polls, backing off from
:data:`POLL_DELAYS`'s first to its last delay, and only while someone waits; where the channel
may drop a datagram (SQLite), it polls slowly (:data:`CHANNEL_POLL_DELAYS`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from ._states import FINISHED

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._store import JobRow

#: The poll fallback's first and longest delay (seconds), doubling in between.
POLL_DELAYS = (0.05, 1.0)
#: The same where another process's outcome is announced (SQLite's wake channel): the poll
#: only covers a datagram lost to a full buffer.
CHANNEL_POLL_DELAYS = (1.0, 5.0)


class OutcomeSignal:
    """Wakes every current waiter; costs nothing while nobody waits."""

    def __init__(self) -> None:
        self._event = trio.Event()
        self.waiters = 0

    def set(self) -> None:
        """An outcome may have been recorded: wake the waiters (callable on the trio thread)."""
        if self.waiters:
            self._event.set()
            self._event = trio.Event()

    @property
    def event(self) -> trio.Event:
        return self._event


def check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) \
            or timeout < 0:
        raise ValueError(f"timeout must be a number >= 0, got {timeout!r}")
    return float(timeout)


async def wait_final(
    get: Callable[[int], Awaitable[JobRow]],
    signal: OutcomeSignal,
    job_id: int,
    timeout: float,  # noqa: ASYNC109 (job_wait's contract)
    *,
    poll: bool,
    delays: tuple[float, float] = POLL_DELAYS,
) -> JobRow:
    """The job once final, or as it is when ``timeout`` s (trio time) have passed.

    :class:`JobNotFound` if no job has ``job_id`` (or it is deleted while waited for).
    """
    timeout = check_timeout(timeout)
    row = await get(job_id)
    if row.state in FINISHED:
        return row
    signal.waiters += 1
    try:
        with trio.move_on_after(timeout):
            delay = delays[0]
            while True:
                event = signal.event
                row = await get(job_id)
                if row.state in FINISHED:
                    return row
                with trio.move_on_after(delay if poll else math.inf):
                    await event.wait()
                delay = min(delay * 2, delays[1])
    finally:
        signal.waiters -= 1
    return row
