"""An operator's cancel stops a running job at once in the process that cancelled, on every
backend: the task sees ``trio.Cancelled`` with no virtual time passing, and the job ends
``cancelled``, never retried."""

from __future__ import annotations

import attrs
import trio
import trio.testing
from support.waiting import wait_until
from support.workers import running

from service.jobs import (
    JobAdmin,
    JobContext,
    JobFilter,
    JobState,
    JobStore,
    Task,
    TaskOptions,
    TaskRegistry,
    TaskWorker,
    Workflow,
)
from service.jobs._cancel_delivery import CancelDelivery
from service.jobs.testing import TEST_CONFIG

#: Real seconds all tasks must stay blocked before the mock clock jumps: far longer than any
#: query, so virtual time moves only when something sleeps for nothing but time.
AUTOJUMP = 1.0


@attrs.define
class Seen:
    """What the running tasks saw: started ids, and the trio time each saw Cancelled."""

    started: dict[int, trio.Event] = attrs.field(factory=dict)
    cancelled_at: dict[int, float] = attrs.field(factory=dict)
    stopped: dict[int, trio.Event] = attrs.field(factory=dict)

    def event(self, job_id: int) -> trio.Event:
        return self.started.setdefault(job_id, trio.Event())

    def stop_event(self, job_id: int) -> trio.Event:
        return self.stopped.setdefault(job_id, trio.Event())


@attrs.frozen(kw_only=True)
class Forever(Task):
    options = TaskOptions(name="conf.forever", concurrency=10, max_attempts=5)

    n: int = 0

    async def run(self, ctx: JobContext[Seen]) -> None:
        ctx.state.event(ctx.job_id).set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            ctx.state.cancelled_at[ctx.job_id] = trio.current_time()
            ctx.state.stop_event(ctx.job_id).set()
            raise


async def _started(seen: Seen, job_ids: list[int]) -> None:
    with trio.fail_after(60):
        for job_id in job_ids:
            await seen.event(job_id).wait()


async def _stopped(seen: Seen, job_ids: list[int]) -> None:
    """Until each task saw Cancelled (60 s of virtual time: a lease renewal would take 1200)."""
    with trio.fail_after(60):
        for job_id in job_ids:
            await seen.stop_event(job_id).wait()


async def test_an_operators_cancel_stops_the_running_task_with_no_time_passing(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    seen = Seen()
    job_id = await backend.push(Forever())
    worker = TaskWorker(backend, [Forever], state=seen, config=TEST_CONFIG)
    async with running(worker):
        await _started(seen, [job_id])
        cancelled_at = trio.current_time()
        row = await JobAdmin(backend, TaskRegistry([Forever])).cancel(job_id,
                                                                      "not needed any more")
        assert row.state == JobState.CANCELLED
        await _stopped(seen, [job_id])

    assert seen.cancelled_at == {job_id: cancelled_at}  # no lease renewal needed
    job = await backend.job_get(job_id)
    assert job.state == JobState.CANCELLED
    assert job.attempt == 1  # not retried
    assert job.errors[-1].message.endswith("not needed any more")


async def test_a_bulk_cancel_stops_every_running_job_it_selects(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    seen = Seen()
    ids = await backend.push_many(Forever(n=n) for n in range(3))
    worker = TaskWorker(backend, [Forever], state=seen, config=TEST_CONFIG)
    async with running(worker):
        await _started(seen, ids)
        now = trio.current_time()
        batch = await backend.job_cancel_many(
            JobFilter(task="conf.forever", state=JobState.RUNNING), backend.clock.now(), "bulk")
        assert sorted(batch.ids) == sorted(ids)
        await _stopped(seen, ids)

    assert seen.cancelled_at == dict.fromkeys(ids, now)
    states = {(await backend.job_get(i)).state for i in ids}
    assert states == {JobState.CANCELLED}


async def test_a_workflow_cancel_stops_its_running_members_and_cancels_the_waiting_ones(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    seen = Seen()
    wf = Workflow("cancel-me")
    first = wf.add(Forever(n=1))
    second = wf.add(Forever(n=2))
    wf.add(Forever(n=3), after=[first, second])
    ids = await backend.push_workflow(wf)
    assert wf.id is not None
    worker = TaskWorker(backend, [Forever], state=seen, config=TEST_CONFIG)
    async with running(worker):
        await _started(seen, ids[:2])
        now = trio.current_time()
        cancelled = await JobAdmin(backend, TaskRegistry([Forever])).cancel_workflow(wf.id)
        await _stopped(seen, ids[:2])

    assert sorted(cancelled) == sorted(ids)
    assert seen.cancelled_at == dict.fromkeys(ids[:2], now)
    assert {(await backend.job_get(i)).state for i in ids} == {JobState.CANCELLED}


async def test_a_cancel_hint_for_a_job_that_was_not_cancelled_leaves_it_running(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    seen = Seen()
    job_id = await backend.push(Forever())
    worker = TaskWorker(backend, [Forever], state=seen, config=TEST_CONFIG)
    async with running(worker, grace=0):
        await _started(seen, [job_id])
        worker.cancels.heard(frozenset([job_id]))  # a stale or stray message
        worker.cancels.heard(None)  # "check all yours"
        await trio.testing.wait_all_tasks_blocked()
        assert seen.cancelled_at == {}
        assert worker.in_flight == 1
        assert (await backend.job_get(job_id)).state == JobState.RUNNING


@attrs.define
class FakeQueue:
    """What CancelDelivery uses of a TaskQueue: its attempts in flight and cancel_job."""

    in_flight: dict[int, object] = attrs.field(factory=dict)
    cancelled: list[int] = attrs.field(factory=list)

    def cancel_job(self, job_id: int, reason: object) -> None:
        self.cancelled.append(job_id)


async def test_a_cancel_heard_between_a_claim_and_its_attempt_still_stops_the_attempt(
    backend: JobStore, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    job_id = await backend.push(Forever())
    now = backend.clock.now()
    [claimed] = await backend.job_claim("conf.forever", "w1", 1, now, now + 60)
    await backend.job_cancel(job_id, now, "raced the claim")
    queue = FakeQueue()
    delivery = CancelDelivery(backend, {"conf.forever": queue})  # type: ignore[dict-item]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(delivery.run)
        delivery.heard(frozenset([job_id]))  # the attempt is not in flight yet
        await trio.testing.wait_all_tasks_blocked()
        assert queue.cancelled == []
        queue.in_flight[claimed.id] = object()
        delivery.claimed([claimed.id])
        await wait_until("the claimed attempt to be cancelled", lambda: queue.cancelled, bool,
                         within=10, poll=1.0)
        nursery.cancel_scope.cancel()
    assert queue.cancelled == [job_id]
