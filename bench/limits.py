"""Issue 13: what flow control costs a burn-down when its limit does not bind.

N pre-inserted no-op jobs drained by one worker process with 10 slots (default
``WorkerConfig``), on SQLite and PostgreSQL, in three forms of the same task:

- ``none``: no limits (the plain claim, as in scenario 3);
- ``global``: ``global_concurrency=10``, equal to the worker's slots: every claim counts the
  running jobs inside its statement (and, on PostgreSQL, takes turns on the queue row's lock),
  but the limit never holds a job back;
- ``keys``: each job pushed with one of 100 concurrency keys, ``per_key=1``: claims take the
  keys round-robin (one index seek per key) under a per-key count.

The target (issue 13): ``global`` costs at most 10% of ``none``'s throughput.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio

from service.jobs import JobState, Push

from . import pg, stores
from .common import Context, Results, rate
from .ours import NoOp, TrioTally, opened, task_class, work_until_done
from .proc import measure

if TYPE_CHECKING:
    from collections.abc import Callable

    from service.jobs import Task

TIMEOUT = 600.0
CONCURRENCY = 10
KEYS = 100
FORMS = {
    "none": "no limits",
    "global": f"global_concurrency={CONCURRENCY}",
    "keys": f"{KEYS} keys, per_key=1",
}


def limited_class(form: str) -> type[Task]:
    cls = task_class("noop", CONCURRENCY)
    options = attrs.evolve(cls.options, global_concurrency=None, per_key=None)
    if form == "global":
        options = attrs.evolve(options, global_concurrency=CONCURRENCY)
    elif form == "keys":
        options = attrs.evolve(options, per_key=1)
    cls.options = options  # type: ignore[misc]
    return cls


async def prefill(spec: dict[str, Any], jobs: int, keyed: bool) -> None:
    async with opened(spec) as store:
        for first in range(0, jobs, 1000):
            await store.push_many(
                Push(task=NoOp(n=n), concurrency_key=f"k{n % KEYS}" if keyed else None)
                for n in range(first, min(jobs, first + 1000)))


def child(args: dict[str, Any], ready: Callable[..., None]) -> dict[str, Any]:
    """Drain ``jobs`` pre-inserted jobs with the task in ``form``; jobs/s."""
    jobs = args["jobs"]
    cls = limited_class(args["form"])

    async def main() -> float:
        async with opened(args["spec"]) as store:
            seconds = await work_until_done(store, cls, TrioTally(jobs), TIMEOUT)
            counts = await store.job_count_by_state()
            assert counts.get((cls.options.name, JobState.COMPLETED)) == jobs, counts
        return seconds

    return {"rate": rate(jobs, trio.run(main))}


def run(ctx: Context, results: Results) -> None:
    for variant, spec in stores.variants(ctx, ("sqlite", "pg")).items():
        for form, label in FORMS.items():
            with spec() as store:
                trio.run(prefill, store, ctx.jobs, form == "keys")
                if store["backend"] == "postgresql":
                    pg.analyze(store["url"], "jobs", store["schema"])
                measure(results, f"limits.{variant}.{form}",
                        f"{stores.LABELS[variant]} worker, concurrency {CONCURRENCY},"
                        f" {label} ({ctx.jobs:,})", "jobs/s", "bench.limits:child",
                        {"spec": store, "jobs": ctx.jobs, "form": form})
