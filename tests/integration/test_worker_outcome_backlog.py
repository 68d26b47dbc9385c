"""Outcomes the store writes slower than jobs finish do not let claims run ahead without bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing
from conftest import EPOCH
from support.workers import running

from service.jobs import JobContext, JobState, SQLiteStore, Task, TaskOptions, TaskWorker
from service.jobs._queue import BACKLOG_SLOTS
from service.jobs._runner import InlineRunner
from service.jobs._trio_clock import TrioClock

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from service.jobs._store import SetStateIfRunning

STARTED: list[int] = []


@attrs.frozen(kw_only=True)
class Quick(Task):
    options = TaskOptions(name="backlog.quick", concurrency=3)
    n: int

    async def run(self, ctx: JobContext) -> None:
        STARTED.append(self.n)


class StalledOutcomes(SQLiteStore):
    """A store whose outcome writes wait for ``gate``."""

    gate: trio.Event

    async def job_set_state_if_running_many(
        self, outcomes: Sequence[SetStateIfRunning]
    ) -> list[bool]:
        await self.gate.wait()
        return await super().job_set_state_if_running_many(outcomes)


async def test_claims_wait_once_a_slots_worth_of_outcomes_is_waiting_to_be_written(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    STARTED.clear()
    jobs = BACKLOG_SLOTS * 3 + 10  # more than a concurrency of 3 may hold in flight
    store = StalledOutcomes(tmp_path / "jobs.db", clock=TrioClock(EPOCH), runner=InlineRunner())
    store.gate = trio.Event()
    async with store:
        await store.push_many([Quick(n=n) for n in range(jobs)])
        async with running(TaskWorker(store, [Quick])) as worker:
            try:
                await trio.sleep(60)  # many polls: nothing more is claimed while writes stall
                await trio.testing.wait_all_tasks_blocked()
                assert len(STARTED) == BACKLOG_SLOTS * 3, "running plus waiting to be written"
                assert worker.in_flight == BACKLOG_SLOTS * 3
            finally:
                store.gate.set()  # else the worker's shutdown would wait for the writes forever
            while len(STARTED) < jobs:
                await trio.sleep(1)
        counts = await store.job_count_by_state()
    assert counts == {("backlog.quick", JobState.COMPLETED): jobs}
    assert sorted(STARTED) == list(range(jobs))
