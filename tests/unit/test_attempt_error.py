"""AttemptError as pure data: the stored JSON both ways, the rendered prose, older entries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.http.operator.job_html import job_page
from service.jobs import AttemptError, ErrorKind, JobRow, PayloadError, job_json, to_datetime
from service.jobs._attempt_error import (
    LeaseExpiry,
    RescueStep,
    from_stored,
    operator_cancelled,
    to_stored,
)
from service.jobs._rows import COLUMNS, error_json, errors_from_json, to_row


def iso(timestamp: float) -> str:
    """How a job's JSON writes a stored timestamp."""
    moment = to_datetime(timestamp)
    assert moment is not None
    return moment.isoformat()

AT = 1_800_000_000.125

SAMPLES = [
    AttemptError(attempt=1, at=AT, kind=ErrorKind.ERROR, error="ValueError", detail="boom",
                 traceback="Traceback (most recent call last):\nValueError: boom\n"),
    AttemptError(attempt=2, at=AT, kind=ErrorKind.TIMEOUT, error="TimeoutError",
                 detail="timed out after 30 s"),
    AttemptError(attempt=1, at=AT, kind=ErrorKind.INTERRUPTED, error="Interrupted",
                 detail="interrupted by shutdown: still running after the 10 s grace period"),
    AttemptError(attempt=3, at=AT, kind=ErrorKind.LEASE_EXPIRED, error="LeaseExpired",
                 lease=LeaseExpiry(owner="host:12:ab", rescues=2, step=RescueStep.PAUSED,
                                   lease_expires_at=AT - 1, pause=2.0)),
    AttemptError(attempt=1, at=AT, kind=ErrorKind.CANCELLED, error="Cancel",
                 detail="the customer closed their account"),
    operator_cancelled(AT, "duplicate \u2014 'quoted' \"too\""),
    AttemptError(attempt=1, at=AT, kind=ErrorKind.PAYLOAD, error="PayloadError",
                 detail="sleepy: $.seconds: expected a number"),
    AttemptError(attempt=0, at=AT, kind=ErrorKind.UNKNOWN_TASK, error="UnknownTask",
                 task="renamed_long_ago"),
    AttemptError(attempt=0, at=AT, kind=ErrorKind.EXPIRED, error="Expired"),
]


def test_the_kinds_are_the_documented_values() -> None:
    assert {k.value for k in ErrorKind} == {
        "error", "timeout", "interrupted", "lease_expired", "cancelled", "payload",
        "unknown_task", "expired",
    }
    assert {s.value for s in RescueStep} == {
        "requeued", "paused", "out_of_rescues", "out_of_attempts"}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: str(e.kind))
def test_an_entry_survives_the_stored_json(error: AttemptError) -> None:
    text = error_json(error)
    assert text is not None
    assert from_stored(json.loads(text)) == error
    assert errors_from_json(json.loads(f"[{text},{text}]")) == [error, error]


def test_every_kind_is_sampled_and_stored_with_its_kind_value() -> None:
    assert {e.kind for e in SAMPLES} == set(ErrorKind)
    assert all(to_stored(e)["kind"] == e.kind.value for e in SAMPLES)


def test_entries_with_codes_store_no_prose() -> None:
    lease, unknown = SAMPLES[3], SAMPLES[7]
    assert to_stored(lease) == {
        "attempt": 3, "at": AT, "kind": "lease_expired", "error": "LeaseExpired",
        "owner": "host:12:ab", "rescues": 2, "step": "paused", "pause": 2.0,
        "lease_expires_at": AT - 1,
    }
    assert to_stored(unknown) == {"attempt": 0, "at": AT, "kind": "unknown_task",
                                  "error": "UnknownTask", "task": "renamed_long_ago"}


def test_an_operator_cancel_stores_no_attempt() -> None:
    assert to_stored(operator_cancelled(AT, "stop")) == {
        "at": AT, "kind": "cancelled", "error": "Cancelled", "message": "stop"}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_renders_a_message_even_without_text(kind: ErrorKind) -> None:
    bare = AttemptError(attempt=1, at=AT, kind=kind, error="X")
    assert bare.message.strip()
    assert AttemptError(attempt=1, at=AT, kind=kind, error="X", detail="said so").message in (
        "said so", bare.message)


@pytest.mark.parametrize(("step", "ending"), [
    (RescueStep.REQUEUED, "; returned to the queue"),
    (RescueStep.PAUSED, "; returned to the queue after a random pause of up to 2.5 s,"
                        " apart from the jobs it died with"),
    (RescueStep.OUT_OF_RESCUES, "; discarded: lease expired 5 times,"
                                " the job may be killing its process"),
    (RescueStep.OUT_OF_ATTEMPTS, "; discarded: that was its last attempt"),
])
def test_a_lease_expiry_renders_the_sentence_the_sql_used_to_write(
    step: RescueStep, ending: str
) -> None:
    error = AttemptError(attempt=1, at=AT, kind=ErrorKind.LEASE_EXPIRED, error="LeaseExpired",
                         lease=LeaseExpiry(owner="h:1:t", rescues=5, step=step, pause=2.5))
    assert error.message == "lease of h:1:t expired (its process stopped or stalled)" + ending
    nobody = AttemptError(attempt=1, at=AT, kind=ErrorKind.LEASE_EXPIRED, error="LeaseExpired",
                          lease=LeaseExpiry(owner=None, rescues=1, step=step))
    assert nobody.message.startswith("lease of ? expired")


def test_an_unknown_task_renders_the_sentence_the_sql_used_to_write() -> None:
    assert SAMPLES[7].message == (
        "task 'renamed_long_ago' is not registered with any worker that saw it")


def test_an_entry_that_is_not_json_is_refused_as_a_payload_error() -> None:
    bad = AttemptError(attempt=1, at=float("nan"), kind=ErrorKind.ERROR, error="ValueError")
    with pytest.raises(PayloadError, match="ValueError"):
        error_json(bad)
    assert error_json(None) is None


#: Entries as the previous version stored them: prose in "message", writer by writer.
OLD: list[Any] = [
    {"attempt": 1, "at": 1700000000.5, "kind": "error", "error": "ValueError",
     "message": "boom (attempt 1 of 1: discarded)", "traceback": "Traceback ...\n"},
    {"attempt": 2, "at": 1700000001, "kind": "lease_expired", "error": "LeaseExpired",
     "message": "lease of h:1:t expired (its process stopped or stalled); returned to the queue"
                " after a random pause of up to 1.0 s, apart from the jobs it died with"},
    {"attempt": 0, "at": 1700000002.0, "kind": "payload", "error": "UnknownTask",
     "message": "task 'gone' is not registered with any worker that saw it"},
    {"kind": "cancelled", "at": 1700000003.0, "error": "Cancelled", "message": "no longer wanted"},
    {"attempt": 1, "at": 1700000004.0, "kind": "interrupted", "error": "Interrupted",
     "message": "interrupted by shutdown: still running after the 10 s grace period"},
]


@pytest.mark.parametrize("entry", OLD, ids=lambda e: str(e["kind"]))
def test_an_entry_of_the_previous_version_decodes_with_its_text(entry: dict[str, Any]) -> None:
    error = from_stored(entry)
    assert error.kind.value == entry["kind"]
    assert error.message == entry["message"]
    assert (error.attempt, error.at, error.error) == (
        entry.get("attempt"), entry["at"], entry["error"])
    assert error.traceback == entry.get("traceback")


@pytest.mark.parametrize(("entry", "expected"), [
    ({"attempt": 1, "kind": "exception", "message": "old"},
     AttemptError(attempt=1, at=None, kind=ErrorKind.ERROR, error="", detail="exception: old")),
    ({"kind": "shutdown"},
     AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="", detail="shutdown")),
    ({"attempt": True, "at": "yesterday", "error": 7, "message": ["a"]},
     AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="7", detail="['a']")),
    ({"kind": "lease_expired", "step": "vanished", "owner": "x"},
     AttemptError(attempt=None, at=None, kind=ErrorKind.LEASE_EXPIRED, error="")),
    ({"kind": "unknown_task"},
     AttemptError(attempt=None, at=None, kind=ErrorKind.UNKNOWN_TASK, error="")),
    ("just text", AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="",
                               detail="just text")),
    (None, AttemptError(attempt=None, at=None, kind=ErrorKind.ERROR, error="")),
])
def test_odd_entries_decode_to_a_fallback_that_keeps_their_text(
    entry: object, expected: AttemptError
) -> None:
    error = from_stored(entry)
    assert error == expected
    assert error.message


def test_a_stored_errors_value_that_is_not_a_list_does_not_break_the_row() -> None:
    assert errors_from_json(None) == []
    assert errors_from_json({"kind": "error", "message": "m"})[0].message == "m"


def _row(errors: list[Any]) -> JobRow:
    values: list[Any] = [7, "send", "{}", "discarded", 0, 2, 3, AT, AT, AT, AT, None, None, 1,
                         None, None, None, None, None, None, None, None, None, None, None]
    assert len(values) == len(COLUMNS.split(","))
    return to_row(values, errors)


def test_the_api_shows_an_old_entry_exactly_as_the_previous_version_did() -> None:
    # The previous job_json: the stored object as it was, with "at" as an ISO time.
    before = [entry | {"at": iso(float(entry["at"]))} for entry in OLD]

    assert job_json(_row(OLD))["errors"] == before


def test_the_api_entry_of_a_coded_error_has_the_same_fields_as_ever() -> None:
    [lease, cancel] = job_json(_row([to_stored(SAMPLES[3]), to_stored(SAMPLES[5])]))["errors"]

    assert lease == {"attempt": 3, "at": iso(AT), "kind": "lease_expired",
                     "error": "LeaseExpired", "message": SAMPLES[3].message}
    assert cancel == {"at": iso(AT), "kind": "cancelled", "error": "Cancelled",
                      "message": "duplicate \u2014 'quoted' \"too\""}


def test_the_dashboard_shows_old_and_coded_entries_as_text() -> None:
    page = job_page(_row([*OLD, to_stored(SAMPLES[3])]))

    assert "Attempt 2, " in page
    assert "<strong>lease_expired</strong> LeaseExpired" in page
    assert "returned to the queue after a random pause of up to 1.0 s" in page
    assert "returned to the queue after a random pause of up to 2 s" in page
    assert "<strong>cancelled</strong> Cancelled</p><pre>no longer wanted</pre>" in page
    assert "task &#39;gone&#39; is not registered" in page
    assert "<summary>Traceback</summary><pre>Traceback ...\n</pre>" in page
