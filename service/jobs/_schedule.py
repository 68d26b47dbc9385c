"""Periodic schedules: what a task author declares, and the tick maths. Pure: no trio, no SQL.

Cron expressions are parsed and iterated by ``cronsim``, which handles daylight-saving changes as
Debian's cron does: a schedule with a fixed hour (``30 2 * * *``) runs once per local day -- a
tick in the skipped hour runs right after the change, a tick in the repeated hour runs once, at
its first occurrence -- while a schedule with a wildcard hour (``0 * * * *``, ``*/5 * * * *``)
follows real time. On top of it, :class:`CronTicks` only ever yields instants strictly after the
one it starts from: started inside a repeated hour, ``cronsim`` can hand back the first
occurrence of a tick that is already past.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from cronsim import CronSim, CronSimError

from ._errors import InvalidSchedule, PayloadError
from ._payload_check import encode_task
from ._task import Task, TaskRegistry, task_options

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

CatchUp = Literal["latest", "all", "none"]
CATCH_UP_POLICIES: tuple[CatchUp, ...] = ("latest", "all", "none")
#: Ticks closer together than this expire by default (``Schedule.expire_after="auto"``).
AUTO_EXPIRY_BELOW_S = 3600.0

#: The nicknames classic cron accepts, as the 5-field expressions they stand for.
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

#: With ``catch_up="none"``, a tick found due more than this many seconds after its time was
#: missed (the service was down or the schedule paused) and is skipped.
ON_TIME_S = 60.0


@attrs.frozen(kw_only=True)
class Schedule:
    """A task pushed at every tick of a cron expression, exactly once across all workers.

    ``name`` is what is stored: keep it stable and unique. ``cron`` is a standard 5-field
    expression or a nickname (``@hourly``, ``@daily``, ...); ``timezone`` an IANA name in which
    it is read. ``catch_up`` says what happens to ticks missed while no worker ran (or while the
    schedule was paused): ``"latest"`` pushes the most recent one, ``"all"`` pushes each of them
    (at most the ``max_catch_up`` most recent), ``"none"`` skips them. A schedule never seen
    before starts at its next tick.

    ``expire_after`` bounds how long a tick's job may wait to start once pushed: seconds, or
    ``None`` (never expires), or ``"auto"`` (the default): the tick's interval -- the time to the
    next tick -- when ticks come more often than hourly, else never. A job not started in time is
    discarded (error kind ``expired``), so a backlog of a frequent schedule does not pile up
    behind a stalled queue. The values are checked by ``TaskWorker`` (and ``JobAdmin``), which
    raise :class:`InvalidSchedule` naming the schedule.
    """

    name: str
    cron: str
    task: Task
    timezone: str = "UTC"
    catch_up: CatchUp = "latest"
    max_catch_up: int = 100
    expire_after: float | Literal["auto"] | None = "auto"

    def expiry_for(self, tick: float, following: float | None) -> float | None:
        """Seconds the job of ``tick`` may wait to start (``following``: the next tick)."""
        if self.expire_after != "auto":
            return self.expire_after
        if following is None or following - tick >= AUTO_EXPIRY_BELOW_S:
            return None
        return following - tick

    @property
    def task_name(self) -> str:
        return task_options(self.task).name

    def ticks(self) -> CronTicks:
        """The tick maths of this schedule (:class:`InvalidSchedule` if it is invalid)."""
        return CronTicks(self.cron, self.timezone, name=self.name)


class CronTicks:
    """The instants (epoch seconds) at which a cron expression fires in a time zone."""

    def __init__(self, cron: str, timezone: str, *, name: str = "?") -> None:
        self.name = name
        if not isinstance(cron, str):
            raise InvalidSchedule(name, f"cron must be a string, got {cron!r}")
        self.expression = NICKNAMES.get(cron.strip().lower(), cron.strip())
        if len(self.expression.split()) != 5:
            raise InvalidSchedule(
                name, f"cron {cron!r} is not a 5-field expression (minute hour day month"
                " weekday) or one of " + ", ".join(NICKNAMES))
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidSchedule(
                name, f"timezone {timezone!r} is not an IANA time zone name") from None
        try:
            CronSim(self.expression, dt.datetime(2000, 1, 1, tzinfo=self.zone))
        except CronSimError as exc:
            raise InvalidSchedule(name, f"cron {cron!r} is invalid: {exc}") from None
        if self.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()) is None:
            raise InvalidSchedule(name, f"cron {cron!r} never fires")

    def _forward(self, after: float) -> Iterator[float]:
        """Ticks strictly after ``after``, in order."""
        last = after
        try:
            for moment in CronSim(self.expression, dt.datetime.fromtimestamp(after, self.zone)):
                tick = moment.timestamp()
                if tick > last:
                    last = tick
                    yield tick
        except (StopIteration, CronSimError):
            return

    def next_after(self, after: float) -> float | None:
        """The first tick strictly after ``after`` (None if it never fires again)."""
        return next(self._forward(after), None)

    def between(self, after: float, until: float, keep: int) -> list[float]:
        """The last ``keep`` ticks ``t`` with ``after < t <= until``, oldest first."""
        return self.around(after, until, keep)[0]

    def around(self, after: float, until: float, keep: int) -> tuple[list[float], float | None]:
        """:meth:`between`, and the first tick after ``until`` (None if it never fires again).

        Costs about ``keep`` steps however long the span: past that many ticks from ``after``
        it seeks back from ``until`` instead of walking the whole span.
        """
        keep = max(1, keep)
        found: list[float] = []
        for walked, tick in enumerate(self._forward(after)):
            if tick > until:
                return found, tick
            found.append(tick)
            if len(found) > keep:
                del found[0]
            if walked > keep + 2:
                break
        else:
            return found, None
        found = []
        for tick in self._forward(self._seek(after, until, keep)):
            if tick > until:
                return found, tick
            found.append(tick)
            if len(found) > keep:
                del found[0]
        return found, None

    def _seek(self, after: float, until: float, keep: int) -> float:
        """An instant after ``after`` with at least ``keep`` ticks between it and ``until``."""
        start = after
        # Ticks fall on whole seconds: t <= until exactly when t < floor(until) + 1.
        back = CronSim(self.expression,
                       dt.datetime.fromtimestamp(int(until) + 1, self.zone), reverse=True)
        try:
            for _ in range(keep + 2):  # two more than needed: a DST change may shift one
                moment = next(back).timestamp()
                if moment <= after:
                    break
                start = moment - 1
        except (StopIteration, CronSimError):
            pass
        return max(start, after)


@attrs.frozen
class Due:
    """What a worker does at some instant for one schedule (:func:`due_ticks`)."""

    #: The ticks to push now, oldest first.
    push: list[float]
    #: The tick to record as the last one handled (None when no tick is due). Skipped ticks are
    #: recorded too, so they are never reconsidered.
    latest: float | None
    #: The next tick after the instant (None if the expression never fires again).
    upcoming: float | None


def due_ticks(schedule: Schedule, ticks: CronTicks, since: float, now: float) -> Due:
    """What is due at ``now`` for a schedule whose last handled tick (or first sighting) is
    ``since``, by its ``catch_up`` policy."""
    keep = schedule.max_catch_up if schedule.catch_up == "all" else 1
    due, upcoming = ticks.around(since, now, keep)
    if not due:
        return Due([], None, upcoming)
    latest = due[-1]
    if schedule.catch_up == "none":
        return Due([latest] if now - latest <= ON_TIME_S else [], latest, upcoming)
    return Due(due, latest, upcoming)


def check_schedules(
    schedules: Iterable[Schedule], registry: TaskRegistry | None = None
) -> dict[str, tuple[Schedule, CronTicks]]:
    """Each schedule by name with its tick maths, once every one is valid.

    :class:`InvalidSchedule` names the first schedule with an invalid cron expression, time
    zone, catch-up policy or task (a task the ``registry`` lacks, a payload that does not
    round-trip), or a name given twice.
    """
    checked: dict[str, tuple[Schedule, CronTicks]] = {}
    for schedule in schedules:
        if not isinstance(schedule, Schedule):
            raise InvalidSchedule("?", f"expected a Schedule, got {schedule!r}")
        name = schedule.name
        if (not isinstance(name, str) or not 1 <= len(name) <= 200 or not name.isprintable()
                or "/" in name):
            # No slash: operators address a schedule as /api/schedules/<name>/pause.
            raise InvalidSchedule(str(name), "name must be 1-200 printable characters, no '/'")
        if name in checked:
            raise InvalidSchedule(name, "two schedules have this name")
        if schedule.catch_up not in CATCH_UP_POLICIES:
            raise InvalidSchedule(name, f"catch_up must be one of {', '.join(CATCH_UP_POLICIES)},"
                                        f" got {schedule.catch_up!r}")
        max_catch_up = schedule.max_catch_up
        if isinstance(max_catch_up, bool) or not isinstance(max_catch_up, int) or not (
                1 <= max_catch_up <= 10_000):
            raise InvalidSchedule(name, f"max_catch_up must be an integer from 1 to 10000,"
                                        f" got {max_catch_up!r}")
        expire_after = schedule.expire_after
        if expire_after != "auto" and expire_after is not None and (
                isinstance(expire_after, bool) or not isinstance(expire_after, int | float)
                or not 0 < expire_after < 10 * 365 * 86_400):
            raise InvalidSchedule(name, "expire_after must be 'auto', None or a number of seconds"
                                        f" > 0, got {expire_after!r}")
        if not isinstance(schedule.task, Task):
            raise InvalidSchedule(name, f"task must be a Task instance, got {schedule.task!r}")
        task = schedule.task_name
        if registry is not None and task not in registry:
            raise InvalidSchedule(name, f"its task {task!r} is not registered with the worker")
        try:
            encode_task(schedule.task, name=task)
        except PayloadError as exc:
            raise InvalidSchedule(name, str(exc)) from None
        checked[name] = (schedule, schedule.ticks())
    return checked
