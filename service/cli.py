"""``python -m service``: run the service, one role of it, or an operator command.

Every setting can be given as ``SERVICE_<NAME>`` in the environment or ``--<name>`` here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import trio

from . import logs
from .arguments import Parser, UsageError, explain
from .jobs import (
    DatabaseNotFound,
    InvalidLimits,
    InvalidPush,
    InvalidTransition,
    JobAdmin,
    JobFilter,
    JobNotFound,
    JobState,
    QueueNotFound,
    ScheduleNotFound,
    StoreError,
    WorkflowNotFound,
    job_json,
    push_json,
    queue_json,
    redact_secrets,
    schedule_json,
    worker_json,
    workflow_cancel_json,
)
from .runtime import ListenError, open_state, open_store, run_service
from .settings import OPTIONS, Settings, SettingsError, load

if TYPE_CHECKING:
    from collections.abc import Sequence

EPILOG = """commands:
  (none) | run            HTTP API and TaskWorker in one process (the default)
  web                     HTTP API only
  worker                  TaskWorker only; --metrics-bind HOST:PORT gives it a port for
                          /metrics, /healthz and /readyz
  migrate                 create or upgrade the database schema, then exit
  jobs list               list jobs, newest first  [--state S] [--task T] [--limit N]
  jobs show ID            one job as JSON, with its errors
  jobs retry ID           run a finished or waiting job again now (a job out of attempts
                          gets one more: max_attempts is raised, and a note says so)
  jobs cancel ID          cancel an unfinished job  [--reason TEXT]
  jobs push TASK          push a job  [--args JSON] [--delay S] [--priority P] [--unique-key K]
                          [--unique-for S] [--on-conflict keep|replace]
                          [--expires-at TIME | --expire-after S] [--concurrency-key K]
  workflows cancel ID     cancel every unfinished member of a workflow, running ones
                          included  [--reason TEXT]
  queues                  per task type: counts by state, concurrency, limits, paused  [--json]
  queues pause TASK       stop claiming jobs of TASK (all processes)
  queues resume TASK
  queues limits TASK      override TASK's limits in every process (within a second):
                          --set '{"global_concurrency": 5, "rate": {"limit": 100, "per": 60}}'
                          or --reset to the code's limits
  schedules               every schedule: cron, time zone, next run, last tick, paused,
                          orphaned  [--json]
  schedules pause NAME    no process pushes the schedule's ticks until it is resumed
  schedules resume NAME   push again; ticks missed while paused follow its catch_up
  workers                 worker processes from their heartbeats: live, stopped or gone
                          [--json]

Operator commands (jobs, workflows, queues, schedules, workers) never create a database: a
missing SQLite file is an error (exit 1). migrate, run, web and worker create it.
sqlite:///data/x.db is relative to the working directory; sqlite:////srv/x.db is absolute.

Any number of processes may share one database. SIGTERM/SIGINT drain and exit 0; a second
signal exits at once. Invalid configuration exits 2 with a message naming the setting; so does
a SERVICE_* variable that is no setting, and a misspelt flag or command.
"""


class CommandError(Exception):
    """A user-facing failure of an operator command (exit 1)."""


def _settings_parser() -> Parser:
    parser = Parser(add_help=False)
    group = parser.add_argument_group("settings (each also read from SERVICE_<NAME>)")
    for option in OPTIONS:
        default = f" (default: {option.default})" if option.default is not None else ""
        group.add_argument(option.flag, dest=f"setting_{option.name}", metavar=option.name.upper(),
                           default=argparse.SUPPRESS, help=f"{option.help}{default} [{option.env}]")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; a mistake raises :class:`UsageError` (``main`` reports it)."""
    common = _settings_parser()
    parser = Parser(
        prog="python -m service", parents=[common], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A durable background-job service: HTTP API and TaskWorker in one process.",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, text in [("run", "HTTP API and TaskWorker (default)"), ("web", "HTTP API only"),
                       ("worker", "TaskWorker only"), ("migrate", "create or upgrade the schema")]:
        commands.add_parser(name, parents=[common], help=text)

    jobs = commands.add_parser("jobs", parents=[common], help="inspect and act on jobs")
    actions = jobs.add_subparsers(dest="action", metavar="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="list jobs, newest first")
    listing.add_argument("--state", choices=[s.value for s in JobState])
    listing.add_argument("--task")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", type=int, help="list jobs older than this id")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    for action in ("show", "retry", "cancel"):
        sub = actions.add_parser(action, parents=[common], help=f"{action} one job")
        sub.add_argument("id", type=int)
        if action == "cancel":
            sub.add_argument("--reason", default="cancelled by an operator")
    push = actions.add_parser("push", parents=[common], help="push a job")
    push.add_argument("task")
    push.add_argument("--args", default="{}", help="task arguments as a JSON object")
    push.add_argument("--delay", type=float)
    push.add_argument("--priority", type=int)
    push.add_argument("--unique-key")
    push.add_argument("--max-attempts", type=int)
    push.add_argument("--expires-at", help="ISO 8601 time with a timezone, or epoch seconds")
    push.add_argument("--expire-after", type=float, help="seconds from now")
    push.add_argument("--unique-for", type=float, help="seconds")
    push.add_argument("--on-conflict", choices=("keep", "replace"), default="keep")
    push.add_argument("--concurrency-key")

    workflows = commands.add_parser("workflows", parents=[common], help="act on workflows")
    workflow_actions = workflows.add_subparsers(dest="action", metavar="action", required=True)
    workflow_cancel = workflow_actions.add_parser(
        "cancel", parents=[common], help="cancel every unfinished member of a workflow")
    workflow_cancel.add_argument("id", type=int)
    workflow_cancel.add_argument("--reason", default="cancelled by an operator")

    queues = commands.add_parser("queues", parents=[common], help="per task type status")
    json_help = "one JSON object per queue per line (as GET /api/queues lists them)"
    queues.add_argument("--json", action="store_true", help=json_help)
    queue_actions = queues.add_subparsers(dest="action", metavar="action")
    queue_list = queue_actions.add_parser("list", parents=[common], help="the default")
    subs = [queue_list]
    for action in ("pause", "resume"):
        sub = queue_actions.add_parser(action, parents=[common], help=f"{action} a queue")
        sub.add_argument("task")
        subs.append(sub)
    limits = queue_actions.add_parser("limits", parents=[common],
                                      help="override a queue's limits (or --reset them)")
    limits.add_argument("task")
    choice = limits.add_mutually_exclusive_group(required=True)
    choice.add_argument("--set", metavar="JSON", help="global_concurrency, per_key, rate")
    choice.add_argument("--reset", action="store_true", help="back to the code's limits")
    subs.append(limits)
    for sub in subs:  # SUPPRESS: a --json before the action is not reset by the action's default
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=json_help)

    schedules = commands.add_parser("schedules", parents=[common], help="periodic schedules")
    json_help = "one JSON object per schedule per line (as GET /api/schedules lists them)"
    schedules.add_argument("--json", action="store_true", help=json_help)
    schedule_actions = schedules.add_subparsers(dest="action", metavar="action")
    subs = [schedule_actions.add_parser("list", parents=[common], help="the default")]
    for action in ("pause", "resume"):
        sub = schedule_actions.add_parser(action, parents=[common], help=f"{action} a schedule")
        sub.add_argument("name")
        subs.append(sub)
    for sub in subs:
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=json_help)

    workers = commands.add_parser("workers", parents=[common],
                                  help="worker processes: live, stopped or gone")
    workers.add_argument("--json", action="store_true",
                         help="one JSON object per worker per line (as GET /api/workers)")
    return parser


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


async def _jobs(settings: Settings, args: argparse.Namespace) -> None:
    async with open_state(settings, create=False) as state:
        admin = state.admin()
        try:
            if args.action == "list":
                if not 1 <= args.limit <= 10_000:
                    raise CommandError("--limit must be from 1 to 10000")
                state_filter = JobState(args.state) if args.state else None
                rows = await admin.list(JobFilter(state=state_filter, task=args.task,
                                                  limit=args.limit, before_id=args.cursor))
                if args.json:
                    for row in rows:
                        print(json.dumps(job_json(row)))
                    return
                print(f"{'ID':>8}  {'TASK':<24} {'STATE':<10} {'ATTEMPT':>7}  RUN_AT")
                for row in rows:
                    view = job_json(row)
                    print(f"{row.id:>8}  {row.task[:24]:<24} {row.state.value:<10} "
                          f"{row.attempt:>3}/{row.max_attempts:<3}  {view['run_at']}")
            elif args.action == "show":
                _print_json(job_json(await admin.get(args.id)))
            elif args.action == "retry":
                retried = await admin.retry_explained(args.id)
                _print_json(job_json(retried.row))
                if retried.notice is not None:
                    print(f"python -m service: note: {retried.notice}", file=sys.stderr)
            elif args.action == "cancel":
                _print_json(job_json(await admin.cancel(args.id, args.reason)))
            elif args.action == "push":
                await _push(admin, args)
        except JobNotFound as exc:
            raise CommandError(str(exc)) from None
        except InvalidTransition as exc:
            raise CommandError(str(exc)) from None


async def _push(admin: JobAdmin, args: argparse.Namespace) -> None:
    try:
        admin.task_type(args.task)  # an unknown task is reported before invalid --args
        payload = json.loads(args.args)
        pushed = await admin.push(
            args.task, payload, delay=args.delay, priority=args.priority,
            unique_key=args.unique_key, max_attempts=args.max_attempts,
            expires_at=_moment("--expires-at", args.expires_at),
            expire_after=args.expire_after, unique_for=args.unique_for,
            on_conflict=args.on_conflict, concurrency_key=args.concurrency_key,
        )
    except json.JSONDecodeError as exc:
        raise CommandError(f"--args is not valid JSON: {exc}") from None
    except InvalidPush as exc:
        raise CommandError(str(exc)) from None
    _print_json(push_json(pushed))


def _moment(flag: str, text: str | None) -> dt.datetime | float | None:
    """A flag's time: epoch seconds, or an ISO 8601 time (the engine refuses one without a
    timezone, naming the option)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{flag} must be an ISO 8601 time with a timezone or epoch seconds,"
                           f" got {text!r}") from None


async def _workflows(settings: Settings, args: argparse.Namespace) -> None:
    async with open_state(settings, create=False) as state:
        admin = state.admin()
        try:
            cancelled = await admin.cancel_workflow(args.id, args.reason)
        except WorkflowNotFound as exc:
            raise CommandError(str(exc)) from None
        _print_json(workflow_cancel_json(args.id, cancelled))


async def _queues(settings: Settings, args: argparse.Namespace) -> None:
    async with open_state(settings, create=False) as state:
        admin = state.admin()
        if args.action in ("pause", "resume"):
            try:
                await (admin.pause(args.task) if args.action == "pause"
                       else admin.resume(args.task))
            except QueueNotFound as exc:
                raise CommandError(str(exc)) from None
        if args.action == "limits":
            await _limits(admin, args)
        if args.json:
            for queue in await admin.queues():
                print(json.dumps(queue_json(queue)))
            return
        states = list(JobState)
        header = " ".join(f"{s.value:>9}" for s in states)
        print(f"{'TASK':<24} {'CONC':>4} {'PAUSED':<6} {header}  LIMITS")
        for queue in await admin.queues():
            conc = str(queue.concurrency) if queue.registered else "-"
            print(f"{queue.task[:24]:<24} {conc:>4} {'yes' if queue.paused else 'no':<6} "
                  + " ".join(f"{queue.counts[s]:>9}" for s in states)
                  + f"  {queue.limits_text}")


async def _limits(admin: JobAdmin, args: argparse.Namespace) -> None:
    try:
        if args.reset:
            await admin.clear_limits(args.task)
            return
        try:
            body = json.loads(args.set)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--set is not valid JSON: {exc}") from None
        await admin.set_limits(args.task, body)
    except QueueNotFound as exc:
        raise CommandError(str(exc)) from None
    except InvalidLimits as exc:
        raise CommandError(f"invalid limits: {exc}") from None


async def _schedules(settings: Settings, args: argparse.Namespace) -> None:
    async with open_state(settings, create=False) as state:
        admin = state.admin()
        if args.action in ("pause", "resume"):
            try:
                await (admin.pause_schedule(args.name) if args.action == "pause"
                       else admin.resume_schedule(args.name))
            except ScheduleNotFound as exc:
                raise CommandError(str(exc)) from None
        listing = [schedule_json(s) for s in await admin.schedules()]
        if args.json:
            for item in listing:
                print(json.dumps(item))
            return
        print(f"{'NAME':<24} {'CRON':<16} {'TIMEZONE':<16} {'TASK':<20} {'STATUS':<8} "
              f"{'NEXT_RUN':<25} {'LAST_TICK':<25} LAST_JOB")
        for item in listing:
            status = ("orphaned" if item["orphaned"] else "paused" if item["paused"]
                      else "active")
            print(f"{item['name'][:24]:<24} {item['cron'][:16]:<16} {item['timezone'][:16]:<16}"
                  f" {item['task'][:20]:<20} {status:<8} {item['next_run_at'] or '-':<25}"
                  f" {item['last_tick'] or '-':<25} {item['last_job_id'] or '-'}")


async def _workers(settings: Settings, args: argparse.Namespace) -> None:
    async with open_state(settings, create=False) as state:
        rows = await JobAdmin(state.store, state.registry).workers()
        now = state.store.clock.now()
        views = [worker_json(row, now) for row in rows]
        if args.json:
            for view in views:
                print(json.dumps(view))
            return
        print(f"{'STATUS':<8} {'HOST':<20} {'PID':>7} {'IN FLIGHT':>9} {'LAST SEEN':<25} TASKS")
        for view in views:
            print(f"{view['status']:<8} {view['host'][:20]:<20} {view['pid']:>7}"
                  f" {view['in_flight']:>9} {view['last_seen_at']:<25} {','.join(view['tasks'])}")


async def _migrate(settings: Settings) -> None:
    async with open_store(settings) as store:
        applied = store.applied_migrations
        print("applied: " + ", ".join(applied) if applied else "schema is up to date")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit: a reader gone by then is handled below
    except BrokenPipeError:
        return _stdout_closed()
    return code


def _stdout_closed() -> int:
    """The reader of stdout went away (``jobs list | head``): exit 1 quietly, no traceback.

    stdout is pointed at /dev/null so that the interpreter's last flush does not fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        print(explain(parser, words, exc), file=sys.stderr, end="")
        return 2
    overrides = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_")
    }
    try:
        settings = load(overrides)
    except SettingsError as exc:
        _fail(f"invalid configuration: {exc}")
        return 2
    logs.setup(settings.log_level, settings.log_format)
    command = args.command or "run"
    try:
        if command in ("run", "web", "worker"):
            roles = ("web", "worker") if command == "run" else (command,)
            return trio.run(run_service, settings, roles)
        if command == "migrate":
            trio.run(_migrate, settings)
        elif command == "jobs":
            trio.run(_jobs, settings, args)
        elif command == "workflows":
            trio.run(_workflows, settings, args)
        elif command == "queues":
            trio.run(_queues, settings, args)
        elif command == "schedules":
            trio.run(_schedules, settings, args)
        elif command == "workers":
            trio.run(_workers, settings, args)
    except SettingsError as exc:
        _fail(f"invalid configuration: {exc}")
        return 2
    except ListenError as exc:
        _fail(str(exc))
        return 2
    except CommandError as exc:
        _fail(str(exc))
        return 1
    except DatabaseNotFound as exc:
        _fail(_missing_database(exc, settings))
        return 1
    except BrokenPipeError:
        raise
    except (OSError, StoreError) as exc:
        _fail(str(exc))
        return 1
    except BaseExceptionGroup as group:
        if _only(group, BrokenPipeError):
            raise BrokenPipeError from None
        failure = _first_operational(group)
        if failure is None:
            raise
        text = (_missing_database(failure, settings) if isinstance(failure, DatabaseNotFound)
                else str(failure))
        _fail(text)
        return 2 if isinstance(failure, ListenError) else 1
    return 0


def _fail(message: str) -> None:
    """Report a failure on stderr, one line, with any password in it masked."""
    print(f"python -m service: {redact_secrets(message)}", file=sys.stderr)


def _missing_database(exc: DatabaseNotFound, settings: Settings) -> str:
    """What to tell an operator whose command found no database file."""
    return (f"{exc}: operator commands use an existing database and create none. Point"
            f" SERVICE_DATABASE_URL (or --database-url; now {settings.database_url}) at the"
            " service's database: sqlite:///relative/path.db is relative to the working"
            f" directory ({os.getcwd()}), sqlite:////absolute/path.db is absolute. Or create"
            " an empty one with `python -m service migrate`.")


def _only(group: BaseExceptionGroup[Any], kind: type[BaseException]) -> bool:
    matched, rest = group.split(kind)
    return matched is not None and rest is None


def _first_operational(group: BaseExceptionGroup[Any]) -> BaseException | None:
    """A ListenError, OSError or StoreError inside ``group``: the one to report."""
    matched, rest = group.split((ListenError, OSError, StoreError))
    if matched is None or rest is not None:
        return None
    found: BaseException = matched
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found
