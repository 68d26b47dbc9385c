"""Workflows on every backend: a graph pushed in one transaction, members released, cancelled or
run despite failures as their dependencies end, whole workflows cancelled, and pruning that keeps
what a dependent still needs."""

from __future__ import annotations

import pytest
from support.conformance import (
    EMAIL,
    REPORT,
    Email,
    Listener,
    Report,
    all_jobs,
    claim,
    claim_id,
    failure,
    settle,
)

from service.jobs import (
    ErrorKind,
    InvalidWorkflow,
    JobFilter,
    JobNotFound,
    JobState,
    JobStore,
    Push,
    Workflow,
    WorkflowNotFound,
)

S = JobState


def email(name: str) -> Email:
    return Email(to=f"{name}@example.com")


async def states(backend: JobStore, ids: list[int]) -> list[JobState]:
    return [(await backend.job_get(job_id)).state for job_id in ids]


async def complete(backend: JobStore, job_id: int, result: str | None = None) -> None:
    await claim_id(backend, job_id)
    assert await settle(backend, job_id, S.COMPLETED, finished_at=backend.clock.now(),
                        result=result)


async def discard(backend: JobStore, job_id: int) -> None:
    await claim_id(backend, job_id)
    assert await settle(backend, job_id, S.DISCARDED, finished_at=backend.clock.now(),
                        error=failure("broken for good"))


def diamond(on_failure: str = "cancel") -> Workflow:
    """a -> (b, c) -> d."""
    wf = Workflow("diamond")
    a = wf.add(email("a"))
    b = wf.add(email("b"), after=[a])
    c = wf.add(email("c"), after=[a])
    wf.add(email("d"), after=[b, c], on_failure=on_failure)  # type: ignore[arg-type]
    return wf


async def test_a_workflow_is_pushed_with_members_waiting_pending_and_carrying_it(
    backend: JobStore,
) -> None:
    wf = diamond()
    ids = await backend.push_workflow(wf)

    assert wf.id is not None
    assert wf.job_ids == ids
    assert await states(backend, ids) == [S.AVAILABLE, S.PENDING, S.PENDING, S.PENDING]
    for job_id in ids:
        row = await backend.job_get(job_id)
        assert (row.workflow_id, row.workflow_name) == (wf.id, "diamond")
    assert (await backend.job_get(await backend.push(email("plain")))).workflow_id is None
    pending = await backend.job_list(JobFilter(state=S.PENDING))
    assert [row.id for row in pending] == ids[:0:-1]


async def test_a_member_is_released_when_its_last_dependency_completes(
    backend: JobStore,
) -> None:
    a, b, c, d = await backend.push_workflow(diamond())

    await complete(backend, a)
    assert await states(backend, [b, c, d]) == [S.AVAILABLE, S.AVAILABLE, S.PENDING]
    await complete(backend, b, result='{"width": 10}')
    assert await states(backend, [d]) == [S.PENDING]
    assert [row.id for row in await claim(backend, EMAIL, limit=10)] == [c]
    assert await settle(backend, c, S.COMPLETED, finished_at=backend.clock.now(), result='"c"')

    assert await states(backend, [d]) == [S.AVAILABLE]
    deps = await backend.job_dependencies(d)
    assert [(dep.id, dep.state, dep.result) for dep in deps] == [
        (b, S.COMPLETED, '{"width": 10}'), (c, S.COMPLETED, '"c"'),
    ]


async def test_a_failed_dependency_cancels_its_dependents_down_the_graph(
    backend: JobStore,
) -> None:
    a, b, c, d = await backend.push_workflow(diamond())

    await discard(backend, a)

    assert await states(backend, [b, c, d]) == [S.CANCELLED] * 3
    [entry] = (await backend.job_get(b)).errors
    assert entry.kind is ErrorKind.CANCELLED
    assert f"dependency {a} ended discarded" in entry.message
    assert f"dependency {b} ended cancelled" in (await backend.job_get(d)).errors[0].message


async def test_on_failure_run_releases_the_member_once_every_dependency_ended(
    backend: JobStore,
) -> None:
    wf = Workflow("run-anyway")
    a = wf.add(email("a"))
    b = wf.add(email("b"))
    wf.add(email("c"), after=[a, b], on_failure="run")
    a_id, b_id, c_id = await backend.push_workflow(wf)

    await discard(backend, a_id)
    assert await states(backend, [c_id]) == [S.PENDING]
    await complete(backend, b_id, result="2")

    assert await states(backend, [c_id]) == [S.AVAILABLE]
    deps = {dep.id: dep.state for dep in await backend.job_dependencies(c_id)}
    assert deps == {a_id: S.DISCARDED, b_id: S.COMPLETED}


async def test_an_operator_cancel_of_a_dependency_cancels_its_dependents(
    backend: JobStore,
) -> None:
    a, b, c, d = await backend.push_workflow(diamond())

    await backend.job_cancel(a, backend.clock.now(), "not needed")

    assert await states(backend, [a, b, c, d]) == [S.CANCELLED] * 4


async def test_a_retried_dependency_does_not_count_twice(backend: JobStore) -> None:
    wf = Workflow("retry")
    a = wf.add(email("a"))
    b = wf.add(Report(month=2))
    wf.add(email("c"), after=[a, b])
    a_id, b_id, c_id = await backend.push_workflow(wf)
    await complete(backend, a_id)

    await backend.job_retry(a_id, backend.clock.now())
    await complete(backend, a_id)

    assert await states(backend, [c_id]) == [S.PENDING]
    await complete(backend, b_id)
    assert await states(backend, [c_id]) == [S.AVAILABLE]


async def test_after_takes_ids_of_stored_jobs_settled_or_not(backend: JobStore) -> None:
    done = await backend.push(email("done"))
    await complete(backend, done)
    waiting = await backend.push(email("waiting"))
    failed = await backend.push(email("failed"))
    await backend.job_cancel(failed, backend.clock.now(), "gone")

    wf = Workflow("external")
    wf.add(email("after-done"), after=[done])
    wf.add(email("after-waiting"), after=[done, waiting])
    wf.add(email("after-failed"), after=[failed])
    wf.add(email("after-failed-run"), after=[failed], on_failure="run")
    ids = await backend.push_workflow(wf)

    assert await states(backend, ids) == [S.AVAILABLE, S.PENDING, S.CANCELLED, S.AVAILABLE]
    await complete(backend, waiting)
    assert await states(backend, ids[1:2]) == [S.AVAILABLE]


async def test_an_unknown_job_id_refuses_the_push_naming_the_member(backend: JobStore) -> None:
    wf = Workflow("bad-id")
    wf.add(email("first"))
    wf.add(email("second"), after=[999_999])

    with pytest.raises(InvalidWorkflow, match=r"member 1 \(conf.email\) of workflow 'bad-id'"
                       r".*job 999999, which does not exist") as info:
        await backend.push_workflow(wf)

    assert info.value.member == 1
    assert await all_jobs(backend) == []


async def test_an_invalid_graph_is_refused_before_anything_is_written(
    backend: JobStore,
) -> None:
    other = Workflow("other")
    foreign = other.add(email("x"))
    wf = Workflow("mixed")
    wf.add(email("ok"))
    wf.add(email("bad"), after=[foreign])
    with pytest.raises(InvalidWorkflow, match=r"member 1 .*'mixed'.*another workflow"):
        await backend.push_workflow(wf)

    big = Workflow("too-big")
    for n in range(10_001):
        big.add(email(str(n)))
    with pytest.raises(InvalidWorkflow, match="10001 members; at most 10000"):
        await backend.push_workflow(big)

    delayed = Workflow("delayed")
    first = delayed.add(email("a"))
    delayed.add(Push(task=email("b"), delay=60), after=[first])
    with pytest.raises(InvalidWorkflow, match=r"member 1 .*no delay or run_at"):
        await backend.push_workflow(delayed)

    wrong_policy = Workflow("policy")
    wrong_policy.add(email("a"), on_failure="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidWorkflow, match=r"member 0 .*on_failure must be"):
        await backend.push_workflow(wrong_policy)
    assert await all_jobs(backend) == []


async def test_a_workflow_pushed_in_a_transaction_commits_or_rolls_back_with_it(
    backend: JobStore,
) -> None:
    async with backend.transaction() as tx:
        ids = await tx.push_workflow(diamond())
    assert await states(backend, ids) == [S.AVAILABLE, S.PENDING, S.PENDING, S.PENDING]

    class Boom(Exception):
        pass

    rolled_back: list[int] = []

    async def push_then_fail() -> None:
        async with backend.transaction() as tx:
            rolled_back.extend(await tx.push_workflow(diamond()))
            raise Boom

    with pytest.raises(Boom):
        await push_then_fail()
    assert len(rolled_back) == 4
    for job_id in rolled_back:
        with pytest.raises(JobNotFound):
            await backend.job_get(job_id)


async def test_cancelling_a_workflow_cancels_every_unfinished_member_running_ones_included(
    backend: JobStore,
) -> None:
    wf = Workflow("to-cancel")
    a = wf.add(email("a"))
    wf.add(email("b"))
    wf.add(email("c"), after=[a])
    a_id, b_id, c_id = await backend.push_workflow(wf)
    await complete(backend, a_id)
    await claim_id(backend, b_id)  # running
    outsider = Workflow("outsider")
    outsider.add(email("z"), after=[c_id], on_failure="run")
    [z_id] = await backend.push_workflow(outsider)
    assert wf.id is not None

    cancelled = await backend.workflow_cancel(wf.id, backend.clock.now(), "operator says no")

    assert cancelled == [b_id, c_id]
    assert await states(backend, [a_id, b_id, c_id, z_id]) == [
        S.COMPLETED, S.CANCELLED, S.CANCELLED, S.AVAILABLE,
    ]
    assert (await backend.job_get(b_id)).lease_owner is None
    assert await backend.workflow_cancel(wf.id, backend.clock.now(), "again") == []
    with pytest.raises(WorkflowNotFound):
        await backend.workflow_cancel(wf.id + 1000, backend.clock.now(), "none")


async def test_released_members_wake_the_listeners(backend: JobStore) -> None:
    listener = Listener()
    backend.add_push_listener(listener)
    a, *_ = await backend.push_workflow(diamond())
    listener.calls.clear()

    await complete(backend, a)

    assert [tasks for tasks, _ in listener.calls] == [frozenset([EMAIL])]


async def test_the_pruner_keeps_finished_members_while_a_dependent_is_unfinished(
    backend: JobStore,
) -> None:
    a, b, c, d = await backend.push_workflow(diamond())
    now = backend.clock.now()
    await complete(backend, a)
    await complete(backend, b)

    assert await backend.job_delete_finished(S.COMPLETED, now + 1, limit=100) == 0
    await complete(backend, c)
    # b and c are still needed by d (now available); a is needed by nobody unfinished.
    assert await backend.job_delete_finished(S.COMPLETED, now + 1, limit=100) == 1
    with pytest.raises(JobNotFound):
        await backend.job_get(a)
    await complete(backend, d)

    assert await backend.job_delete_finished(S.COMPLETED, now + 1, limit=100) == 3
    assert await all_jobs(backend) == []


async def test_a_dependency_discarded_at_its_expiry_settles_its_dependents(
    backend: JobStore,
) -> None:
    wf = Workflow("expiring")
    short = wf.add(Push(task=email("short-lived"), expire_after=60))
    wf.add(email("cancelled"), after=[short])
    wf.add(Report(month=1), after=[short], on_failure="run")
    short_id, cancelled_id, runs_id = await backend.push_workflow(wf)

    await backend.job_discard_expired(backend.clock.now() + 61)

    assert await states(backend, [short_id, cancelled_id, runs_id]) == [
        S.DISCARDED, S.CANCELLED, S.AVAILABLE,
    ]


async def test_a_bulk_cancel_or_delete_of_dependencies_settles_their_dependents(
    backend: JobStore,
) -> None:
    wf = Workflow("bulk")
    first = wf.add(Report(month=1))
    second = wf.add(Report(month=2))
    wf.add(email("after-first"), after=[first])
    wf.add(email("after-second"), after=[second], on_failure="run")
    first_id, second_id, cancelled_id, runs_id = await backend.push_workflow(wf)
    now = backend.clock.now()

    await backend.job_cancel_many(JobFilter(task=REPORT, before_id=second_id), now, "bulk")
    assert await states(backend, [first_id, cancelled_id]) == [S.CANCELLED, S.CANCELLED]
    assert await states(backend, [runs_id]) == [S.PENDING]

    deleted = await backend.job_delete_many(JobFilter(task=REPORT))
    assert deleted.changed == 2
    assert await states(backend, [runs_id]) == [S.AVAILABLE]
    assert [dep.id for dep in await backend.job_dependencies(runs_id)] == []
