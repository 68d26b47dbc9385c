"""Group commit: concurrent pushes share transactions, and one bad push fails alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from service.jobs._group_commit import GroupCommit

if TYPE_CHECKING:
    from collections.abc import Sequence


class Recorder:
    def __init__(self) -> None:
        self.writes: list[list[int]] = []

    async def write(self, items: Sequence[int]) -> list[int]:
        await trio.sleep(0.01)  # the database takes a while: others queue meanwhile
        if any(item < 0 for item in items):
            raise ValueError("negative")
        self.writes.append(list(items))
        return [item * 10 for item in items]


async def test_callers_arriving_during_a_write_share_the_next_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    results: dict[int, list[int]] = {}

    async def push(n: int) -> None:
        results[n] = await group.run([n, n + 100])

    async with trio.open_nursery() as nursery:
        for n in range(10):
            nursery.start_soon(push, n)
    assert results == {n: [n * 10, (n + 100) * 10] for n in range(10)}
    assert len(recorder.writes) < 10, "writes were shared"
    assert sorted(i for w in recorder.writes for i in w) == sorted(
        [*range(10), *range(100, 110)])


async def test_a_failing_batch_fails_only_its_caller(
    autojump_clock: trio.testing.MockClock,
) -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    outcomes: dict[int, object] = {}

    async def push(n: int) -> None:
        try:
            outcomes[n] = await group.run([n])
        except ValueError as exc:
            outcomes[n] = exc

    async with trio.open_nursery() as nursery:
        for n in (1, 2, -3, 4, 5):
            nursery.start_soon(push, n)
    assert isinstance(outcomes.pop(-3), ValueError)
    assert outcomes == {1: [10], 2: [20], 4: [40], 5: [50]}


async def test_a_cancelled_caller_still_gets_its_write_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    recorder = Recorder()
    group: GroupCommit[int, int] = GroupCommit(recorder.write)
    with trio.move_on_after(0.001):
        await group.run([7])
    assert recorder.writes == [[7]]
    with trio.CancelScope() as scope:
        scope.cancel()
        assert await group.run([8]) == [80]  # handed over before the cancel was seen
        await trio.lowlevel.checkpoint()  # the cancellation lands here
        pytest.fail("not cancelled")
    assert scope.cancelled_caught
    assert recorder.writes == [[7], [8]]


async def test_a_leader_returns_after_its_own_group_while_callers_keep_arriving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    arrivals = 5
    returned: dict[int, int] = {}  # caller -> how many writes had finished when it returned
    writes: list[list[int]] = []

    async with trio.open_nursery() as nursery:

        async def push(n: int) -> None:
            await group.run([n])
            returned[n] = len(writes)

        async def write(items: Sequence[int]) -> list[int]:
            nonlocal arrivals
            if arrivals:  # a steady stream: another caller arrives during every write
                arrivals -= 1
                nursery.start_soon(push, 100 + arrivals)
            await trio.sleep(1)
            writes.append(list(items))
            return list(items)

        group: GroupCommit[int, int] = GroupCommit(write)
        nursery.start_soon(push, 0)
    assert returned[0] == 1, "the first caller waited for the others' writes"
    assert len(writes) == 6
    assert sorted(returned) == [0, *range(100, 105)]
    assert all(count == i + 1 for i, (_, count) in enumerate(
        sorted(returned.items(), key=lambda item: item[1])))
