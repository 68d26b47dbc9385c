"""Bounded polling for tests that wait on something another task or process does.

Every wait has a limit, in trio's time: virtual under ``MockClock`` (the autojump clock gets
there at once), real otherwise. A wait that runs out fails with :class:`WaitTimedOut`, an
``AssertionError`` that names what was awaited and the last value seen.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, TypeVar, cast

import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from service.jobs import JobRow, JobState, JobStore

T = TypeVar("T")

POLL_S = 0.05
TIMEOUT_S = 10


class WaitTimedOut(AssertionError, trio.TooSlowError):
    """A bounded wait ran out (also a ``trio.TooSlowError``, as ``trio.fail_after`` raises)."""


_NOTHING = object()


def _truthy(value: object) -> bool:
    return value is not None and value is not False


async def wait_until(
    what: str,
    probe: Callable[[], Awaitable[T] | T],
    done: Callable[[T], bool] = _truthy,
    *,
    within: float = TIMEOUT_S,
    poll: float = POLL_S,
) -> T:
    """Call ``probe`` every ``poll`` s until ``done(value)``; that value.

    ``done`` defaults to "neither None nor False". After ``within`` s fails with
    :class:`WaitTimedOut`: "timed out after N s waiting for <what>; last seen: <value>".
    """
    last: object = _NOTHING
    with trio.move_on_after(within):
        while True:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            last = value
            if done(cast("T", value)):
                return cast("T", value)
            await trio.sleep(poll)
    seen = "nothing (the first probe had not returned)" if last is _NOTHING else repr(last)
    raise WaitTimedOut(f"timed out after {within:g} s waiting for {what}; last seen: {seen}")


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str | None = None, within: float = TIMEOUT_S
) -> T:
    """Call ``check`` every 50 ms until it returns something other than None or False.

    Fails (:class:`WaitTimedOut`, also a ``trio.TooSlowError``) after 10 s.
    """
    name = what or getattr(check, "__name__", "the check")
    return cast("T", await wait_until(name, check, within=within))


async def wait_for_job_state(
    store: JobStore, job_id: int, *states: JobState, within: float = TIMEOUT_S,
    poll: float = POLL_S,
) -> JobRow:
    """Poll ``store`` until job ``job_id`` is in one of ``states``; its row."""

    async def state() -> JobRow:
        return await store.job_get(job_id)

    wanted = " or ".join(s.value for s in states)
    row = await wait_until(f"job {job_id} to be {wanted}", state,
                           lambda row: row.state in states, within=within, poll=poll)
    return row


async def wait_for_status(
    client: httpx.AsyncClient, path: str, status: int, *, within: float, poll: float = 0.1
) -> None:
    """Poll ``GET path`` until it answers ``status``; fails with the last status and body."""

    async def answer() -> tuple[int, str]:
        response = await client.get(path)
        return response.status_code, response.text[:300]

    await wait_until(f"GET {path} to answer {status}", answer, lambda seen: seen[0] == status,
                     within=within, poll=poll)
