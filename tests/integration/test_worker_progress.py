"""Progress and checkpoints through a real TaskWorker on SQLite, under MockClock.

A report is kept in memory until the worker's next lease renewal (or the attempt's outcome)
writes it, in the statement it runs anyway; the next attempt reads the checkpoint back.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
from support.workers import running

from service.jobs import (
    Backoff,
    JobContext,
    JobProgress,
    JobState,
    JobStore,
    PayloadError,
    Task,
    TaskOptions,
    TaskWorker,
    job_json,
)
from service.jobs.testing import TEST_CONFIG, drain, run_task, sqlite_test_store, store_time

if TYPE_CHECKING:
    from pathlib import Path

    from trio.testing import MockClock


@attrs.define
class Gate:
    """Holds a task after it reported ``hold_at`` until the test releases it."""

    hold_at: int
    reported: trio.Event = attrs.field(factory=trio.Event)
    release: trio.Event = attrs.field(factory=trio.Event)
    reported_at: float = 0.0


@attrs.frozen(kw_only=True)
class Pages(Task):
    """Reads ``pages`` pages from its checkpoint on, reporting each; on its first attempt it
    fails after page ``fail_at`` (never if 0)."""

    options = TaskOptions(name="pages", max_attempts=3,
                          backoff=Backoff(base=5.0, factor=1.0, jitter=0.0))
    pages: int = 10
    fail_at: int = 0

    async def run(self, ctx: JobContext[Gate | None]) -> dict[str, Any]:
        start = 0 if ctx.checkpoint is None else ctx.checkpoint["page"]
        for page in range(start + 1, self.pages + 1):
            await ctx.progress(page / self.pages, f"page {page} of {self.pages}",
                               checkpoint={"page": page})
            gate = ctx.state
            if gate is not None and page == gate.hold_at:
                gate.reported_at = trio.current_time()
                gate.reported.set()
                await gate.release.wait()
            if page == self.fail_at and ctx.attempt == 1:
                raise RuntimeError(f"failed after page {page}")
        return {"started_after": start, "attempt": ctx.attempt}


def record_calls(store: JobStore, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Record every call of the store's engine methods (job_*, workflow_*, queue_*)."""
    for name in dir(store):
        if name.startswith(("job_", "workflow_", "queue_")):
            method = getattr(store, name)

            @functools.wraps(method)
            async def call(*args: Any, _name: str = name, _method: Any = method,
                           **kwargs: Any) -> Any:
                calls.append((_name, args + tuple(kwargs.values())))
                return await _method(*args, **kwargs)

            setattr(store, name, call)


#: What a worker calls on its own, whatever its jobs do (and the test's own reads).
UPKEEP = {"job_get", "job_claim", "job_rescue_expired", "job_promote_due", "job_next_run_at",
          "queue_limits", "job_keyed_tasks", "job_delete_finished", "job_discard_unknown"}


async def test_progress_waits_in_memory_until_the_next_lease_renewal_writes_it(
    autojump_clock: MockClock, tmp_path: Path,
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        calls: list[tuple[str, tuple[Any, ...]]] = []
        record_calls(store, calls)
        gate = Gate(hold_at=4)
        job_id = await store.push(Pages())
        worker = TaskWorker(store, [Pages], state=gate, config=TEST_CONFIG)
        async with running(worker):
            await gate.reported.wait()
            window = len(calls)

            reported = await store.job_get(job_id)
            assert reported.state == JobState.RUNNING
            assert reported.progress is None, "a report wrote to the store at once"
            assert reported.checkpoint is None

            await trio.sleep(TEST_CONFIG.lease_renew_interval + 1)
            renewed = await store.job_get(job_id)
            window_end = len(calls)
            gate.release.set()

        expected = JobProgress(fraction=0.4, message="page 4 of 10",
                               at=store_time(store, gate.reported_at))
        assert renewed.progress is not None
        assert renewed.progress.fraction == expected.fraction
        assert renewed.progress.message == expected.message
        assert renewed.progress.at == pytest.approx(expected.at, abs=1e-6)
        assert renewed.checkpoint == '{"page":4}'
        # Besides the worker's polls and upkeep, the only call in the window is the renewal
        # (one statement: see test_sqlite_query_plans), and it carried the report.
        during = [(name, args) for name, args in calls[window:window_end]
                  if name not in UPKEEP]
        assert [name for name, _ in during] == ["job_renew_leases"]
        [(_, renewal)] = [c for c in during if c[0] == "job_renew_leases"]
        assert list(renewal[3]) == [job_id]  # the progress it was given, by job id


async def test_the_last_report_is_written_with_the_outcome_and_stays_after_completion(
    autojump_clock: MockClock, tmp_path: Path,
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        calls: list[tuple[str, tuple[Any, ...]]] = []
        record_calls(store, calls)
        job_id = await store.push(Pages(pages=3))

        result = await drain(store, [Pages])

        assert result.completed == 1
        row = await store.job_get(job_id)
        assert row.state == JobState.COMPLETED
        assert row.progress is not None
        assert (row.progress.fraction, row.progress.message) == (1.0, "page 3 of 3")
        assert row.checkpoint == '{"page":3}'
        # No renewal ran while the job did: the outcome's own write carried the report.
        assert not [args for name, args in calls if name == "job_renew_leases" and args[3]]
        shown = job_json(row)["progress"]
        assert shown["fraction"] == 1.0
        assert shown["message"] == "page 3 of 3"
        assert shown["at"].endswith("+00:00")


async def test_a_retry_resumes_from_the_checkpoint_its_failed_attempt_reported(
    autojump_clock: MockClock, tmp_path: Path,
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        job_id = await store.push(Pages(pages=10, fail_at=6))

        result = await drain(store, [Pages])

        assert result.completed == 1
        row = await store.job_get(job_id)
        assert row.attempt == 2
        assert [e.message for e in row.errors] == ["failed after page 6"]
        assert row.result == '{"started_after":6,"attempt":2}'
        assert row.progress is not None
        assert row.progress.message == "page 10 of 10"


async def test_a_retried_job_shows_its_last_progress_until_the_next_attempt_reports(
    autojump_clock: MockClock, tmp_path: Path,
) -> None:
    async with sqlite_test_store(tmp_path / "jobs.db") as store:
        job_id = await store.push(Pages(pages=10, fail_at=3))
        gate = Gate(hold_at=99)  # never holds
        worker = TaskWorker(store, [Pages], state=gate, config=TEST_CONFIG)
        async with running(worker):
            while (await store.job_get(job_id)).state != JobState.RETRYABLE:
                await trio.sleep(0.1)
            row = await store.job_get(job_id)

        assert row.progress is not None
        assert row.progress.message == "page 3 of 10"
        assert row.checkpoint == '{"page":3}'


# -- run_task: the helper for task authors' own tests ----------------------------------------

async def test_run_task_lists_the_reports_and_starts_from_a_given_checkpoint() -> None:
    result = await run_task(Pages(pages=5), checkpoint={"page": 3})

    assert result.outcome == "completed"
    assert result.value == {"started_after": 3, "attempt": 1}
    assert [(r.fraction, r.message, r.checkpoint) for r in result.progress] == [
        (0.8, "page 4 of 5", {"page": 4}), (1.0, "page 5 of 5", {"page": 5})]
    assert result.checkpoint == {"page": 5}


@attrs.frozen(kw_only=True)
class Reports(Task):
    """Makes one report with the given arguments."""

    options = TaskOptions(name="reports")
    fraction: str  # float() of it: NaN and infinities cannot be a stored payload
    message: str | None = None
    bad_checkpoint: bool = False

    async def run(self, ctx: JobContext) -> None:
        if self.bad_checkpoint:
            await ctx.progress(float(self.fraction), self.message,
                               checkpoint={"handle": object()})
        else:
            await ctx.progress(float(self.fraction), self.message)


@pytest.mark.parametrize("fraction", ["-0.1", "1.01", "nan", "inf"])
async def test_a_fraction_outside_0_to_1_is_a_value_error(fraction: str) -> None:
    result = await run_task(Reports(fraction=fraction))

    assert result.outcome == "failed"
    assert isinstance(result.error, ValueError)
    assert "progress fraction must be a number from 0 to 1" in str(result.error)
    assert result.progress == ()


async def test_a_message_over_the_limit_is_a_value_error() -> None:
    result = await run_task(Reports(fraction="0.5", message="x" * 1001))

    assert isinstance(result.error, ValueError)
    assert "at most 1000 characters" in str(result.error)


async def test_a_checkpoint_the_converter_cannot_store_is_a_payload_error() -> None:
    result = await run_task(Reports(fraction="0.5", bad_checkpoint=True))

    assert isinstance(result.error, PayloadError)
    assert result.error.fields.keys() == {"checkpoint"}
    assert result.progress == ()


async def test_checkpoint_none_clears_it_and_a_report_without_one_keeps_it() -> None:
    @attrs.frozen(kw_only=True)
    class Clears(Task):
        options = TaskOptions(name="clears")

        async def run(self, ctx: JobContext) -> list[Any]:
            seen = [ctx.checkpoint]
            await ctx.progress(0.1, checkpoint={"a": 1})
            await ctx.progress(0.2)
            seen.append(ctx.checkpoint)
            await ctx.progress(0.3, checkpoint=None)
            seen.append(ctx.checkpoint)
            return seen

    result = await run_task(Clears())

    assert result.value == [None, {"a": 1}, None]
    assert [r.has_checkpoint for r in result.progress] == [True, False, True]
