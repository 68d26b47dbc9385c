"""The job state machine as data: every (from, to) pair of JobState, checked one by one."""

from __future__ import annotations

import itertools

import pytest

from service.jobs._errors import InvalidTransition, ServiceError
from service.jobs._states import (
    CANCEL_SOURCES,
    EXPIRABLE,
    FINISHED,
    REPLACEABLE,
    RETRY_SOURCES,
    TRANSITIONS,
    UNFINISHED,
    WAITING,
    JobState,
    check_transition,
    is_allowed,
    sources_of,
)

S = JobState

#: The design's state machine, written out independently of the engine's table.
EXPECTED: frozenset[tuple[JobState, JobState]] = frozenset(
    {
        (S.SCHEDULED, S.AVAILABLE),
        (S.SCHEDULED, S.CANCELLED),
        (S.SCHEDULED, S.DISCARDED),  # expired
        (S.RETRYABLE, S.AVAILABLE),
        (S.RETRYABLE, S.CANCELLED),
        (S.RETRYABLE, S.DISCARDED),  # expired
        (S.AVAILABLE, S.RUNNING),
        (S.AVAILABLE, S.CANCELLED),
        (S.AVAILABLE, S.DISCARDED),  # expired, or its task is unknown
        (S.AVAILABLE, S.SCHEDULED),  # a replacing push moved its run_at later
        (S.RUNNING, S.COMPLETED),
        (S.RUNNING, S.RETRYABLE),
        (S.RUNNING, S.DISCARDED),
        (S.RUNNING, S.CANCELLED),
        (S.RUNNING, S.SCHEDULED),
        (S.RUNNING, S.AVAILABLE),
        (S.COMPLETED, S.AVAILABLE),
        (S.CANCELLED, S.AVAILABLE),
        (S.DISCARDED, S.AVAILABLE),
    }
)

ALL_PAIRS = list(itertools.product(JobState, JobState))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in EXPECTED]
FORBIDDEN_PAIRS = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def _pair_id(pair: tuple[JobState, JobState]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_state_values_are_the_names_stored_in_the_database() -> None:
    assert [s.value for s in JobState] == [
        "scheduled",
        "available",
        "running",
        "completed",
        "retryable",
        "cancelled",
        "discarded",
    ]
    assert JobState("running") is JobState.RUNNING
    assert isinstance(JobState.RUNNING, str)
    assert f"{JobState.RUNNING}" == "running"


def test_transition_table_is_exactly_the_design_state_machine() -> None:
    assert set(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_pair_id)
def test_pair_is_allowed_exactly_when_in_the_table(pair: tuple[JobState, JobState]) -> None:
    source, target = pair
    assert is_allowed(source, target) is (pair in EXPECTED)
    assert is_allowed(source, target) is (pair in TRANSITIONS)


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=_pair_id)
def test_check_transition_accepts_allowed_pair(pair: tuple[JobState, JobState]) -> None:
    source, target = pair
    check_transition(source, target)


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=_pair_id)
def test_allowed_pair_says_what_causes_it(pair: tuple[JobState, JobState]) -> None:
    cause = TRANSITIONS[pair]
    assert isinstance(cause, str)
    assert cause.strip()


@pytest.mark.parametrize("pair", FORBIDDEN_PAIRS, ids=_pair_id)
def test_check_transition_rejects_forbidden_pair(pair: tuple[JobState, JobState]) -> None:
    source, target = pair
    with pytest.raises(InvalidTransition) as info:
        check_transition(source, target)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ServiceError)
    message = str(info.value)
    assert str(source) in message
    assert str(target) in message


@pytest.mark.parametrize("state", list(JobState), ids=str)
def test_no_state_transitions_to_itself(state: JobState) -> None:
    assert not is_allowed(state, state)


@pytest.mark.parametrize("state", list(JobState), ids=str)
def test_sources_of_lists_every_state_that_reaches_the_target(state: JobState) -> None:
    assert sources_of(state) == {src for (src, dst) in EXPECTED if dst == state}


def test_only_a_worker_claim_makes_a_job_running() -> None:
    assert sources_of(S.RUNNING) == {S.AVAILABLE}


@pytest.mark.parametrize("outcome", [S.COMPLETED, S.RETRYABLE], ids=str)
def test_attempt_outcomes_are_reached_only_from_running(outcome: JobState) -> None:
    assert sources_of(outcome) == {S.RUNNING}


def test_discarded_is_an_attempt_outcome_or_an_expiry_before_the_next_attempt() -> None:
    assert sources_of(S.DISCARDED) == {S.RUNNING} | EXPIRABLE


def test_expiry_discards_exactly_the_jobs_waiting_for_their_next_attempt() -> None:
    assert {S.SCHEDULED, S.AVAILABLE, S.RETRYABLE} == EXPIRABLE
    assert S.RUNNING not in EXPIRABLE, "an attempt that started before its expiry finishes"
    for state in EXPIRABLE:
        check_transition(state, S.DISCARDED)


def test_a_replacing_push_moves_a_job_between_scheduled_and_available_only() -> None:
    assert {S.SCHEDULED, S.AVAILABLE} == REPLACEABLE
    check_transition(S.SCHEDULED, S.AVAILABLE)
    check_transition(S.AVAILABLE, S.SCHEDULED)
    assert sources_of(S.SCHEDULED) == {S.RUNNING, S.AVAILABLE}


def test_retry_sources_are_every_state_an_operator_may_retry_but_running() -> None:
    assert {S.SCHEDULED, S.RETRYABLE, S.COMPLETED, S.CANCELLED, S.DISCARDED} == RETRY_SOURCES
    assert S.RUNNING not in RETRY_SOURCES
    assert S.AVAILABLE not in RETRY_SOURCES
    for source in RETRY_SOURCES:
        check_transition(source, S.AVAILABLE)


def test_cancel_sources_are_exactly_the_unfinished_states() -> None:
    assert {S.SCHEDULED, S.AVAILABLE, S.RUNNING, S.RETRYABLE} == CANCEL_SOURCES
    assert CANCEL_SOURCES == UNFINISHED
    for source in CANCEL_SOURCES:
        check_transition(source, S.CANCELLED)


def test_finished_and_unfinished_partition_the_states() -> None:
    assert {S.COMPLETED, S.CANCELLED, S.DISCARDED} == FINISHED
    assert {S.SCHEDULED, S.AVAILABLE, S.RUNNING, S.RETRYABLE} == UNFINISHED
    assert not FINISHED & UNFINISHED
    assert set(JobState) == FINISHED | UNFINISHED


@pytest.mark.parametrize("state", sorted(FINISHED), ids=str)
def test_finished_job_leaves_only_by_operator_retry(state: JobState) -> None:
    assert {dst for (src, dst) in TRANSITIONS if src == state} == {S.AVAILABLE}


def test_waiting_states_are_those_that_wait_for_run_at() -> None:
    assert {S.SCHEDULED, S.RETRYABLE} == WAITING
    assert WAITING <= UNFINISHED
    for state in WAITING:
        check_transition(state, S.AVAILABLE)


@pytest.mark.parametrize("state", sorted(UNFINISHED), ids=str)
def test_every_unfinished_state_can_reach_a_finished_state(state: JobState) -> None:
    assert any(is_allowed(state, end) for end in FINISHED)
