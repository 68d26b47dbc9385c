"""Operator commands of ``python -m service``, run as real subprocesses on a real file."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from support.processes import run_cli, service_env

from service.cli import build_parser

if TYPE_CHECKING:
    from argparse import Namespace

README = Path(__file__).parent.parent.parent / "README.md"


def migrated_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a service whose database exists (operator commands create none)."""
    env = service_env(tmp_path)
    migrated = run_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return env


def test_operators_can_push_list_show_cancel_and_retry_jobs(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    user_id = str(uuid.uuid4())
    pushed = run_cli(env, "jobs", "push", "send_welcome_email", "--args",
                     json.dumps({"user_id": user_id}), "--delay", "600", "--priority", "2")
    assert pushed.returncode == 0, pushed.stderr
    job = json.loads(pushed.stdout)
    assert job["state"] == "scheduled"
    assert job["args"] == {"user_id": user_id}
    assert job["priority"] == 2

    listing = run_cli(env, "jobs", "list")
    assert listing.returncode == 0
    assert "send_welcome_email" in listing.stdout
    assert "scheduled" in listing.stdout
    as_json = run_cli(env, "jobs", "list", "--json", "--state", "scheduled")
    assert [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [job["id"]]

    shown = json.loads(run_cli(env, "jobs", "show", str(job["id"])).stdout)
    assert shown["id"] == job["id"]

    cancelled = run_cli(env, "jobs", "cancel", str(job["id"]), "--reason", "typo")
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    again = run_cli(env, "jobs", "cancel", str(job["id"]))
    assert again.returncode == 1
    assert "cannot become cancelled" in again.stderr
    retried = run_cli(env, "jobs", "retry", str(job["id"]))
    assert json.loads(retried.stdout)["state"] == "available"


def test_jobs_push_takes_expiry_and_uniqueness_options_and_says_what_it_did(
    tmp_path: Path,
) -> None:
    env = migrated_env(tmp_path)
    edit = ["jobs", "push", "send_welcome_email", "--delay", "30", "--unique-key", "doc",
            "--on-conflict", "replace", "--unique-for", "60"]
    first = run_cli(env, *edit, "--args", json.dumps({"user_id": str(uuid.uuid4())}),
                    "--expires-at", "2099-01-01T00:00:00+00:00")
    assert first.returncode == 0, first.stderr
    other = str(uuid.uuid4())
    second = run_cli(env, *edit, "--args", json.dumps({"user_id": other}),
                     "--expire-after", "3600")
    assert second.returncode == 0, second.stderr
    inserted, replaced = json.loads(first.stdout), json.loads(second.stdout)
    assert inserted["unique"] == "inserted"
    assert inserted["expires_at"].startswith("2099-01-01T00:00:00")
    assert (replaced["unique"], replaced["id"]) == ("replaced", inserted["id"])
    assert replaced["args"] == {"user_id": other}

    naive = run_cli(env, "jobs", "push", "send_welcome_email", "--args",
                    json.dumps({"user_id": other}), "--expires-at", "2099-01-01T00:00:00")
    assert naive.returncode == 1
    assert "expires_at must be an aware datetime" in naive.stderr
    garbled = run_cli(env, "jobs", "push", "send_welcome_email", "--expires-at", "soon")
    assert garbled.returncode == 1
    assert "--expires-at must be an ISO 8601 time" in garbled.stderr
    lonely = run_cli(env, "jobs", "push", "send_welcome_email", "--args",
                     json.dumps({"user_id": other}), "--unique-for", "60")
    assert lonely.returncode == 1
    assert "unique_for needs a unique_key" in lonely.stderr
    wrong = run_cli(env, "jobs", "push", "send_welcome_email", "--on-conflict", "merge")
    assert wrong.returncode == 2
    assert "--on-conflict" in wrong.stderr
    for result in (naive, garbled, lonely, wrong):
        assert "Traceback" not in result.stderr


def test_operator_mistakes_get_a_message_and_a_nonzero_exit(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    missing = run_cli(env, "jobs", "show", "4242")
    assert missing.returncode == 1
    assert "job 4242 not found" in missing.stderr
    unknown = run_cli(env, "jobs", "push", "no_such_task")
    assert unknown.returncode == 1
    assert "unknown task 'no_such_task'" in unknown.stderr
    bad_json = run_cli(env, "jobs", "push", "send_welcome_email", "--args", "{")
    assert bad_json.returncode == 1
    assert "--args is not valid JSON" in bad_json.stderr
    bad_args = run_cli(env, "jobs", "push", "send_welcome_email", "--args", '{"user_id": 5}')
    assert bad_args.returncode == 1
    assert "$.user_id" in bad_args.stderr
    not_a_number = run_cli(env, "jobs", "show", "abc")
    assert not_a_number.returncode == 2
    assert "invalid int value" in not_a_number.stderr
    for result in (missing, unknown, bad_json, bad_args):
        assert "Traceback" not in result.stderr


def test_queues_can_be_paused_and_resumed_from_the_cli(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    paused = run_cli(env, "queues", "pause", "process_upload")
    assert paused.returncode == 0
    row = next(line for line in paused.stdout.splitlines() if line.startswith("process_upload"))
    assert " yes " in row
    resumed = run_cli(env, "queues", "resume", "process_upload")
    row = next(line for line in resumed.stdout.splitlines() if line.startswith("process_upload"))
    assert " no " in row
    unknown = run_cli(env, "queues", "pause", "nope")
    assert unknown.returncode == 1
    assert "no queue 'nope'" in unknown.stderr


def test_queue_limits_are_overridden_and_reset_from_the_cli(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    body = '{"global_concurrency": 2, "rate": {"limit": 100, "per": 60}}'
    changed = run_cli(env, "queues", "limits", "process_upload", "--set", body)
    assert changed.returncode == 0, changed.stderr
    row = next(line for line in changed.stdout.splitlines() if line.startswith("process_upload"))
    assert row.endswith("global 2, 100/60s (override)")
    shown = run_cli(env, "queues", "--json")
    upload = next(q for q in map(json.loads, shown.stdout.splitlines())
                  if q["task"] == "process_upload")
    assert upload["global_concurrency"] == 2
    assert upload["limits"] == "override"
    reset = run_cli(env, "queues", "limits", "process_upload", "--reset", "--json")
    upload = next(q for q in map(json.loads, reset.stdout.splitlines())
                  if q["task"] == "process_upload")
    assert upload["limits"] == "code"
    bad = run_cli(env, "queues", "limits", "process_upload", "--set", '{"per_key": 0}')
    assert bad.returncode == 1
    assert "$.per_key" in bad.stderr
    assert "Traceback" not in bad.stderr
    neither = run_cli(env, "queues", "limits", "process_upload")
    assert neither.returncode == 2


def test_a_push_whose_task_would_not_decode_is_refused_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    env = migrated_env(tmp_path)
    refused = run_cli(env, "jobs", "push", "lossy_charge", "--args", '{"amount_cents": 12}')
    assert refused.returncode == 1, refused.stdout
    assert "task 'lossy_charge': $.amount_cents: expected an integer, got 12.0" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    listing = run_cli(env, "jobs", "list", "--json")
    assert listing.returncode == 0
    assert listing.stdout.strip() == ""


COMMAND = re.compile(r"^(?:[A-Z_]+=\S+ )*(\S*python3?) -m service\b(.*)$")


def test_the_readme_commands_are_one_a_line_with_the_venv_interpreter_and_parse() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    commands = [match for block in blocks for line in block.splitlines()
                if (match := COMMAND.match(line))]
    parsed: list[Namespace] = []
    for command in commands:
        assert command[1] == ".venv/bin/python", command[0]
        words = shlex.split(command[2], comments=True)
        assert "|" not in words, f"reads as a shell pipe: {command[0]}"
        parsed.append(build_parser().parse_args(words))
    wanted = {("jobs", "list"), ("jobs", "show"), ("jobs", "retry"), ("jobs", "cancel"),
              ("jobs", "push"), ("queues", None), ("queues", "pause"), ("queues", "resume"),
              ("migrate", None), ("worker", None), ("schedules", None),
              ("schedules", "pause"), ("schedules", "resume")}
    assert wanted <= {(args.command, getattr(args, "action", None)) for args in parsed}
def test_operator_commands_never_create_a_database_and_name_the_missing_file(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = service_env(tmp_path)  # SERVICE_DATA_DIR=<tmp>/data, which does not exist
    for command in (["jobs", "list"], ["jobs", "list", "--json"], ["jobs", "show", "1"],
                    ["jobs", "push", "send_welcome_email", "--args", "{}"],
                    ["queues"], ["queues", "--json"], ["queues", "pause", "process_upload"]):
        result = run_cli(env, *command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert result.stdout == "", command
        assert f"no SQLite database at {data / 'service.db'}" in result.stderr, command
        assert "SERVICE_DATABASE_URL" in result.stderr
        assert "--database-url" in result.stderr
        assert "Traceback" not in result.stderr
        assert not data.exists(), f"{command} created {data}"

    elsewhere = tmp_path / "elsewhere" / "jobs.db"
    env_url = {**env, "SERVICE_DATABASE_URL": f"sqlite:///{elsewhere}"}  # four slashes
    missing = run_cli(env_url, "queues")
    assert missing.returncode == 1
    assert f"no SQLite database at {elsewhere}" in missing.stderr
    assert not elsewhere.parent.exists()

    assert run_cli(env, "migrate").returncode == 0, "migrate creates it"
    assert (data / "service.db").exists()
    listing = run_cli(env, "jobs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == ""


def test_an_unopenable_database_names_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    env = {**service_env(tmp_path), "SERVICE_DATABASE_URL": f"sqlite:///{blocker}/x/jobs.db"}
    result = run_cli(env, "migrate")
    assert result.returncode == 1
    assert str(blocker) in result.stderr
    assert "Traceback" not in result.stderr


def _push_directly(env: dict[str, str], count: int, **options: object) -> list[int]:
    """Push ``count`` welcome emails into the service's database from this process."""
    from service.domain.schema import APP_MIGRATIONS
    from service.jobs import open_store
    from service.tasks import SendWelcomeEmail

    async def push() -> list[int]:
        url = f"sqlite:///{env['SERVICE_DATA_DIR']}/service.db"
        async with open_store(url, migrations=APP_MIGRATIONS) as store:
            tasks = [SendWelcomeEmail(user_id=uuid.uuid4()) for _ in range(count)]
            if not options:
                return await store.push_many(tasks)
            return [await store.push(task, **options) for task in tasks]  # type: ignore[arg-type]

    return trio.run(push)


def test_a_listing_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    _push_directly(env, 1500)  # ~120 KB as a table, ~700 KB as JSON: more than a pipe holds
    for flags in (["--json"], []):
        with subprocess.Popen(
            [sys.executable, "-m", "support.run_service", "jobs", "list", "--limit", "1500",
             *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            first = process.stdout.readline()
            process.stdout.close()  # as `| head -n 1` does once it has its line
            stderr = process.stderr.read()
            code = process.wait(timeout=60)
        assert first.strip(), flags
        assert "Traceback" not in stderr, (flags, stderr)
        assert "pipe" not in stderr.lower(), (flags, stderr)
        assert code == 1, flags


def test_retrying_a_job_out_of_attempts_says_max_attempts_was_raised(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    [job_id] = _push_directly(env, 1, max_attempts=1)

    async def fail_it() -> None:
        from service.domain.schema import APP_MIGRATIONS
        from service.jobs import Backoff, open_store
        from service.jobs import _outcomes as outcomes

        async with open_store(f"sqlite:///{env['SERVICE_DATA_DIR']}/service.db",
                              migrations=APP_MIGRATIONS) as store:
            now = store.clock.now()
            [claimed] = await store.job_claim("send_welcome_email", "test", 1, now, now + 60)
            try:
                raise RuntimeError("smtp down")
            except RuntimeError as exc:
                outcome = outcomes.failed(claimed, "test", now, Backoff(), exc)
            assert await store.job_set_state_if_running_many([outcome]) == [True]

    trio.run(fail_it)
    retried = run_cli(env, "jobs", "retry", str(job_id))
    assert retried.returncode == 0, retried.stderr
    job = json.loads(retried.stdout)
    assert (job["state"], job["attempt"], job["max_attempts"]) == ("available", 1, 2)
    assert (f"note: job {job_id} had used all 1 of its attempts: max_attempts raised from 1"
            " to 2") in retried.stderr
    cancelled = run_cli(env, "jobs", "cancel", str(job_id))
    assert cancelled.returncode == 0
    again = run_cli(env, "jobs", "retry", str(job_id))
    assert again.returncode == 0
    assert "note:" not in again.stderr, "attempt 1 of 2: nothing raised"


def test_queues_as_json_lines_match_the_api_shape(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    _push_directly(env, 2)
    for command in (["queues", "--json"], ["queues", "list", "--json"],
                    ["queues", "--json", "list"]):
        result = run_cli(env, *command)
        assert result.returncode == 0, result.stderr
        queues = {q["task"]: q for q in map(json.loads, result.stdout.splitlines())}
        welcome = queues["send_welcome_email"]
        assert set(welcome) == {"task", "registered", "concurrency", "paused", "counts",
                                "global_concurrency", "per_key", "running", "rate",
                                "tokens_left", "next_start_at", "paused_until", "limits"}
        assert welcome["counts"]["available"] == 2
        assert welcome["registered"] is True
        assert "process_upload" in queues
    paused = run_cli(env, "queues", "pause", "process_upload", "--json")
    lines = [json.loads(line) for line in paused.stdout.splitlines()]
    assert next(q for q in lines if q["task"] == "process_upload")["paused"] is True
    text = run_cli(env, "queues")
    assert text.stdout.startswith("TASK"), "without --json: the table"


def test_operators_cancel_a_whole_workflow_from_the_cli(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)

    async def push_workflow() -> tuple[int, list[int]]:
        from service.domain.schema import APP_MIGRATIONS
        from service.jobs import Workflow, open_store
        from service.tasks.send_welcome_email import SendWelcomeEmail

        wf = Workflow("cli-batch")
        first = wf.add(SendWelcomeEmail(user_id=uuid.uuid4()))
        wf.add(SendWelcomeEmail(user_id=uuid.uuid4()), after=[first])
        async with open_store(f"sqlite:///{env['SERVICE_DATA_DIR']}/service.db",
                              migrations=APP_MIGRATIONS) as store:
            ids = await store.push_workflow(wf)
        assert wf.id is not None
        return wf.id, ids

    workflow_id, ids = trio.run(push_workflow)
    cancelled = run_cli(env, "workflows", "cancel", str(workflow_id), "--reason", "wrong batch")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout) == {"workflow": workflow_id, "cancelled": ids}
    shown = json.loads(run_cli(env, "jobs", "show", str(ids[1])).stdout)
    assert shown["state"] == "cancelled"
    assert shown["workflow"] == {"id": workflow_id, "name": "cli-batch"}
    assert shown["errors"][-1]["message"] == "wrong batch"

    missing = run_cli(env, "workflows", "cancel", "4242")
    assert missing.returncode == 1
    assert "workflow 4242 not found" in missing.stderr
    assert "Traceback" not in missing.stderr
def test_schedules_are_listed_paused_and_resumed_from_the_cli(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    listing = run_cli(env, "schedules")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("cleanup-uploads"))
    assert "*/15 * * * *" in row
    assert " active " in row
    paused = run_cli(env, "schedules", "pause", "cleanup-uploads", "--json")
    assert paused.returncode == 0, paused.stderr
    [schedule] = map(json.loads, paused.stdout.splitlines())
    assert set(schedule) == {"name", "cron", "timezone", "task", "catch_up", "next_run_at",
                             "last_tick", "last_job_id", "paused", "orphaned"}
    assert schedule["paused"] is True
    resumed = run_cli(env, "schedules", "resume", "cleanup-uploads")
    row = next(line for line in resumed.stdout.splitlines() if line.startswith("cleanup-uploads"))
    assert " active " in row
    unknown = run_cli(env, "schedules", "pause", "nope")
    assert unknown.returncode == 1
    assert "no schedule 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def _beat_directly(env: dict[str, str], owner: str, seen_ago: float) -> None:
    """A worker's heartbeat, last seen ``seen_ago`` seconds ago, written from this process."""
    from service.domain.schema import APP_MIGRATIONS
    from service.jobs import WorkerBeat, open_store

    async def beat() -> None:
        url = f"sqlite:///{env['SERVICE_DATA_DIR']}/service.db"
        async with open_store(url, migrations=APP_MIGRATIONS) as store:
            now = store.clock.now()
            await store.worker_beat(WorkerBeat(
                owner=owner, host="host-b", pid=77, tasks=("send_welcome_email",), in_flight=1,
                started_at=now - 3600, seen_at=now - seen_ago, interval=5.0))

    trio.run(beat)


def test_workers_are_listed_as_a_table_or_json_lines_like_the_api(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    _beat_directly(env, "host-b:77:live", 1)
    _beat_directly(env, "host-b:78:dead", 600)

    table = run_cli(env, "workers")
    as_json = run_cli(env, "workers", "--json")

    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["STATUS", "HOST", "PID", "IN", "FLIGHT", "LAST", "SEEN", "TASKS"]
    assert [line.split()[0] for line in lines[1:]] == ["live", "gone"]
    assert as_json.returncode == 0, as_json.stderr
    workers = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(w["owner"], w["status"]) for w in workers] == [
        ("host-b:77:live", "live"), ("host-b:78:dead", "gone")]
    assert workers[0]["tasks"] == ["send_welcome_email"]
