"""``redact_secrets``: the one function that masks credentials in URLs and connection strings."""

from __future__ import annotations

import pytest

from service.jobs import redact_secrets
from service.jobs._redact import secrets_in

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://postgres:hunter2@db.example:5432/app",
         "postgresql://postgres:***@db.example:5432/app"),
        ("postgres://:hunter2@db/app", "postgres://:***@db/app"),  # a password, no user
        ("postgresql://ada:hun%40ter2%2F@db/app", "postgresql://ada:***@db/app"),
        ("postgresql://ada:hun@ter#2?x@db/app", "postgresql://ada:***@db/app"),  # up to the last @
        ("postgresql://ada@db/app?sslmode=require&password=hunter2&connect_timeout=3",
         "postgresql://ada@db/app?sslmode=require&password=***&connect_timeout=3"),
        ("postgresql://db/app?password=hunter2", "postgresql://db/app?password=***"),
        ("host=db user=ada password=hunter2 dbname=app",
         "host=db user=ada password=*** dbname=app"),
        ("host=db password = 'hun ter\\'2' dbname=app", "host=db password = *** dbname=app"),
        ("host=db sslpassword=hunter2", "host=db sslpassword=***"),
        ("smtp+starttls://mailer:hunter2@smtp.example:587", "smtp+starttls://mailer:***@smtp.example:587"),
        ("SERVICE_DATABASE_URL: got 'postgresql://u:hunter2@/app'",
         "SERVICE_DATABASE_URL: got 'postgresql://u:***@/app'"),
    ],
)
def test_credentials_are_masked_and_the_rest_stays_readable(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected
    assert "hunter" not in redact_secrets(text)
    assert redact_secrets(expected) == expected, "idempotent"


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://ada@db:5432/app",
        "sqlite:////var/lib/service/service.db",
        "sqlite:///data/service.db",
        "http://127.0.0.1:8000",
        "http://[::1]:8000/api/users",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL: password authentication'
        ' failed for user "ada"',
        "ada@example.com wrote to bob@example.com",
        "",
    ],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact_secrets(text) == text


def test_known_secrets_are_masked_raw_and_percent_decoded() -> None:
    url = "postgresql://ada:p%zzw%40rd@db/app"  # libpq refuses it, quoting a piece of it
    message = 'invalid percent-encoded token: "p%zzw%40rd"; also "p%zzw@rd"'
    assert secrets_in(url) == ["p%zzw%40rd", "p%zzw@rd"]
    assert redact_secrets(message, *secrets_in(url)) == (
        'invalid percent-encoded token: "***"; also "***"')


def test_a_settings_error_never_shows_the_password() -> None:
    from service.settings import SettingsError, load

    for url in ("postgresql://ada:hunter2@/app", "mysql://ada:hunter2@db/app",
                "postgresql://ada:hunter2@[db/app"):
        with pytest.raises(SettingsError, match="SERVICE_DATABASE_URL") as caught:
            load(environ={"SERVICE_DATABASE_URL": url})
        assert SECRET not in str(caught.value)
        assert "ada:***@" in str(caught.value)
    for url in ("smtp://ada:hunter2@mail:port", "http://ada:hunter2@mail", "smtp://ada:hunter2@[x"):
        with pytest.raises(SettingsError, match="SERVICE_SMTP_URL") as caught:
            load(environ={"SERVICE_SMTP_URL": url})
        assert SECRET not in str(caught.value)


def test_a_connection_string_libpq_cannot_read_is_refused_without_its_password() -> None:
    from service.jobs import UnsupportedStoreURL, open_store

    with pytest.raises(UnsupportedStoreURL, match="libpq") as caught:
        open_store("postgresql://ada:hunter%zz2@db/app")
    assert "hunter" not in str(caught.value)


def test_every_string_of_a_json_log_line_is_masked() -> None:
    import json
    import logging
    import sys

    from service.logs import JsonFormatter

    try:
        raise ConnectionError("could not connect to postgresql://ada:hunter2@db/app")
    except ConnectionError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord({
        "msg": "connecting to postgresql://ada:hunter2@db/app", "exc_info": exc_info,
        "event": "service.ready", "extra_field": "host=db password=hunter2",
        "fields": {"database": "postgresql://ada:hunter2@db/app",
                   "nested": {"urls": ["smtp://m:hunter2@mail"]},
                   "error": ValueError("postgresql://ada:hunter2@db/app")},
    })
    line = JsonFormatter().format(record)
    assert SECRET not in line
    entry = json.loads(line)
    assert entry["database"] == "postgresql://ada:***@db/app"
    assert entry["nested"] == {"urls": ["smtp://m:***@mail"]}
    assert entry["error"] == "postgresql://ada:***@db/app"
    assert entry["extra_field"] == "host=db password=***"
    assert "ada:***@db" in entry["exception"]



def test_a_text_log_line_masks_the_same_strings_and_quotes_what_needs_it() -> None:
    import logging
    import sys

    from service.logs import TextFormatter

    try:
        raise ConnectionError("could not connect to postgresql://ada:hunter2@db/app")
    except ConnectionError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord({
        "msg": "ignored", "exc_info": exc_info, "event": "service.ready", "levelname": "INFO",
        "fields": {"database": "postgresql://ada:hunter2@db/app", "roles": "web,worker",
                   "reason": 'a "quoted" sentence', "forced": False, "status": None},
    })
    first, *rest = TextFormatter().format(record).splitlines()
    assert SECRET not in first
    assert SECRET not in "\n".join(rest)
    assert first.split(" ", 1)[1] == (
        'INFO    service.ready database=postgresql://ada:***@db/app roles=web,worker'
        ' reason="a \\"quoted\\" sentence" forced=false status=null')
    assert rest[0] == "Traceback (most recent call last):"

def test_an_error_recorded_on_a_job_is_stored_without_the_password() -> None:
    from service.jobs import AttemptError, ErrorKind
    from service.jobs._attempt_error import to_stored

    error = AttemptError(
        attempt=1, at=0.0, kind=ErrorKind.ERROR, error="ConnectionError",
        detail="cannot reach postgresql://ada:hunter2@db/app",
        traceback="Traceback ...\nConnectionError: cannot reach postgresql://ada:hunter2@db/app",
    )
    stored = to_stored(error)
    assert stored["message"] == "cannot reach postgresql://ada:***@db/app"
    assert SECRET not in stored["traceback"]
