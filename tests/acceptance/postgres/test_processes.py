"""Several real processes share one PostgreSQL schema: workers, pushers, a killed worker."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest
import trio
from support.pg_spawn import helper, run_helper, workers
from support.pg_tasks import Mark, read_marks
from support.postgres import schema_store
from support.waiting import wait_until

from service.jobs import JobState, PostgresStore

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("pg_url")]

MARK = Mark.options.name


async def completed(store: PostgresStore) -> int:
    return (await store.job_count_by_state()).get((MARK, JobState.COMPLETED), 0)


async def wait_completed(store: PostgresStore, count: int, within: float) -> None:
    await wait_until(f"{count} completed {MARK} jobs", lambda: completed(store),
                     lambda done: done >= count, within=within)


async def test_four_worker_processes_run_each_job_pushed_by_other_processes_exactly_once(
    tmp_path: Path,
) -> None:
    out = str(tmp_path / "marks.txt")
    one_by_one, batched = 150, 250
    async with schema_store() as store, workers(4, store.schema or "", out):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_helper, "push", store.schema or "", str(one_by_one),
                               "--batch", "1")
            nursery.start_soon(run_helper, "push", store.schema or "", str(batched),
                               "--first", str(one_by_one), "--batch", "50")
        await wait_completed(store, one_by_one + batched, within=90)

    marks = read_marks(out)
    everything = Counter(range(one_by_one + batched))
    assert Counter(n for what, n, _, _ in marks if what == "start") == everything
    assert Counter(n for what, n, _, _ in marks if what == "done") == everything
    assert len({pid for _, _, pid, _ in marks}) >= 2, "the work was shared"


async def test_jobs_of_a_killed_worker_run_in_the_others_after_its_lease_expires(
    tmp_path: Path,
) -> None:
    out = str(tmp_path / "marks.txt")
    lease_ttl, rescue, poll_max, seconds = 3.0, 1.0, 0.5, 0.5
    options = ("--lease-ttl", str(lease_ttl), "--renew", "1", "--rescue", str(rescue),
               "--poll-max", str(poll_max))
    total = 40
    async with schema_store() as store, workers(4, store.schema or "", out, *options) as procs:
        victim = procs[0]
        ids = await store.push_many(Mark(n=n, seconds=seconds) for n in range(total))
        await wait_until(f"the victim (pid {victim.pid}) to start a job",
                         lambda: {pid for what, _, pid, _ in read_marks(out) if what == "start"},
                         lambda starters: victim.pid in starters, within=30, poll=0.02)
        victim.process.kill()
        killed_at = time.time()
        await victim.process.wait()
        await wait_completed(store, total, within=90)
        marks = read_marks(out)
        orphans = {n for what, n, pid, _ in marks if what == "start" and pid == victim.pid} - {
            n for what, n, pid, _ in marks if what == "done" and pid == victim.pid
        }
        rows = {n: await store.job_get(ids[n]) for n in orphans}

    assert orphans, "the victim was killed mid-job"
    assert Counter(n for what, n, _, _ in marks if what == "done") == Counter(range(total))
    # The documented bound: lease_ttl + rescue_interval + poll_max, plus the job's own run; a
    # generous allowance on top for a busy machine (the rescue itself is pinned by the row).
    bound = lease_ttl + rescue + poll_max + seconds
    for n in orphans:
        [(pid, done_at)] = [(pid, at) for what, m, pid, at in marks if what == "done" and m == n]
        assert pid != victim.pid
        late = done_at - killed_at
        assert late < bound + 15, f"job {n} ran again {late:.1f} s after the kill (bound {bound})"
        row = rows[n]
        assert row.state == JobState.COMPLETED
        assert row.rescues == 1
        assert row.attempt == 2
        assert row.errors[0].kind == "lease_expired"


async def test_one_unique_key_pushed_from_two_processes_at_once_makes_one_job() -> None:
    keys = 150
    async with schema_store() as store:
        async with helper("unique", store.schema or "", str(keys)) as a, helper(
            "unique", store.schema or "", str(keys)
        ) as b:
            assert await a.line() == "ready"
            assert await b.line() == "ready"
            await a.send_line("go")
            await b.send_line("go")
            ids_a, ids_b = json.loads(await a.line()), json.loads(await b.line())
        counts = await store.job_count_by_state()

    assert ids_a == ids_b
    assert len(set(ids_a)) == keys
    assert counts == {(MARK, JobState.AVAILABLE): keys}


async def test_notify_wakes_a_worker_in_another_process_long_before_its_poll(
    tmp_path: Path,
) -> None:
    out = str(tmp_path / "marks.txt")
    options = ("--poll-min", "30", "--poll-max", "30")
    async with schema_store() as store, workers(1, store.schema or "", out, *options):
        await trio.sleep(0.5)  # its first claim found nothing: it now waits up to 30 s
        pushed_at = time.time()
        await store.push(Mark(n=7))
        await wait_completed(store, 1, within=20)  # under the 30 s poll

    [(_, n, _, done_at)] = [m for m in read_marks(out) if m[0] == "done"]
    assert n == 7
    # Typically milliseconds; generous for a busy machine, and still a third of the 30 s poll.
    assert done_at - pushed_at < 10, f"ran {done_at - pushed_at:.1f} s after the push"
