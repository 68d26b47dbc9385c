"""``JobAdmin``: the operator's operations, written once for the CLI, the JSON API and the
dashboard; and the job's and the queue's JSON views."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from support.conformance import EMAIL, REPORT, RESIZE, Email, Report, Resize, make_job

from service.http.operator import job_views
from service.jobs import (
    CANCEL_REASON,
    AttemptError,
    ErrorKind,
    InvalidPush,
    InvalidTransition,
    JobAdmin,
    JobFilter,
    JobNotFound,
    JobProgress,
    JobRow,
    JobState,
    JobStore,
    QueueNotFound,
    QueueSummary,
    ServiceError,
    SQLiteStore,
    TaskRegistry,
    job_json,
    queue_json,
)

if TYPE_CHECKING:
    import trio.testing

REGISTRY = TaskRegistry([Email, Report])


@pytest.fixture
def admin(store: SQLiteStore) -> JobAdmin:
    return JobAdmin(store, REGISTRY)


@pytest.fixture
def backend_admin(backend: JobStore) -> JobAdmin:
    return JobAdmin(backend, REGISTRY)


async def no_jobs(admin: JobAdmin) -> bool:
    return await admin.list(JobFilter()) == []


# -- push by name: what it stores ----------------------------------------------------------

async def test_push_by_name_stores_the_job_and_returns_its_row(
    backend_admin: JobAdmin, autojump_clock: trio.testing.MockClock
) -> None:
    now = backend_admin.store.clock.now()

    pushed = await backend_admin.push(
        REPORT, {"month": 4}, delay=60, priority=-2, unique_key="april", max_attempts=7
    )

    assert pushed.inserted
    row = pushed.row
    assert row == await backend_admin.get(row.id)
    assert (row.task, row.state, row.run_at) == (REPORT, JobState.SCHEDULED, now + 60)
    assert (row.priority, row.unique_key, row.max_attempts) == (-2, "april", 7)
    assert json.loads(row.args) == {"month": 4}


async def test_push_by_name_takes_run_at_as_a_datetime(backend_admin: JobAdmin) -> None:
    at = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    pushed = await backend_admin.push(EMAIL, {"to": "ann@example.com"}, run_at=at)

    assert pushed.row.run_at == at.timestamp()


async def test_push_by_name_on_a_unique_hit_returns_the_holder(backend_admin: JobAdmin) -> None:
    first = await backend_admin.push(EMAIL, {"to": "ann@example.com"}, unique_key="k")

    again = await backend_admin.push(EMAIL, {"to": "bob@example.com"}, unique_key="k")

    assert not again.inserted
    assert again.row == first.row
    assert [row.id for row in await backend_admin.list(JobFilter())] == [first.row.id]


# -- push by name: what it refuses, naming the field -----------------------------------------

async def test_an_unknown_task_is_refused_naming_the_task_field_and_the_known_tasks(
    admin: JobAdmin,
) -> None:
    with pytest.raises(InvalidPush) as caught:
        await admin.push("conf.nope", {})

    known = "unknown task 'conf.nope'; known: conf.email, conf.report"
    assert caught.value.fields == {"$.task": known}
    assert caught.value.title == "unknown task 'conf.nope'"
    assert str(caught.value) == known
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ServiceError)
    assert await no_jobs(admin)


async def test_task_type_names_the_registered_class_or_refuses_as_push_does(
    admin: JobAdmin,
) -> None:
    assert admin.task_type(EMAIL) is Email
    with pytest.raises(InvalidPush) as caught:
        admin.task_type(RESIZE)
    assert list(caught.value.fields) == ["$.task"]


@pytest.mark.parametrize(
    ("args", "fields", "message"),
    [
        ({}, {"$.args.month": "required field missing"},
         "task 'conf.report': $.month: required field missing"),
        ({"month": "4"}, {"$.args.month": "expected an integer, got a string"},
         "task 'conf.report': $.month: expected an integer, got a string"),
        ({"month": 4, "year": 2030}, {"$.args": "extra fields found (year)"},
         "task 'conf.report': $: extra fields found (year)"),
        ([4], {"$.args": "expected an object, got an array"},
         "task 'conf.report': $: expected an object, got an array"),
        (None, {"$.args": "expected an object, got null"},
         "task 'conf.report': $: expected an object, got null"),
    ],
)
async def test_args_that_do_not_fit_are_refused_naming_each_field_under_args(
    admin: JobAdmin, args: Any, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidPush) as caught:
        await admin.push(REPORT, args)

    assert caught.value.title == "args do not fit task 'conf.report'"
    assert caught.value.fields == fields
    assert str(caught.value) == message  # the payload error's own wording, as the CLI prints
    assert await no_jobs(admin)


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"delay": -5}, "$.delay", "delay must be >= 0, got -5"),
        ({"delay": "soon"}, "$.delay", "delay must be a finite number of seconds, got 'soon'"),
        ({"delay": float("nan")}, "$.delay", "delay must be a finite number of seconds, got nan"),
        ({"run_at": "tomorrow"}, "$.run_at",
         "run_at must be a datetime or epoch seconds, got 'tomorrow'"),
        ({"delay": 1e300}, "$.delay", "delay must end before the year 10000, got 1e+300"),
        ({"run_at": -1.0}, "$.run_at", "run_at must be from 1970 to 9999 (UTC), got -1.0"),
        ({"run_at": 1e20}, "$.run_at", "run_at must be from 1970 to 9999 (UTC), got 1e+20"),
        ({"max_attempts": 0}, "$.max_attempts", "max_attempts must be an integer >= 1, got 0"),
        ({"max_attempts": 20_000}, "$.max_attempts",
         "max_attempts must be <= 10000, got 20000"),
        ({"unique_key": ""}, "$.unique_key",
         "unique_key must be a string of 1 to 255 characters"),
        ({"delay": 5, "run_at": 1.0}, "$.delay", "give delay or run_at, not both"),
    ],
)
async def test_an_invalid_option_is_refused_naming_the_option(
    admin: JobAdmin, options: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidPush) as caught:
        await admin.push(EMAIL, {"to": "ann@example.com"}, **options)

    assert caught.value.fields == {field: message}
    assert caught.value.title == message == str(caught.value)
    assert await no_jobs(admin)


async def test_an_invalid_priority_is_refused_naming_the_priority(admin: JobAdmin) -> None:
    with pytest.raises(InvalidPush) as caught:
        await admin.push(EMAIL, {"to": "ann@example.com"}, priority=1.5)  # type: ignore[arg-type]

    [(field, problem)] = caught.value.fields.items()
    assert field == "$.priority"
    assert problem.startswith("priority must be an integer within")
    assert problem.endswith("1.5")
    assert await no_jobs(admin)


# -- jobs: get, list, retry, cancel ---------------------------------------------------------

async def test_retry_and_cancel_follow_the_state_machine(backend_admin: JobAdmin) -> None:
    store = backend_admin.store
    job_id = await make_job(store, JobState.DISCARDED)

    retried = await backend_admin.retry(job_id)
    assert retried.state == JobState.AVAILABLE
    with pytest.raises(InvalidTransition):
        await backend_admin.retry(job_id)

    cancelled = await backend_admin.cancel(job_id)
    assert cancelled.state == JobState.CANCELLED
    assert job_json(cancelled)["errors"][-1]["message"] == CANCEL_REASON
    with pytest.raises(InvalidTransition):
        await backend_admin.cancel(job_id, "again")
    assert await backend_admin.get(job_id) == cancelled


async def test_cancel_records_the_reason_given(admin: JobAdmin) -> None:
    job_id = (await admin.push(EMAIL, {"to": "ann@example.com"})).row.id

    row = await admin.cancel(job_id, "customer left")

    assert job_json(row)["errors"][-1]["message"] == "customer left"


async def test_an_unknown_job_id_is_job_not_found(admin: JobAdmin) -> None:
    for operation in (admin.get, admin.retry, admin.cancel):
        with pytest.raises(JobNotFound):
            await operation(12345)


async def test_list_filters_and_pages_newest_first(admin: JobAdmin) -> None:
    ids = [(await admin.push(EMAIL, {"to": f"u{n}@example.com"})).row.id for n in range(3)]
    report = (await admin.push(REPORT, {"month": 1})).row.id

    assert [r.id for r in await admin.list(JobFilter())] == [report, *reversed(ids)]
    assert [r.id for r in await admin.list(JobFilter(task=EMAIL, limit=2))] == ids[:0:-1]
    assert [r.id for r in await admin.list(JobFilter(before_id=ids[1]))] == [ids[0]]


# -- queues ----------------------------------------------------------------------------------

async def test_queues_list_registered_tasks_and_any_task_with_jobs(
    backend_admin: JobAdmin,
) -> None:
    store = backend_admin.store
    await backend_admin.push(EMAIL, {"to": "ann@example.com"})
    await backend_admin.push(EMAIL, {"to": "bob@example.com"}, delay=60)
    await store.push(Resize(image="a.png"))  # a task this process does not know

    queues = await backend_admin.queues()

    zero = dict.fromkeys(JobState, 0)
    assert queues == [
        QueueSummary(task=EMAIL, registered=True, concurrency=10, paused=False,
                     counts={**zero, JobState.AVAILABLE: 1, JobState.SCHEDULED: 1}),
        QueueSummary(task=REPORT, registered=True, concurrency=10, paused=False, counts=zero),
        QueueSummary(task=RESIZE, registered=False, concurrency=None, paused=False,
                     counts={**zero, JobState.AVAILABLE: 1}),
    ]
    assert list(queues[0].counts) == list(JobState)
    assert await backend_admin.queue(RESIZE) == queues[2]


async def test_pause_and_resume_a_registered_queue(backend_admin: JobAdmin) -> None:
    await backend_admin.pause(REPORT)
    assert (await backend_admin.queue(REPORT)).paused
    assert not (await backend_admin.queue(EMAIL)).paused

    await backend_admin.resume(REPORT)
    assert not (await backend_admin.queue(REPORT)).paused


async def test_an_unregistered_queue_cannot_be_paused_or_resumed(admin: JobAdmin) -> None:
    await admin.store.push(Resize(image="a.png"))
    for operation in (admin.pause, admin.resume):
        with pytest.raises(QueueNotFound) as caught:
            await operation(RESIZE)
        assert str(caught.value) == "no queue 'conf.resize': not a registered task"
        assert isinstance(caught.value, LookupError)
        assert isinstance(caught.value, ServiceError)
    assert await admin.store.queue_paused() == set()


async def test_the_queue_of_a_task_without_registration_or_jobs_is_not_found(
    admin: JobAdmin,
) -> None:
    with pytest.raises(QueueNotFound):
        await admin.queue("conf.nothing")


async def test_counts_by_state_of_one_task_or_all(admin: JobAdmin) -> None:
    await admin.push(EMAIL, {"to": "ann@example.com"})
    await admin.push(EMAIL, {"to": "bob@example.com"}, delay=60)
    await admin.push(REPORT, {"month": 1})

    assert await admin.counts() == {JobState.AVAILABLE: 2, JobState.SCHEDULED: 1}
    assert await admin.counts(REPORT) == {JobState.AVAILABLE: 1}
    assert await admin.counts("conf.nothing") == {}


# -- JSON views ------------------------------------------------------------------------------

def _row(**changes: Any) -> JobRow:
    row = JobRow(
        id=7, task=EMAIL, args='{"to":"ann@example.com"}', state=JobState.RETRYABLE,
        priority=0, attempt=1, max_attempts=3, run_at=1_800_000_060.0,
        created_at=1_800_000_000.0, attempted_at=1_800_000_001.5, finished_at=None,
        lease_owner=None, lease_expires_at=None, rescues=0, unique_key="k",
        errors=[AttemptError(attempt=1, at=1_800_000_002.0, kind=ErrorKind.ERROR,
                             error="ValueError", detail="boom")],
        result=None,
    )
    return attrs.evolve(row, **changes)


def test_job_json_is_the_public_shape_of_a_job() -> None:
    assert job_json(_row()) == {
        "id": 7, "task": EMAIL, "args": {"to": "ann@example.com"}, "state": "retryable",
        "attempt": 1, "max_attempts": 3, "priority": 0,
        "run_at": "2027-01-15T08:01:00+00:00", "created_at": "2027-01-15T08:00:00+00:00",
        "attempted_at": "2027-01-15T08:00:01.500000+00:00", "finished_at": None,
        "unique_key": "k", "expires_at": None, "traceparent": None, "rescues": 0,
        "lease_owner": None, "lease_expires_at": None,
        "errors": [{"attempt": 1, "kind": "error", "error": "ValueError", "message": "boom",
                    "at": "2027-01-15T08:00:02+00:00"}],
        "result": None,
        "workflow": None,
        "progress": None,
    }


def test_job_json_shows_the_last_progress_and_never_the_checkpoint() -> None:
    progress = JobProgress(fraction=0.25, message=None, at=1_800_000_003.25)

    view = job_json(_row(progress=progress, checkpoint='{"page":2}'))

    assert view["progress"] == {"fraction": 0.25, "message": None,
                                "at": "2027-01-15T08:00:03.250000+00:00"}
    assert "checkpoint" not in view


def test_job_json_shows_stored_text_that_is_not_json_as_text() -> None:
    view = job_json(_row(args="{not json", result='"done"'))

    assert view["args"] == "{not json"
    assert view["result"] == "done"


def test_queue_json_is_the_public_shape_of_a_queue() -> None:
    counts = {state: n for n, state in enumerate(JobState)}
    queue = QueueSummary(task=EMAIL, registered=True, concurrency=3, paused=True, counts=counts)

    assert queue_json(queue) == {
        "task": EMAIL, "registered": True, "concurrency": 3, "paused": True,
        "counts": {state.value: n for n, state in enumerate(JobState)},
        "global_concurrency": None, "per_key": None, "rate": None,
        "running": counts[JobState.RUNNING], "tokens_left": None, "next_start_at": None,
        "paused_until": None, "limits": "code",
    }
    assert list(queue_json(queue)["counts"]) == [s.value for s in JobState]


def test_the_http_views_re_export_the_engines_json_view_and_cancel_reason() -> None:
    assert job_views.job_json is job_json
    assert job_views.CANCEL_REASON == CANCEL_REASON == "cancelled by an operator"
