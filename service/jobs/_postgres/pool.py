"""A psycopg ``ConnectionPool`` driven from trio through worker threads.

Every database call runs in a worker thread (``trio.to_thread.run_sync`` with
``abandon_on_cancel=False``), so a trio cancellation never interrupts a command half-way: it is
delivered when the call returns, and a pooled connection is never left mid-command. While a call
is in flight, a ``MockClock``'s autojump is suspended (:func:`..runner.autojump_suspended`).

A :class:`trio.CapacityLimiter` with one token per pooled connection bounds the calls in flight,
and a transaction holds its token (and its connection) for its whole span, so a thread never
waits for a connection that only a waiting transaction could free.

Recovery without help: after a call saw the server go away (or the pool could not hand out a
connection), the next call first opens a probe connection. While the server is down that fails
at once with the real reason (``StoreUnavailable``); once it is back, the pool is told to
``check()`` its idle connections, dropping the dead ones and connecting anew. An idle pooled
connection whose socket turned readable (the server said goodbye) is checked before use. A
connection whose session turned out read-only is closed, so the pool replaces it.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import trio
from psycopg_pool import ConnectionPool

from .._errors import StoreError, StoreUnavailable
from .._runner import autojump_suspended, start_in_thread
from .connection import Conn, connect, is_disconnect, is_read_only, translate

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._runner import Pending

T = TypeVar("T")

#: How long the pool keeps retrying a lost connection in the background before giving up (the
#: next call that needs one starts again at once); short, so a returning server is found fast.
RECONNECT_TIMEOUT = 3.0
#: Pooled connections found dead in a row before a call gives up.
ACQUIRE_ATTEMPTS = 3


def _has_input(conn: Conn) -> bool:
    """Whether an idle connection has bytes waiting: usually the server's goodbye."""
    try:
        ready, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(ready)


class PoolDriver:
    """Runs ``fn(conn, *args)`` calls on pooled connections in worker threads."""

    def __init__(
        self, info: str, *, min_size: int, max_size: int, acquire_timeout: float, name: str
    ) -> None:
        if not 1 <= min_size <= max_size:
            raise ValueError("need 1 <= min_size <= max_size")
        self._info = info
        self.max_size = max_size
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            info,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            timeout=acquire_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            reconnect_failed=self._reconnect_failed,
            num_workers=2,
        )
        #: One token per connection: held by a call in flight or by an open transaction.
        self._slots = trio.CapacityLimiter(max_size)
        #: Threads for statements of open transactions (which hold a slot already).
        self._tx_threads = trio.CapacityLimiter(max_size)
        #: Set when the server may be gone: the next call probes before using the pool.
        self._suspect = True

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the pool's background connection work (returns at once)."""
        await self._thread(self._pool.open, limiter=self._tx_threads)

    async def aclose(self) -> None:
        """Close the pool and its connections (shielded)."""
        with trio.CancelScope(shield=True):
            await self._thread(self._pool.close, limiter=self._tx_threads)

    # -- calls ------------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` on a pooled connection in its own thread; errors translated."""
        return await self._thread(self._run_sync, fn, args, limiter=self._slots)

    async def acquire(self, setup: Callable[[Conn], None]) -> Conn:
        """A connection held across calls, after ``setup(conn)`` ran on it (one thread hop).

        For transactions: the caller must hold a slot (``async with driver.slots``) until it
        gives the connection back with :meth:`release`.
        """
        return await self._thread(self._acquire_held, setup, limiter=self._tx_threads)

    async def run_on(self, conn: Conn, fn: Callable[..., T], *args: Any) -> T:
        """``fn(conn, *args)`` on a connection the caller holds; errors translated."""
        return await self._thread(self._guarded, conn, fn, args, limiter=self._tx_threads)

    def start_on(self, conn: Conn, fn: Callable[..., T], *args: Any) -> Pending[T]:
        """:meth:`run_on`, started at once: ``await`` the result of what it returns (one call
        at a time per connection: wait for one before starting the next)."""
        return start_in_thread(self._guarded, conn, fn, args)

    async def release(self, conn: Conn, teardown: Callable[[Conn], None]) -> None:
        """``teardown(conn)``, then give the connection back to the pool, whatever happened."""
        await self._thread(self._release_held, conn, teardown, limiter=self._tx_threads)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, blocking work that needs no pooled connection, in a worker thread."""
        return await self._thread(fn, *args, limiter=self._tx_threads)

    @property
    def slots(self) -> trio.CapacityLimiter:
        """One token per connection; a transaction holds one for its whole span."""
        return self._slots

    async def _thread(
        self, fn: Callable[..., T], *args: Any, limiter: trio.CapacityLimiter
    ) -> T:
        with autojump_suspended():
            return await trio.to_thread.run_sync(
                fn, *args, abandon_on_cancel=False, limiter=limiter
            )

    # -- in the worker thread ---------------------------------------------------------------

    def _reconnect_failed(self, pool: ConnectionPool[Conn]) -> None:
        self._suspect = True

    def _probe(self) -> None:
        connect(self._info).close()  # StoreUnavailable with the reason if it cannot connect
        self._suspect = False
        self._pool.check()

    def _getconn(self) -> Conn:
        try:
            return self._pool.getconn()
        except psycopg.Error as exc:  # PoolTimeout
            self._suspect = True
            raise translate(exc) from exc

    def _acquire(self) -> Conn:
        for _ in range(ACQUIRE_ATTEMPTS):
            if self._suspect:
                self._probe()
            conn = self._getconn()
            if not _has_input(conn):
                return conn
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self._pool.putconn(conn)  # the pool drops it
                self._suspect = True  # probe: fail fast if the server is gone, else check all
                continue
            return conn
        raise StoreUnavailable("the database keeps closing new connections")

    def _guarded(self, conn: Conn, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(conn, *args)
        except psycopg.Error as exc:
            if is_disconnect(exc, conn):
                self._suspect = True
            elif is_read_only(exc):
                conn.close()  # the pool drops it; the next one may reach a writable server
            raise translate(exc) from exc
        except StoreError:
            if conn.broken or conn.closed:
                self._suspect = True
            raise

    def _acquire_held(self, setup: Callable[[Conn], None]) -> Conn:
        conn = self._acquire()
        try:
            self._guarded(conn, setup, ())
        except BaseException:
            self._pool.putconn(conn)
            raise
        return conn

    def _release_held(self, conn: Conn, teardown: Callable[[Conn], None]) -> None:
        try:
            self._guarded(conn, teardown, ())
        finally:
            self._pool.putconn(conn)

    def _run_sync(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._acquire()
        try:
            return self._guarded(conn, fn, args)
        finally:
            self._pool.putconn(conn)
