"""Operator commands of ``python -m service``, run as real subprocesses on a real file."""

from __future__ import annotations

import json
import re
import shlex
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from support.processes import run_cli, service_env

from service.cli import build_parser

if TYPE_CHECKING:
    from argparse import Namespace

README = Path(__file__).parent.parent.parent / "README.md"


def test_operators_can_push_list_show_cancel_and_retry_jobs(tmp_path: Path) -> None:
    env = service_env(tmp_path)
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


def test_operator_mistakes_get_a_message_and_a_nonzero_exit(tmp_path: Path) -> None:
    env = service_env(tmp_path)
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
    env = service_env(tmp_path)
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


def test_a_push_whose_task_would_not_decode_is_refused_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path)
    refused = run_cli(env, "jobs", "push", "lossy_charge", "--args", '{"amount_cents": 12}')
    assert refused.returncode == 1, refused.stdout
    assert "task 'lossy_charge': $.amount_cents: invalid value for type, expected int" in (
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
              ("migrate", None), ("worker", None)}
    assert wanted <= {(args.command, getattr(args, "action", None)) for args in parsed}
