"""Workflows run by the TaskWorker on a real SQLite file, in virtual time (MockClock): members
start only after their dependencies completed, see their results, and a fan-in callback runs
once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
from support.waiting import wait_for_job_state
from support.workers import running

from service.jobs import (
    Backoff,
    JobContext,
    JobState,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
    Workflow,
)
from service.jobs.testing import drain, run_task, sqlite_test_store

if TYPE_CHECKING:
    from pathlib import Path

    from trio.testing import MockClock

#: (event, label, attempt, trio time)
EVENTS: list[tuple[str, str, int, float]] = []
#: label -> what the member saw of its dependencies
SEEN: dict[str, tuple[dict[int, Any], list[int]]] = {}


@pytest.fixture(autouse=True)
def _clear() -> None:
    EVENTS.clear()
    SEEN.clear()


@attrs.frozen(kw_only=True)
class Step(Task):
    """Takes ``seconds``, fails its first ``failures`` attempts, returns its label."""

    options = TaskOptions(name="wf.step", concurrency=10, max_attempts=3,
                          backoff=Backoff(base=5.0, jitter=0.0))
    label: str
    seconds: float = 1.0
    failures: int = 0

    async def run(self, ctx: JobContext) -> str:
        EVENTS.append(("start", self.label, ctx.attempt, trio.current_time()))
        SEEN[self.label] = (await ctx.dependency_results(), ctx.failed_dependencies)
        await trio.sleep(self.seconds)
        if ctx.attempt <= self.failures:
            EVENTS.append(("fail", self.label, ctx.attempt, trio.current_time()))
            raise RuntimeError(f"{self.label} failed")
        EVENTS.append(("done", self.label, ctx.attempt, trio.current_time()))
        return self.label


@attrs.frozen(kw_only=True)
class Piece(Task):
    options = TaskOptions(name="wf.piece", concurrency=1000)
    n: int

    async def run(self, ctx: JobContext) -> int:
        return self.n


@attrs.frozen(kw_only=True)
class Gather(Task):
    options = TaskOptions(name="wf.gather")

    async def run(self, ctx: JobContext) -> int:
        results = await ctx.dependency_results()
        EVENTS.append(("gather", str(len(results)), ctx.attempt, trio.current_time()))
        return sum(results.values())


TASKS = [Step, Piece, Gather]


def times(event: str, label: str) -> list[float]:
    return [t for e, lbl, _, t in EVENTS if e == event and lbl == label]


async def test_a_diamond_with_a_retried_member_runs_each_step_after_its_dependencies(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    wf = Workflow("diamond")
    resize = wf.add(Step(label="resize"))
    thumb = wf.add(Step(label="thumb", seconds=2.0, failures=1), after=[resize])
    scan = wf.add(Step(label="scan", seconds=3.0), after=[resize])
    wf.add(Step(label="publish"), after=[thumb, scan])
    resize_id, thumb_id, scan_id, publish_id = await store.push_workflow(wf)

    async with running(TaskWorker(store, TASKS)):
        await wait_for_job_state(store, publish_id, JobState.COMPLETED, within=3600, poll=0.5)

    # resize 0-1; thumb fails 1-3, is retried after 5 s of backoff at 8, done at 10;
    # scan 1-4; publish starts once both are done.
    assert times("start", "resize") == [0]
    assert times("start", "thumb") == pytest.approx([1, 8], abs=0.01)
    assert times("start", "scan") == pytest.approx([1], abs=0.01)
    assert times("start", "publish") == pytest.approx([10], abs=0.01)
    assert SEEN["publish"] == ({thumb_id: "thumb", scan_id: "scan"}, [])
    assert SEEN["thumb"] == ({resize_id: "resize"}, [])
    for job_id in (resize_id, thumb_id, scan_id, publish_id):
        assert (await store.job_get(job_id)).state is JobState.COMPLETED


async def test_a_member_that_runs_despite_a_failure_sees_which_dependencies_failed(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    wf = Workflow("partial")
    good = wf.add(Step(label="good"))
    bad = wf.add(Step(label="bad", failures=3))
    wf.add(Step(label="report"), after=[good, bad], on_failure="run")
    wf.add(Step(label="never"), after=[bad])
    good_id, bad_id, report_id, never_id = await store.push_workflow(wf)

    async with running(TaskWorker(store, TASKS)):
        await wait_for_job_state(store, report_id, JobState.COMPLETED, within=3600, poll=0.5)

    assert SEEN["report"] == ({good_id: "good"}, [bad_id])
    order = [(e, label) for e, label, _, _ in EVENTS]
    assert order.index(("start", "report")) > max(
        n for n, event in enumerate(order) if event == ("fail", "bad")
    )
    assert (await store.job_get(never_id)).state is JobState.CANCELLED
    assert "never" not in SEEN


async def test_a_fan_in_of_ten_thousand_members_releases_its_callback_once(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    wf = Workflow("fan-in")
    pieces = [wf.add(Piece(n=n)) for n in range(9_999)]
    wf.add(Gather(), after=pieces)
    ids = await store.push_workflow(wf)
    assert len(ids) == 10_000

    async with running(TaskWorker(store, TASKS)):
        await wait_for_job_state(store, ids[-1], JobState.COMPLETED, within=3600, poll=0.5)

    assert [(e, label) for e, label, _, _ in EVENTS] == [("gather", "9999")]
    assert (await store.job_get(ids[-1])).result == str(sum(range(9_999)))


async def test_drain_runs_a_workflow_to_its_end_in_virtual_time(
    autojump_clock: MockClock, tmp_path: Path,
) -> None:
    """The README's example of a MockClock test of a workflow."""
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        wf = Workflow("publish")
        resize = wf.add(Step(label="resize"))
        thumb = wf.add(Step(label="thumb", failures=1), after=[resize])
        scan = wf.add(Step(label="scan"), after=[resize])
        wf.add(Step(label="publish"), after=[thumb, scan])
        *_, publish = await store.push_workflow(wf)

        result = await drain(store, [Step])

        assert result.completed == 4
        assert (await store.job_get(publish)).state is JobState.COMPLETED
        assert times("start", "publish") == pytest.approx([8], abs=0.01)


async def test_run_task_hands_a_member_the_dependency_results_it_is_given() -> None:
    result = await run_task(Step(label="alone", seconds=0),
                            dependency_results={3: "resize", 4: None}, failed_dependencies=[5])

    assert result.outcome == "completed"
    assert SEEN["alone"] == ({3: "resize", 4: None}, [5])
