"""A worker's heartbeat, in virtual time on a real SQLite file: written at start and after every
lease-renewal tick with what the worker has in flight, its clean stop recorded, old ones pruned."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import attrs
import trio
from support.workers import running

from service.jobs import (
    STALE_BEATS,
    JobContext,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerBeat,
    WorkerConfig,
    WorkerStatus,
    worker_status,
)

if TYPE_CHECKING:
    from trio.testing import MockClock

RELEASE = trio.Event()


@attrs.frozen(kw_only=True)
class Hold(Task):
    options = TaskOptions(name="beat.hold")

    async def run(self, ctx: JobContext) -> None:
        await RELEASE.wait()


async def test_a_worker_beats_with_each_lease_renewal_and_records_its_stop(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    global RELEASE
    RELEASE = trio.Event()
    config = WorkerConfig(lease_renew_interval=5.0)
    worker = TaskWorker(store, [Hold], config=config, owner="me")
    started = store.clock.now()

    async with running(worker):
        [row] = await store.worker_list()
        assert (row.owner, row.host, row.pid) == ("me", socket.gethostname(), os.getpid())
        assert (row.tasks, row.in_flight, row.interval) == (("beat.hold",), 0, 5.0)
        assert row.started_at == row.seen_at == started
        await store.push(Hold())
        await trio.sleep(5.5)
        [row] = await store.worker_list()
        assert (row.in_flight, row.seen_at) == (1, started + 5.0)
        assert worker_status(row, store.clock.now()) is WorkerStatus.LIVE
        RELEASE.set()
        await trio.sleep(5)

    [row] = await store.worker_list()
    assert row.in_flight == 0
    assert row.stopped_at == store.clock.now()
    assert worker_status(row, store.clock.now()) is WorkerStatus.STOPPED


async def test_a_silent_worker_is_gone_and_then_forgotten(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    await store.worker_beat(WorkerBeat(owner="killed", host="h", pid=9, tasks=(), in_flight=1,
                                       started_at=now - 3 * 86400, seen_at=now - 2 * 86400,
                                       interval=5.0))
    [row] = await store.worker_list()
    assert worker_status(row, row.seen_at + STALE_BEATS * 5.0) is WorkerStatus.LIVE
    assert worker_status(row, row.seen_at + STALE_BEATS * 5.0 + 0.1) is WorkerStatus.GONE

    async with running(TaskWorker(store, [Hold], owner="me")):
        await trio.sleep(1)  # the pruner's first round runs at start
        assert [r.owner for r in await store.worker_list()] == ["me"]
