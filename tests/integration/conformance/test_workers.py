"""Worker heartbeats (one upsert per lease-renewal tick) and the finished-jobs-per-minute count."""

from __future__ import annotations

from support.conformance import Email, Report, claim_id, make_job, settle

from service.jobs import (
    JobAdmin,
    JobState,
    JobStore,
    TaskRegistry,
    WorkerBeat,
    WorkerRow,
)


def beat(backend: JobStore, owner: str = "host-a:1:abc", **changes: object) -> WorkerBeat:
    now = backend.clock.now()
    fields: dict[str, object] = {
        "owner": owner, "host": "host-a", "pid": 1, "tasks": ("conf.email", "conf.report"),
        "in_flight": 2, "started_at": now, "seen_at": now, "interval": 5.0,
    }
    return WorkerBeat(**(fields | changes))  # type: ignore[arg-type]


async def test_a_heartbeat_is_read_back_as_written(backend: JobStore) -> None:
    written = beat(backend)

    await backend.worker_beat(written)

    assert await backend.worker_list() == [WorkerRow(
        owner=written.owner, host="host-a", pid=1, tasks=("conf.email", "conf.report"),
        in_flight=2, started_at=written.started_at, seen_at=written.seen_at, interval=5.0,
        stopped_at=None,
    )]


async def test_a_later_heartbeat_updates_the_row_and_keeps_its_start(backend: JobStore) -> None:
    first = beat(backend)
    await backend.worker_beat(first)

    await backend.worker_beat(beat(backend, in_flight=0, seen_at=first.seen_at + 5,
                                   started_at=first.started_at + 99))

    [row] = await backend.worker_list()
    assert (row.in_flight, row.seen_at) == (0, first.seen_at + 5)
    assert row.started_at == first.started_at


async def test_a_clean_stop_is_recorded_and_a_new_beat_clears_it(backend: JobStore) -> None:
    await backend.worker_beat(beat(backend))
    now = backend.clock.now() + 3

    await backend.worker_stopped("host-a:1:abc", now)

    [row] = await backend.worker_list()
    assert (row.stopped_at, row.seen_at, row.in_flight) == (now, now, 0)
    await backend.worker_beat(beat(backend, seen_at=now + 1))
    [row] = await backend.worker_list()
    assert row.stopped_at is None


async def test_workers_are_listed_most_recently_seen_first(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.worker_beat(beat(backend, "old", seen_at=now - 100))
    await backend.worker_beat(beat(backend, "new", seen_at=now))

    assert [row.owner for row in await backend.worker_list()] == ["new", "old"]


async def test_workers_not_seen_since_a_time_are_forgotten(backend: JobStore) -> None:
    now = backend.clock.now()
    await backend.worker_beat(beat(backend, "old", seen_at=now - 100))
    await backend.worker_beat(beat(backend, "new", seen_at=now))

    assert await backend.worker_delete_seen_before(now - 50) == 1

    assert [row.owner for row in await backend.worker_list()] == ["new"]


async def finished_at(backend: JobStore, state: JobState, at: float, n: int) -> None:
    job_id = await backend.push(Email(to=f"u{n}@example.com"))
    await claim_id(backend, job_id)
    assert await settle(backend, job_id, state, finished_at=at)


async def test_jobs_finished_per_minute_are_counted_by_minute_and_state(
    backend: JobStore,
) -> None:
    minute = 1_800_000_000.0 // 60 * 60  # the start of a minute near the test clock
    await finished_at(backend, JobState.COMPLETED, minute + 1, 1)
    await finished_at(backend, JobState.COMPLETED, minute + 59.5, 2)
    await finished_at(backend, JobState.DISCARDED, minute + 60, 3)
    await finished_at(backend, JobState.COMPLETED, minute - 30, 4)  # before "since"
    await make_job(backend, JobState.RETRYABLE, Report(month=1))  # not finished

    counts = await backend.job_finished_per_minute(minute, minute + 120)

    assert counts == {(minute, JobState.COMPLETED): 2, (minute + 60, JobState.DISCARDED): 1}
    assert await backend.job_finished_per_minute(minute, minute + 60) == {
        (minute, JobState.COMPLETED): 2}


async def test_throughput_is_the_last_hour_minute_by_minute(backend: JobStore) -> None:
    now = backend.clock.now()
    current = now // 60 * 60
    await finished_at(backend, JobState.COMPLETED, now, 1)
    await finished_at(backend, JobState.DISCARDED, current - 60 * 59, 2)
    await finished_at(backend, JobState.COMPLETED, current - 60 * 60, 3)  # an hour ago: out

    minutes = await JobAdmin(backend, TaskRegistry([Email])).throughput()

    assert len(minutes) == 60
    assert (minutes[-1].start, minutes[-1].completed, minutes[-1].failed) == (current, 1, 0)
    assert (minutes[0].start, minutes[0].completed, minutes[0].failed) == (
        current - 60 * 59, 0, 1)
    assert sum(m.completed + m.failed for m in minutes) == 2
