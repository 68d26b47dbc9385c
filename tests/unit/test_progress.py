"""The pure parts of progress reports: checks, checkpoint encoding, the attempt's buffer."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs
import pytest

from service.jobs import PayloadError
from service.jobs import _codec as codec
from service.jobs._progress import (
    CHECKPOINT_LIMIT,
    ProgressBuffer,
    check_fraction,
    encode_checkpoint,
)


class Colour(enum.Enum):
    RED = "red"


@attrs.frozen
class Cursor:
    page: int
    seen: tuple[str, ...]


VALUES = [
    None, 0, 1.5, "x", True, [1, [2, {"a": None}]], {"page": 4, "names": ["a", "b"]},
    {1: "int keys"}, (1, 2), {"at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
    uuid.UUID(int=7), Colour.RED, Cursor(page=3, seen=("a",)), {"cursor": Cursor(1, ())},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_checkpoint_encodes_exactly_as_the_payload_converter_would(value: object) -> None:
    assert encode_checkpoint(value, "t") == codec.encode(value, name="t")


@pytest.mark.parametrize("value", [object(), {"x": object()}, float("nan"), [float("inf")]],
                         ids=["object", "dict-of-object", "nan", "list-of-inf"])
def test_a_checkpoint_that_cannot_be_json_is_a_payload_error_naming_it(value: object) -> None:
    with pytest.raises(PayloadError) as caught:
        encode_checkpoint(value, "t")
    assert caught.value.fields.keys() == {"checkpoint"}


def test_a_checkpoint_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=f"at most {CHECKPOINT_LIMIT}"):
        encode_checkpoint("x" * CHECKPOINT_LIMIT, "t")


@pytest.mark.parametrize("value", [True, None, "0.5", -1e-9, 1.0000001])
def test_only_a_number_from_0_to_1_is_a_fraction(value: object) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        check_fraction(value)


def test_a_report_made_while_another_was_written_stays_pending() -> None:
    buffer = ProgressBuffer(now=lambda: 100.0)
    buffer.report(0.1, "a", '{"p":1}', has_checkpoint=True)
    first = buffer.pending()
    assert first is not None
    buffer.report(0.2, "b", None, has_checkpoint=False)
    second = buffer.pending()

    buffer.written(first)

    assert buffer.pending() is second
    assert second is not None
    assert second.checkpoint == '{"p":1}', "a checkpoint not yet written rides on"
    assert buffer.checkpoint == {"p": 1}
    buffer.written(second)
    assert buffer.pending() is None
