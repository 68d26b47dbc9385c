"""Flow control across processes: what a task's limits are, as data. Pure: no trio, no driver.

A task's limits come from its :class:`~service.jobs.TaskOptions` (``global_concurrency``,
``per_key``, ``rate``) unless an operator stored an override for its queue
(``POST /api/queues/{task}/limits``), which every worker reads within a second.

A concurrency slot is a running job (whose lease is live until a rescue returns it), counted in
the claim statement itself -- except, for the claimer alone, its own jobs whose task code has
returned and whose outcomes it is still writing (``ended``): a worker need not wait for its
outcome writes to reuse their slots. A rate is a spacing stored on the queue row and advanced
in the claim's transaction. See invariant 11 in the design.
"""

from __future__ import annotations

import json
import math
from typing import Any

import attrs

from ._errors import InvalidLimits


def _positive_int(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attr.name} must be an integer >= 1, got {value!r}")


def _positive_seconds(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{attr.name} must be a finite number of seconds > 0, got {value!r}")


@attrs.frozen
class RateLimit:
    """At most ``limit`` starts of a task in any interval of ``per`` seconds, across every
    process: starts are spaced at least ``per / limit`` seconds apart (the bucket holds one
    start and does not start full, so no burst can ever exceed the rate).

    ``per_key=True`` applies the rate to each concurrency key on its own.
    """

    limit: int = attrs.field(validator=_positive_int)
    per: float = attrs.field(kw_only=True, validator=_positive_seconds)
    per_key: bool = attrs.field(default=False, kw_only=True)

    @property
    def interval(self) -> float:
        """Seconds between two starts."""
        return self.per / self.limit


@attrs.frozen(kw_only=True)
class Limits:
    """The limits a claim of one task applies (a task's options, or an operator's override).

    ``keyed``: claims take jobs round-robin across concurrency keys (the task computes keys, or
    a per-key limit is set).
    """

    global_concurrency: int | None = None
    per_key: int | None = None
    rate: RateLimit | None = None
    keyed: bool = False

    @property
    def any(self) -> bool:
        """Whether claims need the limited path at all (else: the plain claim, unchanged)."""
        return bool(self.global_concurrency or self.per_key or self.rate or self.keyed)

    @property
    def serialised(self) -> bool:
        """Whether claims must take turns (PostgreSQL: a transaction lock per task): a count or
        a rate is checked and changed by the claim."""
        return bool(self.global_concurrency or self.per_key or self.rate)


#: The fields of a limits override, as an operator names them (``$.<field>``).
OVERRIDE_FIELDS = ("global_concurrency", "per_key", "rate")


def _int_or_none(value: Any, path: str, problems: dict[str, str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems[path] = f"must be an integer >= 1 or null, got {value!r}"
        return None
    return value


def _rate_from(value: Any, problems: dict[str, str]) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems["$.rate"] = "must be an object {limit, per, per_key} or null"
        return None
    unknown = sorted(set(value) - {"limit", "per", "per_key"})
    for key in unknown:
        problems[f"$.rate.{key}"] = "unknown field"
    limit = _int_or_none(value.get("limit"), "$.rate.limit", problems)
    per = value.get("per")
    if limit is None and "$.rate.limit" not in problems:
        problems["$.rate.limit"] = "required: an integer >= 1"
    if (isinstance(per, bool) or not isinstance(per, int | float)
            or not math.isfinite(per) or per <= 0):
        problems["$.rate.per"] = f"required: a number of seconds > 0, got {per!r}"
    per_key = value.get("per_key", False)
    if not isinstance(per_key, bool):
        problems["$.rate.per_key"] = f"must be true or false, got {per_key!r}"
    if problems or limit is None or not isinstance(per, int | float):
        return None
    return RateLimit(limit, per=float(per), per_key=per_key)


def override_from_json(body: Any) -> dict[str, Any]:
    """An operator's override (JSON data) checked and normalised: the fields it sets.

    :class:`InvalidLimits` naming each wrong field. A field given as ``null`` removes that
    limit; a field left out keeps the code's value.
    """
    if not isinstance(body, dict):
        raise InvalidLimits({"$": "must be a JSON object with global_concurrency, per_key, rate"})
    problems: dict[str, str] = {}
    for key in sorted(set(body) - set(OVERRIDE_FIELDS)):
        problems[f"$.{key}"] = f"unknown field; known: {', '.join(OVERRIDE_FIELDS)}"
    if not set(body) & set(OVERRIDE_FIELDS) and not problems:
        problems["$"] = f"give at least one of {', '.join(OVERRIDE_FIELDS)}"
    override: dict[str, Any] = {}
    for key in ("global_concurrency", "per_key"):
        if key in body:
            override[key] = _int_or_none(body[key], f"$.{key}", problems)
    if "rate" in body:
        rate = _rate_from(body["rate"], problems)
        override["rate"] = None if rate is None else rate_json(rate)
    if problems:
        raise InvalidLimits(problems)
    return override


def rate_json(rate: RateLimit | None) -> dict[str, Any] | None:
    """A rate as operators see it (``GET /api/queues``) and overrides store it."""
    if rate is None:
        return None
    return {"limit": rate.limit, "per": rate.per, "per_key": rate.per_key}


def encode_override(override: dict[str, Any]) -> str:
    return json.dumps(override, separators=(",", ":"), sort_keys=True)


def effective(
    code: Limits, stored: str | None, *, computes_keys: bool = False
) -> Limits:
    """``code``'s limits with a stored override (JSON text from the queue row) applied.

    An override that no longer reads (written by another version) is ignored: the code's
    limits hold.
    """
    if not stored:
        return code
    try:
        override = json.loads(stored)
        fields = override_from_json(override)
    except (ValueError, TypeError):
        return code
    global_concurrency = fields.get("global_concurrency", code.global_concurrency)
    per_key = fields.get("per_key", code.per_key)
    rate = code.rate
    if "rate" in fields:
        stored_rate = fields["rate"]
        rate = None if stored_rate is None else RateLimit(
            stored_rate["limit"], per=stored_rate["per"], per_key=stored_rate["per_key"])
    keyed = bool(computes_keys or per_key or (rate is not None and rate.per_key))
    return Limits(global_concurrency=global_concurrency, per_key=per_key, rate=rate,
                  keyed=keyed)


@attrs.frozen(kw_only=True)
class QueueLimitsRow:
    """What the queue row stores about flow control for one task."""

    task: str
    override: str | None  # JSON text, or None: the code's limits
    #: A task-wide pause from ``RateLimited`` (epoch seconds), if any.
    blocked_until: float | None
    #: The earliest time of the next start under the task's rate, if it has started jobs.
    rate_next_at: float | None
    paused: bool = False


@attrs.frozen(kw_only=True)
class Throttle:
    """Why a limited claim took fewer jobs than it asked for, and when to look again."""

    #: ``global_concurrency``, ``per_key``, ``rate`` or ``rate_limited`` (a task's pause).
    reason: str
    #: When a start may be possible again (rate, pause); None: when a running job finishes.
    retry_at: float | None = None


@attrs.frozen(kw_only=True)
class LimitedClaim:
    """What ``job_claim_limited`` returns: the jobs claimed, and the throttle that held the
    claim back (None when it took every job it could run)."""

    jobs: list[Any]  # ClaimedJob
    throttle: Throttle | None = None


def key_want(limits: Limits, want: int) -> int:
    """The most jobs of one key a claim of ``want`` may take (so it reads no more per key)."""
    if limits.rate is not None and limits.rate.per_key:
        return 1
    return min(want, limits.per_key or want)


def gate(
    limits: Limits, want: int, now: float, queue: QueueLimitsRow
) -> tuple[int, Throttle | None]:
    """Before a limited claim: how many jobs it may ask for, or the throttle that holds it
    (the task is paused by ``RateLimited``, or its rate allows no start yet)."""
    if queue.blocked_until is not None and queue.blocked_until > now:
        return 0, Throttle(reason="rate_limited", retry_at=queue.blocked_until)
    rate = limits.rate
    if rate is not None and not rate.per_key:
        if queue.rate_next_at is not None and queue.rate_next_at > now:
            return 0, Throttle(reason="rate", retry_at=queue.rate_next_at)
        want = min(want, 1)
    return want, None


def throttle_after(
    limits: Limits, now: float, *, running: int, key_next_at: float | None, more: bool
) -> Throttle | None:
    """After a limited claim that took fewer jobs than it asked for: why, if a limit did it
    (None when there simply were no more jobs)."""
    if not more:
        return None
    if limits.global_concurrency is not None and running >= limits.global_concurrency:
        return Throttle(reason="global_concurrency")
    if limits.rate is not None and limits.rate.per_key:
        return Throttle(reason="rate", retry_at=key_next_at)
    if key_next_at is not None:
        return Throttle(reason="rate_limited", retry_at=key_next_at)
    if limits.per_key is not None:
        return Throttle(reason="per_key")
    return None


@attrs.frozen(kw_only=True)
class AfterClaim:
    """What a limited claim's transaction saw once it had claimed (read in its last statement)."""

    paused: bool
    blocked_until: float | None
    rate_next_at: float | None
    running: int
    more: bool  # available jobs left
    key_next_at: float | None  # the earliest later start of a paused or rate-limited key


def explain(limits: Limits, want: int, got: int, now: float, seen: AfterClaim
            ) -> Throttle | None:
    """Why a limited claim took ``got`` of the ``want`` jobs it asked for, and when to look
    again (None: nothing held it back)."""
    if seen.paused:
        return None
    if seen.blocked_until is not None and seen.blocked_until > now:
        return Throttle(reason="rate_limited", retry_at=seen.blocked_until)
    rate = limits.rate
    if rate is not None and not rate.per_key:
        if got:
            return Throttle(reason="rate", retry_at=seen.rate_next_at or now + rate.interval)
        if seen.rate_next_at is not None and seen.rate_next_at > now:
            return Throttle(reason="rate", retry_at=seen.rate_next_at)
    if got >= want:
        return None
    return throttle_after(limits, now, running=seen.running, key_next_at=seen.key_next_at,
                          more=seen.more)
