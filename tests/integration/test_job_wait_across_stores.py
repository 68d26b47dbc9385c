"""``job_wait`` woken by an outcome another store recorded: NOTIFY on PostgreSQL, the wake
channel's datagram on SQLite, the poll where the channel is off (two stores on one file stand
for two processes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing
from support.conformance import make_job, settle
from support.postgres import require_postgres, schema_store

from service.jobs import InlineRunner, JobRow, JobState, JobStore, SQLiteStore, TrioClock
from service.jobs._waiting import POLL_DELAYS

if TYPE_CHECKING:
    from pathlib import Path

EPOCH = 1_800_000_000.0
#: Real seconds all tasks must stay blocked before the mock clock jumps: far longer than a
#: query or a NOTIFY's delivery, so virtual time moves only for a waiter's poll.
AUTOJUMP = 0.5


async def wait_for_other(waiter: JobStore, other: JobStore) -> tuple[JobRow, float]:
    """``waiter`` waits for a job ``other`` completes; the row and the virtual time it took."""
    job_id = await make_job(other, JobState.RUNNING)
    result: list[JobRow] = []

    async def wait() -> None:
        result.append(await waiter.job_wait(job_id, 30))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        await settle(other, job_id, JobState.COMPLETED, finished_at=other.clock.now(), result="7")
    return result[0], trio.current_time() - start


async def test_postgres_wakes_a_waiter_in_another_store_by_notify(
    mock_clock: trio.testing.MockClock,
) -> None:
    require_postgres()
    mock_clock.autojump_threshold = AUTOJUMP
    async with schema_store(clock=TrioClock(EPOCH)) as waiter, \
            schema_store(waiter.schema, clock=TrioClock(EPOCH)) as other:
        row, took = await wait_for_other(waiter, other)

    assert row.state == JobState.COMPLETED
    assert row.result == "7"
    assert took == 0  # no poll step: the NOTIFY from the outcome's transaction woke it


async def test_sqlite_wakes_a_waiter_in_another_store_by_datagram(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    path = tmp_path / "jobs.db"
    async with SQLiteStore(path, clock=TrioClock(EPOCH), runner=InlineRunner()) as waiter, \
            SQLiteStore(path, clock=TrioClock(EPOCH), runner=InlineRunner()) as other:
        row, took = await wait_for_other(waiter, other)

    assert row.state == JobState.COMPLETED
    assert row.result == "7"
    assert took == 0  # no poll step: the outcome's datagram woke it


async def test_sqlite_waiter_sees_the_outcome_by_polling_when_the_channel_is_off(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    path = tmp_path / "jobs.db"
    (tmp_path / "jobs.db-wake").write_text("a file where the socket directory should be")
    async with SQLiteStore(path, clock=TrioClock(EPOCH), runner=InlineRunner()) as waiter, \
            SQLiteStore(path, clock=TrioClock(EPOCH), runner=InlineRunner()) as other:
        row, took = await wait_for_other(waiter, other)

    assert row.state == JobState.COMPLETED
    assert 0 < took <= POLL_DELAYS[0]  # the first poll saw it
