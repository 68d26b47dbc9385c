"""A push refuses, before writing anything, a task whose payload a worker could not decode.

The refusal is a ``PayloadError`` naming the task and the field in the words the worker uses
when it discards a stored payload that does not decode (``codec.decode``), on every path:
``push``, ``push_many`` and a transaction's ``push``/``push_many``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from support.conformance import EMAIL, Email, all_jobs

from service.jobs import JobStore, PayloadError, Push, Task, TaskOptions
from service.jobs import _codec as codec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@attrs.frozen(kw_only=True)
class ChargeCard(Task):
    options = TaskOptions(name="conf.charge_card")

    amount_cents: int
    memo: str = ""


CHARGE = "conf.charge_card"


@attrs.frozen(kw_only=True)
class Address:
    street: str
    zip_code: int


@attrs.frozen(kw_only=True)
class Ship(Task):
    """Nested attrs classes, lists, optional fields, a UUID and a datetime."""

    options = TaskOptions(name="conf.ship")

    order: uuid.UUID
    at: dt.datetime
    to: Address
    stops: list[Address] = attrs.field(factory=list)
    tags: list[str] = attrs.field(factory=list)
    note: str | None = None
    weight: float = 1.0


@attrs.frozen(kw_only=True)
class Rounded(Task):
    """A converter that turns the declared ``int`` into a float: built fine, stored undecodable."""

    options = TaskOptions(name="conf.rounded")

    amount_cents: int = attrs.field(converter=float)


def worker_message(text: str, cls: type[Task], name: str) -> str:
    """What the worker records when it cannot decode the stored ``text`` (``queue._attempt``)."""
    with pytest.raises(PayloadError) as info:
        codec.decode(text, cls, name=name)
    return str(info.value)


def charge(amount_cents: Any, memo: Any = "") -> ChargeCard:
    """A ``ChargeCard`` built with whatever values: attrs does not check types."""
    return ChargeCard(amount_cents=amount_cents, memo=memo)


BAD_CHARGES = [
    pytest.param(charge("ten"), '{"amount_cents":"ten","memo":""}', id="str"),
    pytest.param(charge(12.5), '{"amount_cents":12.5,"memo":""}', id="float"),
    pytest.param(charge(True), '{"amount_cents":true,"memo":""}', id="bool"),
    pytest.param(charge(None), '{"amount_cents":null,"memo":""}', id="none"),
]


@pytest.mark.parametrize(("task", "stored"), BAD_CHARGES)
async def test_push_refuses_a_field_of_the_wrong_type_naming_it_before_writing(
    backend: JobStore, task: ChargeCard, stored: str
) -> None:
    with pytest.raises(PayloadError) as info:
        await backend.push(task)

    assert info.value.task == CHARGE
    assert list(info.value.fields) == ["$.amount_cents"]
    assert str(info.value) == worker_message(stored, ChargeCard, CHARGE)
    assert await all_jobs(backend) == []


async def test_push_refuses_a_str_field_holding_a_number(backend: JobStore) -> None:
    with pytest.raises(PayloadError) as info:
        await backend.push(charge(1, memo=42))

    assert str(info.value) == worker_message(
        '{"amount_cents":1,"memo":42}', ChargeCard, CHARGE
    )
    assert info.value.fields == {"$.memo": "expected a string, got a number"}
    assert await all_jobs(backend) == []


async def test_push_refuses_a_value_a_converter_turned_into_another_type(
    backend: JobStore,
) -> None:
    with pytest.raises(PayloadError) as info:
        await backend.push(Rounded(amount_cents=12))

    assert str(info.value) == worker_message('{"amount_cents":12.0}', Rounded, "conf.rounded")
    assert list(info.value.fields) == ["$.amount_cents"]
    assert await all_jobs(backend) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": Address(street="Main", zip_code="12")}, "$.to.zip_code"),
        ({"stops": [Address(street="A", zip_code=1), Address(street=2, zip_code=1)]},
         "$.stops[1].street"),
        ({"tags": ["ok", 3]}, "$.tags[1]"),
        ({"note": 7}, "$.note"),
        ({"order": "not-a-uuid"}, "$.order"),
        ({"to": {"street": "Main", "zip_code": 12}}, "$.to"),
        ({"weight": "heavy"}, "$.weight"),
    ],
    ids=["nested", "list-of-nested", "list", "optional", "uuid", "dict-for-class", "float"],
)
async def test_push_names_the_path_of_a_bad_nested_field(
    backend: JobStore, change: dict[str, Any], field: str
) -> None:
    task = attrs.evolve(_shipment(), **change)

    with pytest.raises(PayloadError) as info:
        await backend.push(task)

    assert list(info.value.fields) == [field]
    assert f"task 'conf.ship': {field}: " in str(info.value)
    assert await all_jobs(backend) == []


def _shipment() -> Ship:
    return Ship(
        order=uuid.UUID("0b7e8f5e-5c43-4d5e-9f3e-2f7d3c1b9a10"),
        at=dt.datetime(2027, 1, 15, 8, 30, tzinfo=dt.UTC),
        to=Address(street="Main", zip_code=12),
        stops=[Address(street="Depot", zip_code=3)],
        tags=["fragile"],
        note=None,
        weight=2,
    )


async def test_rich_payloads_still_push_and_decode_to_an_equal_task(backend: JobStore) -> None:
    plain = Ship(order=uuid.UUID(int=1), at=dt.datetime(2027, 1, 1), to=Address(street="x",
                 zip_code=0))
    ids = await backend.push_many([_shipment(), plain, Push(task=_shipment(), delay=5)])

    for job_id, task in zip(ids, [_shipment(), plain, _shipment()], strict=True):
        row = await backend.job_get(job_id)
        assert codec.decode(row.args, Ship, name="conf.ship") == task
    assert json.loads((await backend.job_get(ids[0])).args)["to"] == {
        "street": "Main", "zip_code": 12
    }


@pytest.mark.parametrize("as_push", [False, True], ids=["task", "Push"])
async def test_push_many_with_one_bad_task_writes_none_of_the_batch(
    backend: JobStore, as_push: bool
) -> None:
    bad: Task | Push = charge("ten")
    if as_push:
        bad = Push(task=bad, delay=60, priority=1)

    with pytest.raises(PayloadError) as info:
        await backend.push_many([Email(to="a@example.com"), bad, Email(to="b@example.com")])

    assert info.value.fields == {"$.amount_cents": "expected an integer, got a string"}
    assert await all_jobs(backend) == []
    assert await backend.push(Email(to="c@example.com")) > 0  # the store goes on


@pytest.fixture
async def orders(backend: JobStore) -> AsyncIterator[None]:
    """An app table of the test's own, committed before the test starts."""
    async with backend.transaction() as tx:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)"
        )
        await tx.execute("DELETE FROM orders")
    return


async def _order_ids(backend: JobStore) -> list[int]:
    async with backend.transaction() as tx:
        rows = await tx.execute("SELECT id FROM orders ORDER BY id")
    return [row[0] for row in rows]


@pytest.mark.parametrize("many", [False, True], ids=["push", "push_many"])
async def test_a_refused_push_in_a_transaction_commits_neither_the_app_row_nor_any_job(
    backend: JobStore, orders: None, many: bool
) -> None:
    with pytest.raises(PayloadError) as info:
        async with backend.transaction() as tx:
            await tx.execute("INSERT INTO orders (id, amount) VALUES (1, 1000)")
            await tx.push(Email(to="receipt@example.com"))
            bad = charge("ten")
            if many:
                await tx.push_many([Email(to="x@example.com"), bad])
            else:
                await tx.push(bad)

    assert info.value.task == CHARGE
    assert "$.amount_cents" in info.value.fields
    assert await _order_ids(backend) == []
    assert await all_jobs(backend) == []


async def test_a_transaction_that_handles_a_refused_push_commits_without_that_job(
    backend: JobStore, orders: None
) -> None:
    async with backend.transaction() as tx:
        await tx.execute("INSERT INTO orders (id, amount) VALUES (1, 1000)")
        with pytest.raises(PayloadError):
            await tx.push(charge("ten"))
        receipt = await tx.push(Email(to="receipt@example.com"))

    assert await _order_ids(backend) == [1]
    assert [(row.id, row.task) for row in await all_jobs(backend)] == [(receipt, EMAIL)]
