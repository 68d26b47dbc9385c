"""NOTIFY payloads: what a push tells the other processes, and what they make of it."""

from __future__ import annotations

from service.jobs._postgres.notify import (
    CANCEL_PREFIX,
    DUE,
    cancelled_in,
    decode_payload,
    earliest_by_task,
    encode_payload,
)


def test_a_payload_round_trips_a_run_at_exactly() -> None:
    at = 1_800_000_000.123456789
    assert decode_payload(encode_payload("abc", "pg.mark", at)) == ("abc", "pg.mark", at)


def test_a_due_job_is_sent_as_due_not_as_a_time() -> None:
    payload = encode_payload("abc", "send_email", DUE)
    assert payload == "abc due send_email"
    assert decode_payload(payload) == ("abc", "send_email", DUE)


def test_foreign_payloads_are_ignored() -> None:
    assert decode_payload("hello") is None
    assert decode_payload("abc soon task") is None


def test_earliest_by_task_skips_our_own_and_keeps_each_tasks_earliest() -> None:
    payloads = [
        encode_payload("them", "a", 50.0),
        encode_payload("them", "a", 20.0),
        encode_payload("us", "b", DUE),
        encode_payload("them", "c", 70.0),
        encode_payload("them", "c", DUE),
        "not ours",
    ]
    assert earliest_by_task(payloads, ignore_origin="us") == {"a": 20.0, "c": DUE}


def test_cancel_payloads_name_their_jobs_and_are_never_taken_for_pushes() -> None:
    mine, theirs = f"{CANCEL_PREFIX}us/1,2", f"{CANCEL_PREFIX}them/7,9"
    assert decode_payload(theirs) is None
    assert earliest_by_task([theirs], "us") == {}
    assert cancelled_in([mine, theirs, encode_payload("them", "a", DUE)], "us") == {7, 9}
    assert cancelled_in([f"{CANCEL_PREFIX}them/*", theirs], "us") is None  # check all yours
    assert cancelled_in([encode_payload("them", "a", DUE)], "us") == frozenset()
