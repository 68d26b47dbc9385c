"""Wake-ups between the processes that share one SQLite file: Unix datagram sockets.

Each store that opens a file binds a datagram socket and registers it in the directory
``<database file>-wake/`` beside the file: ``<token>.sock`` is the socket and ``<token>.peer``
a small JSON file naming its address, host, pid, the tasks its workers run and whether it
delivers cancels. After a commit the store tells each other live peer, in one datagram, what
changed (see :class:`News`): the tasks that got jobs, whether an outcome was recorded (for
``job_wait``) and which jobs an operator cancelled. News gathered while the event loop runs one
batch of tasks goes out together (the ``tell_*`` methods leave the send to the channel's own
task), so a group commit of many pushes sends one datagram per peer.

Sending never blocks and never raises into the caller: a peer whose buffer is full misses the
datagram (the poll covers it); a peer whose socket refuses (its process died) or is gone is
forgotten and its files removed. Peers on another host (a shared network filesystem) are never
sent to: their sockets are not reachable from here, and the poll serves them. A process reads
the registrations when it registers and then greets each peer (:data:`HELLO`), which makes the
peer read them again; so no send looks at the directory, except a re-read every
:data:`REFRESH_S` seconds in case a greeting was lost.

A path too long for a socket address (``sun_path``: 108 bytes) binds in Linux's abstract
namespace instead; where neither works the channel stays off and the poll does the work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import secrets
import socket
import sys
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .. import _log as log

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: Room for a socket path in ``struct sockaddr_un`` (Linux 108, macOS 104, less the NUL).
MAX_PATH = 103 if sys.platform == "darwin" else 107
#: A cancel of more jobs than this is told as "look at all yours" (keeps a datagram small).
MAX_CANCEL_IDS = 256
#: Seconds after which the registrations are re-read anyway (a greeting may have been lost).
REFRESH_S = 2.0
#: The greeting a process sends every peer when it registers (or changes its registration).
HELLO = b"hello"
#: The largest datagram read; ours stay far below it.
MAX_DATAGRAM = 65536
#: Registration files a peer writes (``<token>`` + this).
PEER_SUFFIX = ".peer"
SOCKET_SUFFIX = ".sock"


def wake_dir(database: str) -> str:
    """The directory of the sockets of the processes sharing ``database`` (an absolute path)."""
    return f"{database}-wake"


@attrs.define
class News:
    """What a commit may change for other processes; merged until it is sent."""

    #: task -> earliest run_at of the jobs it got (due ones carry their run_at too).
    tasks: dict[str, float] = attrs.field(factory=dict)
    #: The earliest ``expires_at`` among new jobs (inf: none).
    expiry: float = math.inf
    #: An outcome was recorded: ``job_wait`` callers should look.
    final: bool = False
    #: Jobs an operator cancelled (maybe while running).
    cancelled: set[int] = attrs.field(factory=set)
    #: More were cancelled than a datagram lists: every worker checks all its jobs.
    cancelled_all: bool = False

    def add_tasks(self, tasks: Iterable[str], run_at: float) -> None:
        for task in tasks:
            self.tasks[task] = min(self.tasks.get(task, math.inf), run_at)

    def add_cancelled(self, ids: Iterable[int]) -> None:
        if not self.cancelled_all:
            self.cancelled.update(ids)
            if len(self.cancelled) > MAX_CANCEL_IDS:
                self.cancelled_all, self.cancelled = True, set()

    def __bool__(self) -> bool:
        return bool(self.tasks or self.final or self.cancelled or self.cancelled_all
                    or self.expiry != math.inf)

    def encode_for(self, peer: Peer) -> bytes | None:
        """The datagram for ``peer`` (only the tasks it runs; cancels only if it takes them),
        or None if nothing here concerns it."""
        body: dict[str, Any] = {}
        tasks = self.tasks if peer.tasks is None else {
            task: at for task, at in self.tasks.items() if task in peer.tasks}
        if tasks:
            body["t"] = tasks
        if self.expiry != math.inf and peer.tasks != frozenset():
            body["x"] = self.expiry
        if self.final:
            body["f"] = 1
        if peer.cancels and (self.cancelled or self.cancelled_all):
            body["c"] = "*" if self.cancelled_all else sorted(self.cancelled)
        return json.dumps(body, separators=(",", ":")).encode() if body else None

    @classmethod
    def decode(cls, data: bytes) -> News | None:
        """The news in a datagram, or None if it is not one of ours."""
        try:
            body = json.loads(data)
            news = cls(tasks={str(k): float(v) for k, v in body.get("t", {}).items()},
                       expiry=float(body.get("x", math.inf)), final=bool(body.get("f")))
            cancelled = body.get("c")
            if cancelled == "*":
                news.cancelled_all = True
            elif cancelled is not None:
                news.cancelled = {int(i) for i in cancelled}
        except (ValueError, TypeError, AttributeError):
            return None
        return news


@attrs.frozen
class Peer:
    """Another process's registration, as read from its ``.peer`` file."""

    token: str
    address: str | bytes
    host: str
    #: The tasks it runs (None: any task; empty: it runs no worker).
    tasks: frozenset[str] | None
    #: It runs a worker that acts on operators' cancels.
    cancels: bool


class PeerChannel:
    """This store's socket, its registration, and the peers it tells of its commits.

    ``deliver(news)`` runs on the trio thread for each datagram received.
    """

    def __init__(self, database: str, deliver: Callable[[News], None]) -> None:
        self.directory = wake_dir(database)
        self.token = secrets.token_hex(8)
        self._deliver = deliver
        self._host = socket.gethostname()
        self._receiver: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._address: str | bytes = ""
        self._tasks: frozenset[str] | None = frozenset()
        self._cancels = False
        self._peers: dict[str, Peer] = {}
        self._stale = True  # re-read the registrations before the next send
        self._listed_at = -math.inf  # trio time of the last reading
        self._idle_tells = 0
        self._pending = News()
        self._news = trio.Event()
        self._scope = trio.CancelScope()
        #: Datagrams dropped because a peer's buffer was full (for tests and metrics).
        self.dropped = 0

    @property
    def active(self) -> bool:
        return self._receiver is not None

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Bind, register and start receiving; on any OS error the channel stays off (logged)."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            self._receiver, self._address = self._bind()
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
            self._register()
        except OSError as exc:
            log.event(logging.WARNING, "store.wake_channel_off", directory=self.directory,
                      error=str(exc))
            self._close_sockets()
            return
        trio.lowlevel.spawn_system_task(self._run, self._receiver,
                                        name=f"wake channel {self.token}")

    def _bind(self) -> tuple[socket.socket, str | bytes]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            path = os.path.join(self.directory, self.token + SOCKET_SUFFIX)
            address: str | bytes = path
            if len(os.fsencode(path)) > MAX_PATH:
                if not sys.platform.startswith("linux"):
                    raise OSError(errno.ENAMETOOLONG, "socket path too long", path)
                address = b"\0service-jobs-" + self.token.encode()
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        return sock, address

    def close(self) -> None:
        """Stop receiving, unregister and close (idempotent)."""
        self._scope.cancel()
        if self._receiver is None:
            return
        self._forget_files(self.token, self._address)
        self._close_sockets()

    def _close_sockets(self) -> None:
        receiver, self._receiver = self._receiver, None
        sender, self._sender = self._sender, None
        if receiver is not None:
            with contextlib.suppress(RuntimeError):  # outside trio (never opened there)
                trio.lowlevel.notify_closing(receiver)
            receiver.close()
        if sender is not None:
            sender.close()

    # -- registration -----------------------------------------------------------------------

    def set_interest(self, tasks: frozenset[str] | None, cancels: bool) -> None:
        """Say which pushes to send here (``tasks``, None: all) and whether cancels are."""
        if (tasks, cancels) == (self._tasks, self._cancels):
            return
        self._tasks, self._cancels = tasks, cancels
        if self._receiver is not None:
            try:
                self._register()
            except OSError as exc:
                log.event(logging.WARNING, "store.wake_register_failed", error=str(exc))

    def _register(self) -> None:
        """Write this process's registration, then greet every peer so that each re-reads
        the registrations: a peer never has to look at the directory to learn of a new one.
        (Whichever of two starting processes lists the directory last sees the other's file.)
        """
        address = self._address
        body = {
            "address": address if isinstance(address, str) else address.hex(),
            "abstract": not isinstance(address, str),
            "host": self._host, "pid": os.getpid(),
            "tasks": None if self._tasks is None else sorted(self._tasks),
            "cancels": self._cancels,
        }
        final = os.path.join(self.directory, self.token + PEER_SUFFIX)
        temporary = final + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(body, file)
        os.replace(temporary, final)  # atomic: readers see the old file or the new one
        self._read_peers()
        if self._sender is not None:
            for peer in list(self._peers.values()):
                self._send(self._sender, peer, HELLO)

    def _read_peers(self) -> None:
        self._stale = False
        with contextlib.suppress(RuntimeError):  # outside trio: no refresh by time then
            self._listed_at = trio.current_time()
        try:
            names = os.listdir(self.directory)
        except OSError:
            names = []
        peers: dict[str, Peer] = {}
        for name in names:
            token = name.removesuffix(PEER_SUFFIX)
            if token == name or token == self.token:
                continue
            peer = _read_peer(self.directory, token)
            if peer is not None and peer.host == self._host:
                peers[token] = peer
        self._peers = peers

    # -- sending ----------------------------------------------------------------------------

    def tell_tasks(self, tasks: Iterable[str], run_at: float, expiry: float = math.inf) -> None:
        """Jobs of ``tasks`` got due from ``run_at`` (and may expire at ``expiry``)."""
        if self._receiver is not None:
            pending = self._pending
            for task in tasks:
                pending.tasks[task] = min(pending.tasks.get(task, math.inf), run_at)
            pending.expiry = min(pending.expiry, expiry)
            self._soon()

    def tell_final(self) -> None:
        """Outcomes were recorded: the other processes' ``job_wait`` callers should look."""
        if self._receiver is not None:
            self._pending.final = True
            self._soon()

    def tell_cancelled(self, job_ids: Iterable[int]) -> None:
        """An operator cancelled ``job_ids``: the workers running any should stop them."""
        if self._receiver is not None:
            self._pending.add_cancelled(job_ids)
            self._soon()

    def _soon(self) -> None:
        """Have the channel's task send the news once the tasks running now have yielded: a
        group commit's pushes (each told by its own caller) go out as one datagram per peer.

        A process alone only keeps the news (bounded: one entry per task): a peer whose
        greeting is already in our buffer, unread, gets it when the greeting is read. It is
        dropped at the next re-read (every :data:`REFRESH_S` s, looked at every 16th time).
        """
        if self._peers or self._stale:
            if self._pending:
                self._news.set()
            return
        self._idle_tells += 1
        if self._idle_tells % 16 == 0 and trio.current_time() - self._listed_at >= REFRESH_S:
            self._stale = True
            self._news.set()

    def _flush(self) -> None:
        news, self._pending = self._pending, News()
        sender = self._sender
        if sender is None or not news:
            return
        try:
            if self._stale:
                self._read_peers()
            for peer in list(self._peers.values()):
                data = news.encode_for(peer)
                if data is not None:
                    self._send(sender, peer, data)
        except Exception as exc:  # never into the run loop: the poll covers a lost wake-up
            log.event(logging.WARNING, "store.wake_send_failed", error=str(exc))

    def _send(self, sender: socket.socket, peer: Peer, data: bytes) -> None:
        try:
            sender.sendto(data, peer.address)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1  # its buffer is full: it is busy, and its poll will look
        except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
            self._peers.pop(peer.token, None)
            self._forget_files(peer.token, peer.address)
        except OSError as exc:
            if exc.errno not in (errno.ENOBUFS, errno.EMSGSIZE):
                raise
            self.dropped += 1

    def _forget_files(self, token: str, address: str | bytes) -> None:
        for path in (os.path.join(self.directory, token + PEER_SUFFIX),
                     address if isinstance(address, str) else None):
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    # -- the channel's task -----------------------------------------------------------------

    async def _run(self, receiver: socket.socket) -> None:
        """Send what was told, deliver what arrives, until :meth:`close` (a system task: it
        never raises)."""
        with self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_loop)
                await self._receive(receiver)
                nursery.cancel_scope.cancel()

    async def _send_loop(self) -> None:
        while True:
            await self._news.wait()
            self._news = trio.Event()
            self._flush()

    async def _receive(self, receiver: socket.socket) -> None:
        while True:
            if receiver.fileno() < 0:  # closed before this task first ran
                return
            try:
                await trio.lowlevel.wait_readable(receiver)
            except (trio.ClosedResourceError, OSError, ValueError):
                return
            while True:
                try:
                    data = receiver.recv(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return
                if data == HELLO:  # a peer (re-)registered: send it what is pending
                    self._stale = True
                    self._news.set()
                    continue
                news = News.decode(data)
                if news is not None:
                    try:
                        self._deliver(news)
                    except Exception as exc:  # a system task must not raise
                        log.event(logging.ERROR, "store.wake_deliver_failed", error=repr(exc))


def _read_peer(directory: str, token: str) -> Peer | None:
    try:
        with open(os.path.join(directory, token + PEER_SUFFIX), encoding="utf-8") as file:
            body = json.load(file)
        address: str | bytes = (bytes.fromhex(body["address"]) if body.get("abstract")
                                else str(body["address"]))
        tasks = body.get("tasks")
        return Peer(token=token, address=address, host=str(body.get("host", "")),
                    tasks=None if tasks is None else frozenset(map(str, tasks)),
                    cancels=bool(body.get("cancels")))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # being written, or removed meanwhile: the next change re-reads it
