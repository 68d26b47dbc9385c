"""The one way blocking database calls are made from trio.

:class:`ThreadRunner` (production) runs every call on one dedicated thread, so one connection is
never used by two threads and transactions never interleave. A call, once submitted, always runs
to completion: a trio cancellation is delivered after it returns, never in the middle of a
statement. While a call is in flight under ``trio.testing.MockClock`` the clock's autojump is
suspended, so virtual time does not leap while the database works.

:class:`InlineRunner` (tests) runs calls directly on the trio thread: no threads at all.
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import outcome
import trio

if TYPE_CHECKING:
    from trio.testing import MockClock

T = TypeVar("T")


class Runner(Protocol):
    """Where a store's blocking calls run, one at a time.

    A runner never abandons a call: a cancellation is delivered only once the call has
    returned. The SQLite store relies on it -- while it holds its lock, the runner is idle and
    the connection is free to use on the event loop's thread.
    """

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` where blocking is allowed; return its result or raise its error."""
        ...

    def start(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """Submit ``fn(*args)`` and return at once (calls still run one at a time, in the order
        submitted); ``await pending.result()`` for its outcome. It is never abandoned."""
        ...

    async def aclose(self) -> None:
        ...


class Pending(Generic[T]):
    """A call a runner started: :meth:`result` waits for it."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self._outcome: outcome.Outcome[T] | None = None
        self._release: Callable[[], Any] | None = None

    def deliver(self, result: outcome.Outcome[T]) -> None:
        """On the trio thread: the call's outcome."""
        self._outcome = result
        if self._release is not None:
            self._release()
        self._done.set()

    async def result(self) -> T:
        """The call's result or error, once it has returned; a cancellation is delivered after
        that (at the caller's next checkpoint), never in the middle of the call."""
        with trio.CancelScope(shield=True):
            await self._done.wait()
        assert self._outcome is not None
        return self._outcome.unwrap()


def start_in_thread(fn: Callable[..., T], *args: Any) -> Pending[T]:
    """Start ``fn(*args)`` in one of trio's worker threads and return at once (on the trio
    thread); ``await pending.result()`` for its outcome. Like a runner's calls, it is never
    abandoned, and a ``MockClock``'s autojump stays off while it runs."""
    token = trio.lowlevel.current_trio_token()
    pending: Pending[T] = Pending()
    hold = contextlib.ExitStack()
    hold.enter_context(autojump_suspended())
    pending._release = hold.close

    def call() -> outcome.Outcome[T]:
        return outcome.capture(fn, *args)

    def deliver(result: outcome.Outcome[outcome.Outcome[T]]) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(pending.deliver, result.unwrap())

    trio.lowlevel.start_thread_soon(call, deliver)
    return pending


class InlineRunner:
    """Runs calls on the trio thread (blocking it). For deterministic tests on MockClock."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            return fn(*args)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def start(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        pending: Pending[T] = Pending()
        pending.deliver(outcome.capture(fn, *args))
        return pending

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class _Hold:
    """How many thread calls hold one MockClock's autojump off, and the threshold to restore."""

    def __init__(self, saved: float) -> None:
        self.saved = saved
        self.count = 0


_HOLDS: weakref.WeakKeyDictionary[MockClock, _Hold] = weakref.WeakKeyDictionary()


def _mock_clock() -> MockClock | None:
    """The running ``MockClock``, if any. A process that never imported ``trio.testing`` (every
    production one) cannot be running one, and does not pay for importing it."""
    testing = sys.modules.get("trio.testing")
    clock = trio.lowlevel.current_clock()
    if testing is None or not isinstance(clock, testing.MockClock):
        return None
    mock: MockClock = clock
    return mock


def autojump_threshold(clock: MockClock) -> float:
    """``clock``'s autojump threshold as its owner set it: the one in force unless thread calls
    in flight hold autojump off, in which case the one they will restore."""
    hold = _HOLDS.get(clock)
    return clock.autojump_threshold if hold is None else hold.saved


def thread_call_in_flight(clock: MockClock) -> bool:
    """Whether a runner's thread call holds ``clock``'s autojump off right now."""
    return clock in _HOLDS


@contextlib.contextmanager
def autojump_suspended() -> Iterator[None]:
    """Keep a ``MockClock``'s autojump off while the block (a call into a thread) runs.

    Without it the clock leaps ahead while a task waits on a thread. Nested and concurrent holds
    share one count per clock, so the threshold is restored when the last one ends, whichever
    runner or store took it. With any other clock (production) it does nothing.
    """
    clock = _mock_clock()
    if clock is None:
        yield
        return
    hold = _HOLDS.get(clock)
    if hold is None:
        hold = _HOLDS[clock] = _Hold(clock.autojump_threshold)
        clock.autojump_threshold = math.inf
    hold.count += 1
    try:
        yield
    finally:
        hold.count -= 1
        if hold.count == 0:
            del _HOLDS[clock]
            clock.autojump_threshold = hold.saved


_Job = tuple[Callable[..., Any], tuple[Any, ...], Callable[[outcome.Outcome[Any]], None]]


class ThreadRunner:
    """Runs calls one at a time on a dedicated daemon thread."""

    def __init__(self, name: str = "service-db") -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args, deliver = item
            result = outcome.capture(fn, *args)
            del fn, args
            with contextlib.suppress(trio.RunFinishedError):
                deliver(result)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._start()
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[Any]) -> None:
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        with autojump_suspended():
            self._queue.put((fn, args, deliver))
            # Refusing the abort keeps the call atomic: cancellation lands after it returns.
            result: T = await trio.lowlevel.wait_task_rescheduled(
                lambda _raise_cancel: trio.lowlevel.Abort.FAILED
            )
            return result

    def start(self, fn: Callable[..., T], *args: Any) -> Pending[T]:
        self._start()
        token = trio.lowlevel.current_trio_token()
        pending: Pending[T] = Pending()
        hold = contextlib.ExitStack()
        hold.enter_context(autojump_suspended())
        pending._release = hold.close

        def deliver(result: outcome.Outcome[Any]) -> None:
            token.run_sync_soon(pending.deliver, result)

        self._queue.put((fn, args, deliver))
        return pending

    async def aclose(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(thread.join)
