"""Mistakes in the configuration or on the command line stop ``python -m service`` with exit 2
and one line naming the misspelt variable, flag or command, with the closest known one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from support.processes import service_env

from service import settings
from service.cli import main
from service.settings import NOT_SETTINGS, OPTIONS, SettingsError, from_environment, load

ROOT = Path(__file__).parent.parent.parent
MISSPELT = "SERVICE_ADMINTOKEN"


def _python_m_service(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("SERVICE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SERVICE_DATA_DIR", str(tmp_path / "data"))


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_an_unknown_service_variable_stops_the_process_before_anything_starts(
    tmp_path: Path,
) -> None:
    env = service_env(tmp_path)
    env[MISSPELT] = "secret"
    result = _python_m_service(env, "worker")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        f"python -m service: invalid configuration: {MISSPELT}: unknown setting;"
        " did you mean SERVICE_ADMIN_TOKEN?"
    )
    assert not (tmp_path / "data").exists()  # no database, no directories: nothing started


@pytest.mark.usefixtures("clean_environment")
def test_an_unknown_service_variable_like_no_setting_gets_no_suggestion(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVICE_FROBNICATE", "1")
    assert main(["migrate"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "python -m service: invalid configuration: SERVICE_FROBNICATE: unknown setting"
    )


def test_a_variable_in_the_wrong_case_is_pointed_at_the_right_name() -> None:
    with pytest.raises(SettingsError, match=r"^SERVICE_lease_ttl: unknown setting; "
                                            r"did you mean SERVICE_LEASE_TTL\?$"):
        load(environ={"SERVICE_lease_ttl": "5"})


def test_an_override_that_names_no_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="SERVICE_ADMIN_TOKN: unknown setting; did you mean"):
        load({"admin_tokn": "x"}, environ={})


#: Named in the README as what is refused: a typo, and a variable Kubernetes injects.
REFUSED_IN_THE_README = {MISSPELT, "SERVICE_PORT"}


def test_every_service_variable_the_project_mentions_is_accepted() -> None:
    mentioned: set[str] = set()
    for path in [ROOT / "README.md", *ROOT.glob("service/**/*.py"), *ROOT.glob("tests/**/*.py"),
                 *ROOT.glob("bench/**/*.py")]:
        if path == Path(__file__):  # misspelt on purpose
            continue
        mentioned.update(re.findall(r"\bSERVICE_[A-Z][A-Z0-9_]*\b", path.read_text()))
    assert mentioned >= REFUSED_IN_THE_README
    for name in REFUSED_IN_THE_README:
        with pytest.raises(SettingsError, match=f"^{name}: unknown setting"):
            load(environ={name: "x"})
    mentioned -= REFUSED_IN_THE_README
    settings_named = {option.env for option in OPTIONS}
    assert "SERVICE_TEST_DATABASE_URL" in mentioned
    assert "SERVICE_ADMIN_TOKEN" in mentioned
    assert mentioned <= settings_named | NOT_SETTINGS, mentioned - settings_named - NOT_SETTINGS
    parsed = from_environment({name: "x" for name in mentioned})
    assert set(parsed) == {option.name for option in OPTIONS if option.env in mentioned}
    tests_only = {name: "0" for name in NOT_SETTINGS}
    assert load(environ=tests_only) == load(environ={})


def test_strings_from_the_environment_keep_their_formats() -> None:
    loaded = load(environ={
        "SERVICE_UPLOAD_MAX_BYTES": "64M", "SERVICE_BODY_MAX_BYTES": "512k",
        "SERVICE_SQLITE_MMAP_BYTES": "0", "SERVICE_SHUTDOWN_GRACE": "2.5",
        "SERVICE_LOG_LEVEL": "debug", "SERVICE_MAX_RESCUES": "7", "SERVICE_ADMIN_TOKEN": "",
    })
    assert (loaded.upload_max_bytes, loaded.body_max_bytes) == (64 * 1024**2, 512 * 1024)
    assert (loaded.sqlite_mmap_bytes, loaded.shutdown_grace) == (0, 2.5)
    assert (loaded.log_level, loaded.max_rescues, loaded.admin_token) == ("DEBUG", 7, None)


def test_typed_values_are_structured_strictly() -> None:
    values = attrs.asdict(load(environ={}), recurse=False)
    assert settings.from_values(values) == load(environ={})
    with pytest.raises(SettingsError, match=r"^SERVICE_MAX_RESCUES: "):
        settings.from_values({**values, "max_rescues": "5"})  # no "5" -> 5 outside the parser
    with pytest.raises(SettingsError, match=r"^SERVICE_LEASE_TTL: "):
        settings.from_values({**values, "lease_ttl": True})
    with pytest.raises(SettingsError, match="extra fields"):
        settings.from_values({**values, "colour": "blue"})


def test_a_misspelt_flag_before_the_command_is_named_not_taken_for_a_command(
    tmp_path: Path,
) -> None:
    result = _python_m_service(service_env(tmp_path), "--admin-tokn", "x")
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "python -m service: error: --admin-tokn: unknown flag; did you mean --admin-token?"
    )
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["jobs", "list", "--stat", "done"],
         "python -m service jobs list: error: --stat: unknown flag; did you mean --state?"),
        (["wrker"], "python -m service: error: wrker: unknown command; did you mean worker?"),
        (["jobs", "lst"], "python -m service jobs: error: lst: unknown action; did you mean list?"),
        (["jobs", "push", "t", "--delay", "-5", "--priorty", "1"],
         "python -m service jobs push: error: --priorty: unknown flag; did you mean --priority?"),
        (["worker", "--lease-tl=5"],
         "python -m service worker: error: --lease-tl: unknown flag; did you mean --lease-ttl?"),
        (["--adm", "x"],  # flags are never abbreviated, but a prefix points at its flag
         "python -m service: error: --adm: unknown flag; did you mean --admin-token?"),
        (["--state", "done", "jobs", "list"],
         "python -m service: error: --state: unknown flag; it goes after 'jobs list'"),
        (["--frobnicate"], "python -m service: error: --frobnicate: unknown flag"),
    ],
)
@pytest.mark.usefixtures("clean_environment")
def test_a_misspelt_flag_or_command_is_named_with_the_closest_known_one(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert _one_line(capsys.readouterr().err) == message


@pytest.mark.usefixtures("clean_environment")
def test_other_usage_errors_keep_argparse_wording(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--limit", "many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m service jobs list")
    assert err.endswith("python -m service jobs list: error: argument --limit:"
                        " invalid int value: 'many'\n")
    assert main(["worker", "extra"]) == 2
    assert "error: unrecognized arguments: extra" in capsys.readouterr().err
