"""Operators' bulk actions on what a filter selects: batched, bounded, CAS on each job's state."""

from __future__ import annotations

import pytest
from support.conformance import (
    EMAIL,
    REPORT,
    Email,
    Report,
    Resize,
    all_jobs,
    claim_id,
    failure,
    jobs_in_states,
    make_job,
    settle,
)

import service.jobs._admin
from service.jobs import (
    CANCEL_SOURCES,
    DELETE_SOURCES,
    FAILED,
    RETRY_SOURCES,
    BulkAction,
    BulkResult,
    JobAdmin,
    JobFilter,
    JobState,
    JobStore,
    TaskRegistry,
)


def admin_of(backend: JobStore) -> JobAdmin:
    return JobAdmin(backend, TaskRegistry([Email, Report, Resize]))


async def states_by_id(backend: JobStore) -> dict[int, JobState]:
    return {row.id: row.state for row in await all_jobs(backend)}


async def test_listing_filters_by_any_of_several_states(backend: JobStore) -> None:
    by_state = await jobs_in_states(backend, JobState)

    rows = await backend.job_list(JobFilter(states=FAILED))

    assert sorted(row.id for row in rows) == sorted(by_state[s] for s in FAILED)


@pytest.mark.parametrize("action", list(BulkAction))
async def test_bulk_action_on_every_state_touches_only_the_states_it_applies_to(
    backend: JobStore, action: BulkAction
) -> None:
    by_state = await jobs_in_states(backend, JobState)
    admin = admin_of(backend)
    expected = {BulkAction.RETRY: RETRY_SOURCES, BulkAction.CANCEL: CANCEL_SOURCES,
                BulkAction.DELETE: DELETE_SOURCES}[action]
    assert await admin.bulk_count(action, JobFilter()) == len(expected)

    result = await admin.bulk(action, JobFilter())

    assert result == BulkResult(action=action, changed=len(expected))
    after = await states_by_id(backend)
    for state, job_id in by_state.items():
        if state not in expected:
            assert after[job_id] == state, f"{action} touched a {state} job"
        elif action is BulkAction.DELETE:
            assert job_id not in after
        else:
            target = JobState.AVAILABLE if action is BulkAction.RETRY else JobState.CANCELLED
            assert after[job_id] == target


async def test_bulk_retry_of_the_failed_filter_and_a_task(backend: JobStore) -> None:
    failed_email = await make_job(backend, JobState.DISCARDED, Email(to="a@example.com"))
    waiting_email = await make_job(backend, JobState.RETRYABLE, Email(to="b@example.com"))
    failed_report = await make_job(backend, JobState.DISCARDED, Report(month=1))
    done_email = await make_job(backend, JobState.COMPLETED, Email(to="c@example.com"))
    where = JobFilter(states=FAILED, task=EMAIL)
    admin = admin_of(backend)

    assert await admin.bulk_count(BulkAction.RETRY, where) == 2
    result = await admin.bulk(BulkAction.RETRY, where)

    assert result.changed == 2
    after = await states_by_id(backend)
    assert after[failed_email] == after[waiting_email] == JobState.AVAILABLE
    assert after[failed_report] == JobState.DISCARDED
    assert after[done_email] == JobState.COMPLETED


async def test_bulk_retry_counts_the_jobs_whose_max_attempts_it_raised(
    backend: JobStore,
) -> None:
    spent = await make_job(backend, JobState.DISCARDED, Resize(image="a.png"))  # 1 of 1 used
    job_id = await backend.push(Report(month=1))  # 1 of 3 used, then retryable
    await claim_id(backend, job_id)
    await settle(backend, job_id, JobState.RETRYABLE, run_at=backend.clock.now() + 60,
                 error=failure("again"))

    result = await admin_of(backend).bulk(BulkAction.RETRY, JobFilter(states=FAILED))

    assert (result.changed, result.raised) == (2, 1)
    assert (await backend.job_get(spent)).max_attempts == 2
    assert (await backend.job_get(job_id)).max_attempts == 3
    assert "1 had used all their attempts" in result.summary


async def test_bulk_cancel_records_the_reason_on_each_job(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(3)])
    other = await backend.push(Report(month=1))

    result = await admin_of(backend).bulk(BulkAction.CANCEL, JobFilter(task=EMAIL),
                                          reason="bad batch")

    assert result.changed == 3
    for job_id in ids:
        row = await backend.job_get(job_id)
        assert row.state == JobState.CANCELLED
        assert row.errors[-1].message == "bad batch"
    assert (await backend.job_get(other)).state == JobState.AVAILABLE


async def test_bulk_delete_never_deletes_a_running_job(backend: JobStore) -> None:
    running = await make_job(backend, JobState.RUNNING)
    done = await make_job(backend, JobState.COMPLETED, Email(to="x@example.com"))

    result = await admin_of(backend).bulk(BulkAction.DELETE, JobFilter(task=EMAIL))

    assert result.changed == 1
    assert list(await states_by_id(backend)) == [running]
    assert done not in await states_by_id(backend)
    nothing = await admin_of(backend).bulk(BulkAction.DELETE,
                                           JobFilter(state=JobState.RUNNING))
    assert nothing.changed == 0
    assert await admin_of(backend).bulk_count(BulkAction.DELETE,
                                              JobFilter(state=JobState.RUNNING)) == 0


async def test_bulk_works_through_more_jobs_than_one_batch(
    backend: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.jobs._admin, "BULK_BATCH", 3)
    await backend.push_many([Email(to=f"u{n}@example.com") for n in range(10)])
    calls = 0
    cancel_many = backend.job_cancel_many

    async def counted(*args: object) -> object:
        nonlocal calls
        calls += 1
        return await cancel_many(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "job_cancel_many", counted)

    result = await admin_of(backend).bulk(BulkAction.CANCEL, JobFilter())

    assert result.changed == 10
    assert calls == 4  # 3 + 3 + 3 + 1: batches, never one statement per job
    assert set((await states_by_id(backend)).values()) == {JobState.CANCELLED}


async def test_bulk_leaves_jobs_from_before_id_on_alone(backend: JobStore) -> None:
    old = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(3)])
    newer = await backend.push(Email(to="late@example.com"))
    where = JobFilter(before_id=old[-1] + 1)

    assert await admin_of(backend).bulk_count(BulkAction.DELETE, where) == 3
    result = await admin_of(backend).bulk(BulkAction.DELETE, where)

    assert result.changed == 3
    assert list(await states_by_id(backend)) == [newer]


async def test_bulk_retry_leaves_a_job_whose_unique_key_another_job_holds(
    backend: JobStore,
) -> None:
    done = await make_job(backend, JobState.COMPLETED, unique_key="monthly")
    holder = await backend.push(Email(to="someone@example.com"), unique_key="monthly")
    assert holder != done

    result = await admin_of(backend).bulk(BulkAction.RETRY,
                                          JobFilter(state=JobState.COMPLETED))

    assert (result.changed, result.skipped) == (0, 1)
    assert (await backend.job_get(done)).state == JobState.COMPLETED
    assert "left as they were" in result.summary


async def test_bulk_retry_wakes_the_tasks_it_made_available(backend: JobStore) -> None:
    from support.conformance import Listener

    await make_job(backend, JobState.DISCARDED, Report(month=1))
    listener = Listener()
    backend.add_push_listener(listener)

    await admin_of(backend).bulk(BulkAction.RETRY, JobFilter(states=FAILED))

    assert [tasks for tasks, _ in listener.calls] == [frozenset([REPORT])]
