"""Expiry and debounce through a real TaskWorker, on a real SQLite file in virtual time.

README, "Expiry and uniqueness": a job not started by its expiry "ends ``discarded`` with an
error of kind ``expired``" at that moment (the worker wakes for it), and "push with ``delay=30,
on_conflict="replace"`` on every edit and only the last one runs, 30 s after the last edit".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing
from support.workers import running

from service.jobs import (
    ErrorKind,
    JobContext,
    JobState,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    WorkerConfig,
)

if TYPE_CHECKING:
    from trio.testing import MockClock

#: Safety-net polls an hour apart: a job discarded on time was discarded by the worker's timer.
RARE_POLLS = WorkerConfig(schedule_interval=3600.0, poll_max=3600.0, rescue_interval=3600.0)


@attrs.frozen(kw_only=True)
class Save(Task):
    """Records (its text, trio's time when it ran) in the worker's state."""

    options = TaskOptions(name="expiry.save")
    text: str

    async def run(self, ctx: JobContext) -> None:
        ctx.state.append((self.text, trio.current_time()))


async def test_a_job_waiting_in_a_paused_queue_is_discarded_at_its_expiry(
    store: SQLiteStore, autojump_clock: MockClock
) -> None:
    ran: list[tuple[str, float]] = []
    await store.queue_set_paused(Save.options.name, True)
    async with running(TaskWorker(store, [Save], state=ran, config=RARE_POLLS)):
        pushed_at = store.clock.now()
        job_id = await store.push(Save(text="stale"), expire_after=30)
        await trio.sleep(29.9)
        assert (await store.job_get(job_id)).state == JobState.AVAILABLE
        await trio.sleep(0.2)
        row = await store.job_get(job_id)

    assert row.state == JobState.DISCARDED
    assert row.finished_at is not None
    assert row.finished_at - pushed_at < 30.001
    assert [e.kind for e in row.errors] == [ErrorKind.EXPIRED]
    assert ran == []


async def test_a_scheduled_job_expiring_before_its_run_at_never_runs(
    store: SQLiteStore, autojump_clock: MockClock
) -> None:
    ran: list[tuple[str, float]] = []
    async with running(TaskWorker(store, [Save], state=ran, config=RARE_POLLS)):
        late = await store.push(Save(text="too late"), delay=60, expire_after=30)
        on_time = await store.push(Save(text="on time"), delay=20, expire_after=30)
        await trio.sleep(120)

    assert [text for text, _ in ran] == ["on time"]
    assert (await store.job_get(late)).state == JobState.DISCARDED
    assert (await store.job_get(on_time)).state == JobState.COMPLETED


async def test_debounce_runs_only_the_last_edit_30_s_after_it_under_concurrent_pushes(
    store: SQLiteStore, autojump_clock: MockClock
) -> None:
    ran: list[tuple[str, float]] = []
    start = trio.current_time()
    ids: set[int] = set()

    async def editor(name: str, offsets: list[float]) -> None:
        for offset in offsets:
            await trio.sleep_until(start + offset)
            result = await store.push_result(Save(text=f"{name}@{offset:g}"), delay=30,
                                             unique_key="doc-7", on_conflict="replace")
            ids.add(result.row.id)

    async with running(TaskWorker(store, [Save], state=ran, config=RARE_POLLS)):
        async with trio.open_nursery() as nursery:
            # Three editors, each editing every 7-13 s for a minute: never 30 s without an edit.
            nursery.start_soon(editor, "ann", [0, 9, 20, 29, 41, 50])
            nursery.start_soon(editor, "bob", [3, 12, 25, 35, 47, 58])
            nursery.start_soon(editor, "cy", [5, 17, 30, 44, 55, 61])
        await trio.sleep(120)

    assert len(ids) == 1, "every edit landed on one job"
    [(text, when)] = ran
    assert text == "cy@61"
    assert when == start + 61 + 30
