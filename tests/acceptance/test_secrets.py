"""The CLI never prints a database password: settings errors, unreadable URLs, failed connections.

Issue 11, bug 1. Each case runs ``python -m service`` as a real process with a password in
``--database-url`` (or ``SERVICE_SMTP_URL``) and looks for it in everything it wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from support.processes import run_cli, service_env

if TYPE_CHECKING:
    from pathlib import Path

PASSWORD = "hunter2-0f5e"


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        (f"postgresql://ada:{PASSWORD}@/app", 2, "needs a host"),  # a settings error
        (f"mysql://ada:{PASSWORD}@db/app", 2, "SERVICE_DATABASE_URL"),
        (f"postgresql://ada:{PASSWORD}@127.0.0.1/app?bogus=1", 2, "libpq"),  # libpq refuses it
        (f"postgresql://ada:{PASSWORD}%zz@127.0.0.1/app", 2, "libpq"),  # quotes the bad token
        (f"postgresql://ada:{PASSWORD}@127.0.0.1:1/app?connect_timeout=3", 1, "127.0.0.1"),
        (f"host=127.0.0.1 user=ada password={PASSWORD}", 2, "password=***"),  # not a URL
    ],
)
def test_a_cli_error_never_shows_the_database_password(
    tmp_path: Path, url: str, status: int, says: str
) -> None:
    result = run_cli(service_env(tmp_path), "jobs", "list", "--database-url", url)
    assert result.returncode == status, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_an_invalid_smtp_url_is_reported_without_its_password(tmp_path: Path) -> None:
    env = service_env(tmp_path, smtp_url=f"smtp://mailer:{PASSWORD}@mail:port")
    result = run_cli(env, "migrate")
    assert result.returncode == 2
    assert "SERVICE_SMTP_URL" in result.stderr
    assert "mailer:***@mail" in result.stderr
    assert PASSWORD not in result.stderr
