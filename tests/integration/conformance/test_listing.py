"""Listing jobs (filters, cursor, newest first) and counting them by task and state."""

from __future__ import annotations

import gc

import pytest
from support.conformance import EMAIL, REPORT, Email, Report, jobs_in_states, make_job

from service.jobs import JobFilter, JobState, JobStore
from service.jobs import _paging as paging


async def test_job_list_is_newest_first(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(4)])

    rows = await backend.job_list(JobFilter())

    assert [row.id for row in rows] == sorted(ids, reverse=True)
    assert rows[0] == await backend.job_get(ids[-1])


async def test_job_list_of_an_empty_store_is_empty(backend: JobStore) -> None:
    assert await backend.job_list(JobFilter()) == []


async def test_job_list_filters_by_state(backend: JobStore) -> None:
    # A pending job needs a running blocker (see make_job): listed by state in test_workflows.
    by_state = await jobs_in_states(backend, [s for s in JobState if s is not JobState.PENDING])

    for state, job_id in by_state.items():
        rows = await backend.job_list(JobFilter(state=state))
        assert [row.id for row in rows] == [job_id]
        assert rows[0].state == state


async def test_job_list_filters_by_task(backend: JobStore) -> None:
    ids = await backend.push_many(
        [Email(to="a@example.com"), Report(month=1), Email(to="b@example.com")]
    )

    emails = await backend.job_list(JobFilter(task=EMAIL))
    reports = await backend.job_list(JobFilter(task=REPORT))

    assert [row.id for row in emails] == [ids[2], ids[0]]
    assert [row.id for row in reports] == [ids[1]]
    assert await backend.job_list(JobFilter(task="conf.nobody")) == []


async def test_job_list_combines_state_and_task_filters(backend: JobStore) -> None:
    await make_job(backend, JobState.CANCELLED, Email(to="a@example.com"))
    await make_job(backend, JobState.CANCELLED, Report(month=1))
    wanted = await make_job(backend, JobState.AVAILABLE, Report(month=2))
    await make_job(backend, JobState.AVAILABLE, Email(to="b@example.com"))

    rows = await backend.job_list(JobFilter(state=JobState.AVAILABLE, task=REPORT))

    assert [row.id for row in rows] == [wanted]


async def test_job_list_returns_at_most_limit_newest_jobs(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(5)])

    rows = await backend.job_list(JobFilter(limit=2))

    assert [row.id for row in rows] == [ids[4], ids[3]]


async def test_job_list_before_id_pages_through_every_job_once(backend: JobStore) -> None:
    ids = await backend.push_many([Email(to=f"u{n}@example.com") for n in range(7)])
    seen: list[int] = []
    cursor: int | None = None

    for _ in range(10):  # 7 jobs, 3 a page: a cursor that never ends fails, not hangs
        page = await backend.job_list(JobFilter(limit=3, before_id=cursor))
        if not page:
            break
        assert len(page) <= 3
        seen.extend(row.id for row in page)
        cursor = page[-1].id
    else:
        raise AssertionError(f"still paging after 10 pages; seen {seen}")

    assert seen == sorted(ids, reverse=True)


async def test_job_list_cursor_combines_with_filters(backend: JobStore) -> None:
    ids = await backend.push_many(
        [Email(to="a@example.com"), Report(month=1), Email(to="b@example.com"), Report(month=2)]
    )

    rows = await backend.job_list(JobFilter(task=EMAIL, before_id=ids[3]))

    assert [row.id for row in rows] == [ids[2], ids[0]]


async def test_count_by_state_counts_each_task_and_state(backend: JobStore) -> None:
    await make_job(backend, JobState.AVAILABLE, Email(to="a@example.com"))
    await make_job(backend, JobState.AVAILABLE, Email(to="b@example.com"))
    await make_job(backend, JobState.SCHEDULED, Email(to="c@example.com"))
    await make_job(backend, JobState.COMPLETED, Report(month=1))
    await make_job(backend, JobState.CANCELLED, Report(month=2))
    await make_job(backend, JobState.RUNNING, Report(month=3))

    counts = await backend.job_count_by_state()

    assert {key: n for key, n in counts.items() if n} == {
        (EMAIL, JobState.AVAILABLE): 2,
        (EMAIL, JobState.SCHEDULED): 1,
        (REPORT, JobState.COMPLETED): 1,
        (REPORT, JobState.CANCELLED): 1,
        (REPORT, JobState.RUNNING): 1,
    }
    assert all(isinstance(state, JobState) for _, state in counts)


async def test_count_by_state_of_an_empty_store_has_no_jobs(backend: JobStore) -> None:
    counts = await backend.job_count_by_state()

    assert sum(counts.values()) == 0


async def test_stats_by_state_count_each_task_and_state_with_its_earliest_run_at(
    backend: JobStore,
) -> None:
    now = backend.clock.now()
    await backend.push(Email(to="a@example.com"), run_at=now - 120)
    await backend.push(Email(to="b@example.com"), run_at=now - 30)
    await backend.push(Email(to="c@example.com"), delay=3600)
    await make_job(backend, JobState.COMPLETED, Report(month=1))

    stats = await backend.job_stats_by_state()

    assert set(stats) == {(EMAIL, JobState.AVAILABLE), (EMAIL, JobState.SCHEDULED),
                          (REPORT, JobState.COMPLETED)}
    available = stats[(EMAIL, JobState.AVAILABLE)]
    assert available.count == 2
    assert available.oldest_run_at == pytest.approx(now - 120, abs=0.01)  # the queue's lag
    assert stats[(EMAIL, JobState.SCHEDULED)].count == 1
    # Pushed with a delay: due an hour after the push's own now, a moment after ours.
    assert stats[(EMAIL, JobState.SCHEDULED)].oldest_run_at == pytest.approx(now + 3600, abs=5)
    assert stats[(REPORT, JobState.COMPLETED)].count == 1
    counts = await backend.job_count_by_state()
    assert {key: s.count for key, s in stats.items()} == {k: n for k, n in counts.items() if n}


async def test_stats_by_state_of_an_empty_store_is_empty(backend: JobStore) -> None:
    assert await backend.job_stats_by_state() == {}


async def test_a_listing_longer_than_a_page_lists_every_match_once_newest_first(
    backend: JobStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE", 3)  # a long listing is read a page at a time
    ids = await backend.push_many(
        [Email(to=f"u{n}@example.com") if n % 3 else Report(month=n % 12 + 1)
         for n in range(11)]
    )
    emails = [i for n, i in enumerate(ids) if n % 3][::-1]

    assert [r.id for r in await backend.job_list(JobFilter(limit=100))] == ids[::-1]
    assert [r.id for r in await backend.job_list(JobFilter(limit=7))] == ids[::-1][:7]
    assert [r.id for r in await backend.job_list(JobFilter(limit=6))] == ids[::-1][:6]
    assert [r.id for r in await backend.job_list(JobFilter(task=EMAIL, limit=100))] == emails
    below = await backend.job_list(JobFilter(task=EMAIL, limit=5, before_id=emails[1]))
    assert [r.id for r in below] == emails[2:7]
    assert gc.isenabled()  # the collector, paused while the rows are built, is back
