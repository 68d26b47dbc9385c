"""Wake-ups across processes and hosts: LISTEN on a dedicated connection, forward into trio.

A push NOTIFYs the schema's channel inside its transaction, so PostgreSQL delivers it at COMMIT
and never for a rollback. The payload is ``"<origin> <when> <task>"``: ``origin`` names the
store that pushed (a store ignores its own notifications, having told its listeners already);
``when`` is ``due`` if a job of that task can run now, else the earliest ``run_at`` among its new
jobs, so a delayed push wakes the scheduler and not the claimers. "Due" is decided by the pusher
and read against the receiver's clock, so clock skew between hosts cannot make a due job look
delayed.

:class:`NotifyListener` owns one thread and one connection outside the pool. The thread waits on
the socket and on a pipe (so stopping is immediate), reads the notifications that arrived, and
hands them to ``deliver`` -- which the store points at ``trio.lowlevel.TrioToken.run_sync_soon``.
When the server goes away it reconnects with backoff and LISTENs again; a notification sent
while it was away is lost, which is why the worker's poll remains as the safety net.
"""

from __future__ import annotations

import logging
import math
import os
import select
import threading
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from .. import _log as log
from .._errors import StoreError
from .._redact import redact_secrets
from .connection import connect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Conn = psycopg.Connection[tuple[object, ...]]

#: Reconnection delays grow from the first to the last, doubling.
RECONNECT_DELAYS = (0.1, 2.0)
#: The payload the ``jobs`` trigger sends when a statement leaves a job final (see schema).
FINAL_PAYLOAD = "final"
#: The ``run_at`` of a job that may run now, in payloads decoded by :func:`decode_payload`.
DUE = -math.inf
#: An operator's cancel: ``cancel/<origin>/<id>,<id>...`` (or ``*``: check every running job).
#: No spaces, so :func:`decode_payload` never mistakes it for a push.
CANCEL_PREFIX = "cancel/"
#: A cancel of more jobs than this is sent as ``*`` (a NOTIFY payload holds < 8000 bytes).
MAX_CANCEL_IDS = 256


def encode_payload(origin: str, task: str, run_at: float) -> str:
    """The payload for jobs of ``task``; ``run_at`` is :data:`DUE` for a job that can run now."""
    return f"{origin} {'due' if run_at == DUE else repr(run_at)} {task}"


def decode_payload(payload: str) -> tuple[str, str, float] | None:
    """(origin, task, run_at), or None for a payload not written by :func:`encode_payload`."""
    parts = payload.split(" ", 2)
    if len(parts) != 3:
        return None
    origin, when, task = parts
    try:
        run_at = DUE if when == "due" else float(when)
    except ValueError:
        return None
    return origin, task, run_at


def earliest_by_task(payloads: Iterable[str], ignore_origin: str) -> dict[str, float]:
    """task -> earliest run_at (maybe :data:`DUE`) in ``payloads`` not from ``ignore_origin``."""
    earliest: dict[str, float] = {}
    for payload in payloads:
        decoded = decode_payload(payload)
        if decoded is None or decoded[0] == ignore_origin:
            continue
        _, task, run_at = decoded
        earliest[task] = min(earliest.get(task, math.inf), run_at)
    return earliest


def notify_tasks(
    conn: psycopg.Connection[Any], channel: str, origin: str, earliest: dict[str, float]
) -> None:
    """NOTIFY ``channel`` of each task in ``earliest`` (task -> run_at, or ``DUE``)."""
    if earliest:
        payloads = [encode_payload(origin, task, at) for task, at in earliest.items()]
        conn.execute(
            "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            (channel, payloads),
        )


def notify_cancelled(conn: psycopg.Connection[Any], channel: str, origin: str,
                     job_ids: Iterable[int]) -> None:
    """NOTIFY ``channel`` that an operator cancelled ``job_ids`` (call inside the cancel's
    transaction: delivered at its commit), so the workers running any of them stop them."""
    ids = sorted(set(job_ids))
    if ids:
        listed = "*" if len(ids) > MAX_CANCEL_IDS else ",".join(map(str, ids))
        conn.execute("SELECT pg_notify(%s, %s)", (channel, f"{CANCEL_PREFIX}{origin}/{listed}"))


def cancelled_in(payloads: Iterable[str], ignore_origin: str) -> frozenset[int] | None:
    """The job ids the cancels among ``payloads`` (not from ``ignore_origin``) name; None if one
    says ``*`` (too many to list); empty if there is no cancel."""
    ids: set[int] = set()
    for payload in payloads:
        if not payload.startswith(CANCEL_PREFIX):
            continue
        origin, _, listed = payload.removeprefix(CANCEL_PREFIX).partition("/")
        if origin == ignore_origin:
            continue
        if listed == "*":
            return None
        ids.update(int(i) for i in listed.split(",") if i.isdigit())
    return frozenset(ids)


class NotifyListener:
    """LISTENs on ``channel`` in a thread of its own; ``deliver(payloads)`` runs in that thread."""

    def __init__(self, info: str, channel: str, deliver: Callable[[list[str]], None]) -> None:
        self._info = info
        self._channel = channel
        self._deliver = deliver
        self._conn: Conn | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        #: Times the connection was re-established after a loss (for tests and metrics).
        self.reconnects = 0

    def start(self) -> None:
        """Connect and LISTEN (blocking; raises StoreError), then loop in a new thread."""
        try:
            self._conn = self._listen()
        except BaseException:
            self._close_pipe()
            raise
        self._thread = threading.Thread(
            target=self._loop, name=f"listen {self._channel}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection (blocking, returns promptly)."""
        self._stopping = True
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        elif self._conn is not None:
            self._conn.close()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._wake_w >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _listen(self) -> Conn:
        conn = connect(self._info)
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"LISTEN failed: {redact_secrets(str(exc))}") from exc
        return conn

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if :meth:`stop` was called."""
        ready, _, _ = select.select([self._wake_r], [], [], seconds)
        return bool(ready) or self._stopping

    def _loop(self) -> None:
        delay = RECONNECT_DELAYS[0]
        conn = self._conn
        try:
            while not self._stopping:
                if conn is None:
                    try:
                        conn = self._conn = self._listen()
                    except StoreError as exc:
                        log.event(logging.WARNING, "store.listen_failed", error=str(exc),
                                  retry_in=delay)
                        if self._wait(delay):
                            return
                        delay = min(delay * 2, RECONNECT_DELAYS[1])
                        continue
                    delay = RECONNECT_DELAYS[0]
                    self.reconnects += 1
                    log.event(logging.INFO, "store.listen_resumed", channel=self._channel)
                try:
                    ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [])
                    if self._wake_r in ready:
                        return
                    payloads = [n.payload for n in conn.notifies(timeout=0)]
                    if conn.broken or conn.closed:
                        raise psycopg.OperationalError("the listening connection was closed")
                except psycopg.Error as exc:
                    log.event(logging.WARNING, "store.listen_lost", error=redact_secrets(str(exc)))
                    conn.close()
                    conn = self._conn = None
                    continue
                if payloads:
                    self._deliver(payloads)
        finally:
            if conn is not None:
                conn.close()
