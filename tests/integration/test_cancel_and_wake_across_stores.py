"""Wake-ups and operators' cancels between processes: two stores on one SQLite file (or one
PostgreSQL schema) stand for two processes. Every wake-up here arrives with no virtual time
passing: no poll step, no lease renewal."""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing
from support.postgres import require_postgres, schema_store
from support.workers import running

from service.jobs import (
    InlineRunner,
    JobContext,
    JobState,
    JobStore,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    TrioClock,
)
from service.jobs._sqlite.peers import HELLO, News, wake_dir

from .conformance.test_cancel_running import Forever, Seen
from .conformance.test_cancel_running import _started as started
from .conformance.test_cancel_running import _stopped as stopped

if TYPE_CHECKING:
    from pathlib import Path

EPOCH = 1_800_000_000.0
#: Real seconds all tasks must stay blocked before the mock clock jumps: far longer than a
#: query, a datagram or a NOTIFY, so virtual time moves only for a poll or a renewal.
AUTOJUMP = 1.0


def _sqlite(path: Path) -> SQLiteStore:
    return SQLiteStore(path, clock=TrioClock(EPOCH), runner=InlineRunner())


def _fake_peer(directory: str, token: str, *, tasks: list[str] | None) -> socket.socket:
    """A peer registered as another process would: a bound socket nobody reads from, its
    registration file, and a greeting to the peers already there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = os.path.join(directory, f"{token}.sock")
    sock.bind(path)
    with open(os.path.join(directory, f"{token}.peer"), "w", encoding="utf-8") as file:
        json.dump({"address": path, "host": socket.gethostname(), "pid": 1, "tasks": tasks,
                   "cancels": True}, file)
    for name in os.listdir(directory):
        if name.endswith(".sock") and name != f"{token}.sock":
            sock.sendto(HELLO, os.path.join(directory, name))
    return sock


def _datagrams(sock: socket.socket) -> list[News]:
    sock.setblocking(False)
    got = []
    while True:
        try:
            news = News.decode(sock.recv(65536))
        except BlockingIOError:
            return got
        assert news is not None
        got.append(news)


async def _cancel_elsewhere(worker_store: JobStore, operator_store: JobStore) -> None:
    seen = Seen()
    job_id = await operator_store.push(Forever())
    worker = TaskWorker(worker_store, [Forever], state=seen)  # default renewals: every 5 s
    async with running(worker):
        await started(seen, [job_id])
        at = trio.current_time()
        await operator_store.job_cancel(job_id, operator_store.clock.now(), "stop")
        await stopped(seen, [job_id])
    assert seen.cancelled_at == {job_id: at}
    assert (await operator_store.job_get(job_id)).state == JobState.CANCELLED


async def test_sqlite_push_wakes_the_worker_of_its_task_in_another_store_at_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    heard: list[tuple[frozenset[str], float]] = []
    async with _sqlite(tmp_path / "jobs.db") as pusher, _sqlite(tmp_path / "jobs.db") as other:
        other.add_push_listener(lambda tasks, at: heard.append((tasks, at)), tasks=["wanted"])
        start = trio.current_time()
        await pusher.push(Forever())  # conf.forever: not a task `other` runs
        await trio.testing.wait_all_tasks_blocked()
        assert heard == []
        await pusher.push_many([Wanted(n=n) for n in range(3)])
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == start
    assert heard == [(frozenset(["wanted"]), EPOCH)]  # one datagram for the three jobs


@attrs.frozen(kw_only=True)
class Wanted(Task):
    options = TaskOptions(name="wanted")

    n: int

    async def run(self, ctx: JobContext) -> None:
        pass


async def test_sqlite_cancel_in_one_store_stops_the_job_running_under_another_at_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    async with _sqlite(tmp_path / "jobs.db") as worker_store, \
            _sqlite(tmp_path / "jobs.db") as operator_store:
        await _cancel_elsewhere(worker_store, operator_store)


async def test_postgres_cancel_in_one_store_stops_the_job_running_under_another_at_once(
    mock_clock: trio.testing.MockClock,
) -> None:
    require_postgres()
    mock_clock.autojump_threshold = AUTOJUMP
    async with schema_store(clock=TrioClock(EPOCH)) as worker_store, \
            schema_store(worker_store.schema, clock=TrioClock(EPOCH)) as operator_store:
        await _cancel_elsewhere(worker_store, operator_store)


async def test_a_dead_peers_socket_is_skipped_and_removed(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    heard: list[frozenset[str]] = []
    async with _sqlite(tmp_path / "jobs.db") as pusher, _sqlite(tmp_path / "jobs.db") as other:
        other.add_push_listener(lambda tasks, at: heard.append(tasks))
        directory = wake_dir(str(tmp_path / "jobs.db"))
        _fake_peer(directory, "deadbeef00000000", tasks=None).close()  # its process was killed
        await pusher.push(Forever())
        await trio.testing.wait_all_tasks_blocked()
        left = sorted(os.listdir(directory))
    assert heard == [frozenset(["conf.forever"])]  # the live peer still heard of it
    assert not any(name.startswith("deadbeef") for name in left)


async def test_a_peer_with_a_full_buffer_misses_datagrams_and_pushes_go_on(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    async with _sqlite(tmp_path / "jobs.db") as pusher:
        directory = wake_dir(str(tmp_path / "jobs.db"))
        busy = _fake_peer(directory, "b0b0b0b0b0b0b0b0", tasks=None)
        try:
            for n in range(2000):
                await pusher.push(Forever(n=n))
                await trio.testing.wait_all_tasks_blocked()  # one commit, one datagram
            got = _datagrams(busy)
        finally:
            busy.close()
        assert await pusher.job_count_by_state() == {("conf.forever", JobState.AVAILABLE): 2000}
    assert 0 < len(got) < 2000  # the buffer filled, the rest were dropped, no push failed
    assert all(news.tasks == {"conf.forever": EPOCH} for news in got)


async def test_a_store_closed_at_once_leaves_no_socket_and_no_error(tmp_path: Path) -> None:
    for _ in range(3):
        async with SQLiteStore(tmp_path / "jobs.db"):
            pass  # closed before its receiving task first ran
    await trio.testing.wait_all_tasks_blocked()
    assert os.listdir(wake_dir(str(tmp_path / "jobs.db"))) == []


async def test_a_data_directory_too_deep_for_socket_paths_still_gets_wake_ups(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    heard: list[frozenset[str]] = []
    async with _sqlite(deep / "jobs.db") as pusher, _sqlite(deep / "jobs.db") as other:
        other.add_push_listener(lambda tasks, at: heard.append(tasks))
        await pusher.push(Forever())
        await trio.testing.wait_all_tasks_blocked()
        names = os.listdir(wake_dir(str(deep / "jobs.db")))
    assert heard == [frozenset(["conf.forever"])]
    assert names
    assert all(name.endswith(".peer") for name in names)  # abstract sockets: no socket files
