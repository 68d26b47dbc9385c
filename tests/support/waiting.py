"""Polling helpers for tests that wait on a job run by a real worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

T = TypeVar("T")

POLL_S = 0.05
TIMEOUT_S = 10


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    """Call ``check`` every 50 ms until it returns something other than None or False.

    Fails (``trio.TooSlowError``) after 10 s.
    """
    with trio.fail_after(TIMEOUT_S):
        while True:
            result = await check()
            if result is not None and result is not False:
                return result
            await trio.sleep(POLL_S)
