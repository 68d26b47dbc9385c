"""Limited claims on every backend: global and per-key slots counted in the claim, round-robin
across keys, rates consumed in the claim's transaction, pauses of a task or a key, overrides."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing
from support.conformance import LEASE, settle

from service.jobs import JobState, JobStore, RateLimit, Task, TaskOptions
from service.jobs._limits import Limits

if TYPE_CHECKING:
    from service.jobs._store import ClaimedJob


@attrs.frozen(kw_only=True)
class Call(Task):
    options = TaskOptions(name="conf.call", concurrency_key=lambda t: t.customer)

    customer: str
    n: int = 0


CALL = "conf.call"


async def claim(backend: JobStore, limits: Limits, *, limit: int = 10, owner: str = "w1",
                now: float | None = None) -> list[ClaimedJob]:
    at = backend.clock.now() if now is None else now
    got = await backend.job_claim_limited(CALL, owner, limit, at, at + LEASE, limits)
    return got.jobs


async def test_a_global_limit_counts_running_jobs_of_every_claimer(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push_many([Call(customer="a", n=n) for n in range(10)])
    limits = Limits(global_concurrency=3)

    first = await claim(backend, limits, limit=2, owner="w1")
    second = await claim(backend, limits, limit=5, owner="w2")
    third = await claim(backend, limits, limit=5, owner="w3")

    assert (len(first), len(second), len(third)) == (2, 1, 0)
    got = await backend.job_claim_limited(CALL, "w3", 5, backend.clock.now(),
                                          backend.clock.now() + LEASE, limits)
    assert got.throttle is not None
    assert got.throttle.reason == "global_concurrency"

    await settle(backend, first[0].id, JobState.COMPLETED, owner="w1")
    assert len(await claim(backend, limits, owner="w3")) == 1


async def test_a_claimers_own_ended_attempts_free_their_slots_for_it_alone(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    """Attempts whose outcomes are still being written (``ended``) hold no slot for the
    claimer that ran them -- globally and per key -- while every other claimer counts them,
    and an id with another attempt number frees nothing."""
    await backend.push_many([Call(customer=c, n=n) for n in range(4) for c in ("a", "b")])
    limits = Limits(global_concurrency=2)
    first = await claim(backend, limits, limit=2, owner="w1")
    assert len(first) == 2
    ended = [(job.id, job.attempt) for job in first]

    assert await claim(backend, limits, owner="w2") == []
    stale = [(first[0].id, first[0].attempt + 1)]
    got = await backend.job_claim_limited(CALL, "w1", 10, backend.clock.now(),
                                          backend.clock.now() + LEASE, limits, ended=stale)
    assert got.jobs == []
    got = await backend.job_claim_limited(CALL, "w1", 10, backend.clock.now(),
                                          backend.clock.now() + LEASE, limits, ended=ended)
    assert len(got.jobs) == 2

    keyed = Limits(per_key=1, keyed=True)  # two jobs of "a" and two of "b" run now
    assert await claim(backend, keyed, owner="w2") == []
    mine = [(job.id, job.attempt) for job in (*first, *got.jobs)]
    again = await backend.job_claim_limited(CALL, "w1", 10, backend.clock.now(),
                                            backend.clock.now() + LEASE, keyed, ended=mine)
    assert sorted(job.concurrency_key for job in again.jobs) == ["a", "b"]


@attrs.frozen(kw_only=True)
class MaybeKeyed(Task):
    """The same task as ``Call``, whose jobs may have no key (customer "")."""

    options = TaskOptions(name=CALL, concurrency_key=lambda t: t.customer or None)

    customer: str
    n: int = 0


async def test_jobs_without_a_key_take_their_turn_among_many_keys_in_one_push(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    """One push_many (one run_at): a job without a key ahead of the batch's last first-of-a-key
    job is in the batch, one behind it is not -- and it is, once fewer keys than slots are left."""
    keys = [f"k{n:02}" for n in range(20)]
    heads = [*keys[:9], "", *keys[9:], "", *keys]  # "": no key; one just before the 10th key
    await backend.push_many([MaybeKeyed(customer=c, n=n) for n, c in enumerate(heads)])
    keyed = Limits(per_key=1, keyed=True)

    first = await claim(backend, keyed, limit=10)
    assert [(job.concurrency_key, job.id) for job in first] == [
        (key, job.id) for key, job in zip([*keys[:9], None], first, strict=True)]
    assert [job.id for job in first] == sorted(job.id for job in first)
    second = await claim(backend, keyed, limit=30)
    assert sorted(job.concurrency_key or "" for job in second) == sorted(["", *keys[9:]])


async def test_a_job_without_a_key_ahead_of_the_batch_is_claimed_wherever_it_waits(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    """Jobs without a key ahead of the batch's first-of-a-key jobs are found by a higher
    priority, by an earlier push, or first in the same push as the bound; one at a time (they
    are one round-robin group), and the last one once fewer keys than slots are left."""
    keys = [f"k{n:02}" for n in range(40)]
    early = await backend.push(MaybeKeyed(customer=""))
    await trio.sleep(1)
    await backend.push_many([MaybeKeyed(customer=c) for c in [*keys[:15], "", *keys[15:20]]])
    await trio.sleep(1)
    urgent = await backend.push(MaybeKeyed(customer=""), priority=-1)
    keyed = Limits(per_key=1, keyed=True)

    def seen(jobs: list[ClaimedJob]) -> list[str]:
        return sorted(job.concurrency_key or str(job.id) for job in jobs)

    assert seen(await claim(backend, keyed)) == sorted([str(urgent), *keys[:9]])
    assert seen(await claim(backend, keyed)) == sorted([str(early), *keys[9:18]])
    last = await claim(backend, keyed)
    assert [job.concurrency_key for job in last].count(None) == 1
    assert len(last) == 3
    await trio.sleep(1)
    first = await backend.push_many([MaybeKeyed(customer=c) for c in ["", *keys[20:40]]])
    assert seen(await claim(backend, keyed)) == sorted([str(first[0]), *keys[20:29]])


async def test_a_claim_takes_keys_round_robin_oldest_first_within_a_key(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    a = await backend.push_many([Call(customer="a", n=n) for n in range(20)])
    b = await backend.push_many([Call(customer="b", n=n) for n in range(3)])

    got = await claim(backend, Limits(keyed=True), limit=6)

    assert sorted(j.id for j in got) == sorted([*a[:3], *b[:3]])
    assert Counter(j.concurrency_key for j in got) == {"a": 3, "b": 3}


async def test_per_key_slots_bound_each_key(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push_many([Call(customer=c, n=n) for c in "abc" for n in range(5)])
    limits = Limits(per_key=2, keyed=True)

    got = await claim(backend, limits, limit=100)
    again = await claim(backend, limits, limit=100, owner="w2")

    assert Counter(j.concurrency_key for j in got) == {"a": 2, "b": 2, "c": 2}
    assert again == []
    await settle(backend, got[0].id, JobState.COMPLETED)
    [next_job] = await claim(backend, limits, owner="w2")
    assert next_job.concurrency_key == got[0].concurrency_key


async def test_a_push_key_overrides_the_tasks_function(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push(Call(customer="a"), concurrency_key="vip")
    [job] = await claim(backend, Limits(keyed=True))
    assert job.concurrency_key == "vip"


async def test_a_rate_spaces_starts_across_claimers(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push_many([Call(customer="a", n=n) for n in range(10)])
    limits = Limits(rate=RateLimit(2, per=10))  # one start every 5 s
    now = backend.clock.now()

    first = await claim(backend, limits, now=now)
    held = await backend.job_claim_limited(CALL, "w2", 10, now + 4.9, now + 60, limits)
    later = await claim(backend, limits, now=now + 5.0, owner="w2")

    assert len(first) == 1
    assert held.jobs == []
    assert len(later) == 1
    assert held.throttle is not None
    assert held.throttle.reason == "rate"
    assert held.throttle.retry_at == now + 5.0


async def test_a_per_key_rate_spaces_each_key(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push_many([Call(customer=c, n=n) for c in "ab" for n in range(3)])
    limits = Limits(rate=RateLimit(1, per=10, per_key=True), keyed=True)
    now = backend.clock.now()

    first = await claim(backend, limits, now=now)
    none = await claim(backend, limits, now=now + 1)
    later = await claim(backend, limits, now=now + 10)

    assert Counter(j.concurrency_key for j in first) == {"a": 1, "b": 1}
    assert none == []
    assert Counter(j.concurrency_key for j in later) == {"a": 1, "b": 1}


async def test_a_blocked_task_or_key_starts_nothing_until_its_time(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push_many([Call(customer=c, n=n) for c in "ab" for n in range(3)])
    now = backend.clock.now()
    keyed = Limits(keyed=True)

    await backend.queue_block(CALL, "a", now + 30)
    only_b = await claim(backend, keyed, now=now)
    assert {j.concurrency_key for j in only_b} == {"b"}

    await backend.queue_block(CALL, None, now + 60)
    held = await backend.job_claim_limited(CALL, "w1", 10, now + 59, now + 90, keyed)
    assert held.jobs == []
    assert held.throttle is not None
    assert held.throttle.reason == "rate_limited"
    assert held.throttle.retry_at == now + 60
    assert {j.concurrency_key for j in await claim(backend, keyed, now=now + 60)} == {"a"}


async def test_limits_overrides_are_stored_per_queue(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.queue_set_limits(CALL, '{"global_concurrency":2}')
    [row] = [r for r in await backend.queue_limits() if r.task == CALL]
    assert row.override == '{"global_concurrency":2}'
    await backend.queue_set_limits(CALL, None)
    assert [r for r in await backend.queue_limits() if r.task == CALL] == []


async def test_keyed_tasks_are_found_by_their_available_jobs(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push(Call(customer="a"))
    assert await backend.job_keyed_tasks() == [CALL]


async def test_a_paused_queue_claims_nothing_under_limits(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    await backend.push(Call(customer="a"))
    await backend.queue_set_paused(CALL, True)
    assert await claim(backend, Limits(global_concurrency=5)) == []
    await backend.queue_set_paused(CALL, False)
    assert len(await claim(backend, Limits(global_concurrency=5))) == 1


async def test_racing_claimers_never_exceed_the_global_or_per_key_limit(
    backend: JobStore, autojump_clock: trio.testing.MockClock
) -> None:
    total = 120
    await backend.push_many([Call(customer=f"c{n % 7}", n=n) for n in range(total)])
    limits = Limits(global_concurrency=5, per_key=1, keyed=True)
    running: dict[int, str] = {}
    peak = 0
    finished = 0

    async def claimer(owner: str) -> None:
        nonlocal peak, finished
        mine: list[int] = []
        while finished < total:
            for job in await claim(backend, limits, owner=owner, limit=3):
                running[job.id] = job.concurrency_key or ""
                mine.append(job.id)
            peak = max(peak, len(running))
            assert max(Counter(running.values()).values(), default=0) <= 1
            await trio.sleep(0.01)
            if mine:
                job_id = mine.pop(0)
                del running[job_id]  # before the outcome: a claim may follow at once
                assert await settle(backend, job_id, JobState.COMPLETED, owner=owner)
                finished += 1

    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(claimer, f"w{n}")
    assert peak == 5
