"""The push-time payload check: it accepts exactly what the worker's decode accepts.

The per-class fast check may only ever say "certainly decodes"; everything else is decided by the
full decode. These tests pin both halves: over a table of field types and values, the check never
accepts a value the decode refuses, and ``encode_task`` accepts a task iff its stored text decodes.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
from support.workers import running

from service.jobs import (
    JobContext,
    JobFilter,
    JobState,
    PayloadError,
    SQLiteStore,
    Task,
    TaskOptions,
    TaskWorker,
)
from service.jobs import _codec as codec
from service.jobs import _payload_check as payload_check
from service.jobs._store import JobInsert

if TYPE_CHECKING:
    from trio.testing import MockClock


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@attrs.frozen(kw_only=True)
class Inner:
    n: int


@attrs.frozen(kw_only=True)
class InnerChild(Inner):
    pass


@attrs.frozen(kw_only=True)
class Node:
    """Refers to itself: the check must terminate and stay sound."""

    value: int
    children: list[Node] = attrs.field(factory=list)


def _make(field_type: Any) -> type:
    return attrs.make_class("Holder", {"v": attrs.field(type=field_type)}, frozen=True,
                            kw_only=True)


VALUES: list[Any] = [
    0, 7, -3, True, False, 1.5, 2.0, math.inf, "x", "", Name("n"), None, Colour.RED,
    uuid.UUID(int=5), "0b7e8f5e-5c43-4d5e-9f3e-2f7d3c1b9a10", dt.datetime(2027, 1, 1),
    dt.datetime(2027, 1, 1, tzinfo=dt.UTC), dt.date(2027, 1, 1), "2027-01-01T00:00:00",
    [], [1, 2], [1, "2"], ["a"], (1, 2), {"a": 1}, {1: "a"}, {"a": [1]}, {"a": "b"},
    Inner(n=1), InnerChild(n=1), Inner(n="1"), {"n": 1}, [Inner(n=1)], [Inner(n=1.5)],
    Node(value=1, children=[Node(value=2)]), Node(value=1, children=[Node(value="2")]),
]

TYPES: list[Any] = [
    int, float, str, bool, uuid.UUID, dt.datetime, Any, list, list[int], list[str],
    list[Inner], dict[str, int], dict[str, Any], dict[int, str], int | None, str | None,
    Inner | None, Inner, Node, tuple[int, ...], int | str, Colour,
]


def _decodes(holder: Any) -> bool:
    cls = type(holder)
    try:
        codec.decode(codec.encode(holder, name="t"), cls, name="t")
    except PayloadError:
        return False
    return True


@pytest.mark.parametrize("field_type", TYPES, ids=str)
def test_the_fast_check_never_accepts_what_the_decode_refuses(field_type: Any) -> None:
    cls = _make(field_type)
    check = payload_check._class_check(cls)
    for value in VALUES:
        holder = cls(v=value)
        try:
            codec.encode(holder, name="t")
        except PayloadError:
            continue  # refused before any check: cannot be stored at all
        decodes = _decodes(holder)
        if check is not None and check(holder):
            assert decodes, (field_type, value)
        try:
            payload_check.encode_task(holder, name="t")
        except PayloadError:
            assert not decodes, (field_type, value)
        else:
            assert decodes, (field_type, value)


@pytest.mark.parametrize(
    "field_type", [int, float, str, list[int], dict[str, Any], int | None, Inner, Node],
    ids=str,
)
def test_plain_field_types_get_a_fast_check(field_type: Any) -> None:
    assert payload_check._class_check(_make(field_type)) is not None


def test_a_field_with_a_converter_always_takes_the_full_decode() -> None:
    cls = attrs.make_class("Conv", {"v": attrs.field(type=int, converter=int)}, frozen=True)
    assert payload_check._class_check(cls) is None


def test_a_field_that_cannot_be_stored_is_named() -> None:
    cls = _make(float)
    with pytest.raises(PayloadError) as info:
        payload_check.encode_task(cls(v=math.nan), name="t")
    assert list(info.value.fields) == ["$.v"]
    assert "cannot be stored as JSON" in info.value.fields["$.v"]


# -- the worker's words ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Invoice(Task):
    options = TaskOptions(name="invoice", max_attempts=3)

    amount_cents: int

    async def run(self, ctx: JobContext) -> None:
        pass


async def test_a_refused_push_says_what_the_worker_records_when_it_discards_such_a_job(
    autojump_clock: MockClock, store: SQLiteStore,
) -> None:
    now = store.clock.now()
    [stored] = await store.job_insert_many([
        JobInsert(task="invoice", args='{"amount_cents":"ten"}', state=JobState.AVAILABLE,
                  priority=0, max_attempts=3, run_at=now, created_at=now)
    ])
    async with running(TaskWorker(store, [Invoice])):
        with trio.fail_after(60):
            while (await store.job_get(stored.id)).state != JobState.DISCARDED:
                await trio.sleep(0.1)
    recorded = (await store.job_get(stored.id)).errors[0].message

    with pytest.raises(PayloadError) as info:
        await store.push(Invoice(amount_cents="ten"))  # type: ignore[arg-type]

    assert str(info.value) == recorded == (
        "task 'invoice': $.amount_cents: expected an integer, got a string"
    )
    assert [row.id for row in await store.job_list(JobFilter(limit=100))] == [stored.id]
