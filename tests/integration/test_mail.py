"""Outgoing email: the welcome message, the .eml file mailer, and SMTP against a real server."""

from __future__ import annotations

import copy
import datetime as dt
import email
import uuid
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
import trio
from support.http import make_settings as settings_for
from support.http import serve_app
from support.smtp_server import SmtpServer
from support.waiting import eventually

from service.domain.mail import FileMailer, SmtpMailer, build_welcome_email, make_mailer
from service.domain.smtp import MailError, SmtpTarget
from service.jobs import JobFilter, JobState

if TYPE_CHECKING:
    from pathlib import Path

SENT_AT = 1_800_000_000.0
USER_ID = uuid.UUID("6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f")


def welcome(name: str = "Ada Lovelace", address: str = "ada@example.com") -> EmailMessage:
    return build_welcome_email(
        user_id=USER_ID, name=name, email=address, mail_from="Service <service@example.com>",
        sent_at=SENT_AT,
    )


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_welcome_email_is_an_rfc5322_message_with_a_deterministic_id() -> None:
    raw = welcome().as_bytes(policy=policy.SMTP)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = parse(raw)
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Ada Lovelace", "ada@example.com")
    assert message["From"].addresses[0].addr_spec == "service@example.com"
    assert message["Subject"] == "Welcome!"
    assert message["Message-ID"] == f"<welcome-{USER_ID}@service>"
    assert message["Date"].datetime == dt.datetime.fromtimestamp(SENT_AT, tz=dt.UTC)
    body = message.get_body(("plain",))
    assert body is not None
    assert "Hello Ada Lovelace" in body.get_content()
    assert welcome()["Message-ID"] == message["Message-ID"]


def test_a_display_name_with_specials_and_non_ascii_is_encoded_and_round_trips() -> None:
    name = 'Zoë "Zed" O\'Neil, Jr. <boss>'
    raw = welcome(name=name).as_bytes(policy=policy.SMTP)
    assert raw.isascii()
    message = parse(raw)
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "ada@example.com")
    body = message.get_body(("plain",))
    assert body is not None
    assert f"Hello {name}," in body.get_content()


#: Names that are header syntax if pasted into a header: encoded words, quotes, commas, angle
#: brackets, semicolons, backslashes, whitespace a reader would collapse.
HOSTILE_NAMES = [
    "Ada =?utf-8?q?x?= evil",
    "=?utf-8?b?QUJD?=",
    "=?iso-8859-1?q?Ren=E9?= =?iso-8859-1?q?e?=",
    '"=?utf-8?q?quoted?="',
    "Zoë =?utf-8?q?=41?=",
    "Eve, Mallory <mallory@example.com>",
    "Bob <bob@example.com>; Carol: x;",
    'Ada "The Countess" Lovelace',
    "back\\slash \\=?utf-8?q?x?=",
    "Ada  Lovelace ",
    "O'Brien-Smith (admin)",
]


def to_line(raw: bytes) -> str:
    """The ``To`` header of ``raw``, unfolded, as sent."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    [line] = [h for h in head.replace("\r\n ", " ").split("\r\n") if h.startswith("To: ")]
    return line.removeprefix("To: ")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_is_always_the_display_name_as_given_never_header_syntax(name: str) -> None:
    raw = welcome(name=name).as_bytes(policy=policy.SMTP)
    assert raw.isascii()
    [to] = parse(raw)["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "ada@example.com")
    assert to_line(raw).endswith(" <ada@example.com>")  # one mailbox, the user's
    # Also as RFC 2047 readers decode it (encoded words once, nothing inside them again).
    decoded = str(make_header(decode_header(to_line(raw))))
    assert decoded.endswith(" <ada@example.com>")
    if not decoded.startswith('"'):
        assert decoded == f"{name} <ada@example.com>"


@pytest.mark.parametrize("name", HOSTILE_NAMES[:3])
def test_the_name_survives_every_way_the_message_is_written(name: str) -> None:
    """smtplib writes with the message's own policy; the generator deep-copies a message whose
    body it re-encodes (8-bit to 7-bit) -- neither may fall back to re-rendering the header."""
    message = welcome(name=name)
    for copy_of in (message, copy.deepcopy(message), copy.copy(message)):
        for how in (policy.SMTP, policy.default, policy.SMTPUTF8, None):
            raw = copy_of.as_bytes(policy=how) if how else copy_of.as_bytes()
            [to] = email.message_from_bytes(raw, policy=policy.default)["To"].addresses
            assert to.display_name == name, (how, raw[:200])


@pytest.mark.parametrize(
    "name", ["李小龍 =?utf-8?q?=41?= " * 8, "é" * 200, "=?" * 100, "x" * 70 + " =?utf-8?q?x?="])
def test_a_long_name_is_folded_into_encoded_words_that_decode_to_it(name: str) -> None:
    """Long enough to need several encoded words. Decoded as RFC 2047 says (whitespace between
    adjacent encoded words is dropped, 6.2) it is the name; Python's own address parser keeps
    that whitespace, so it shows a space where a line was folded."""
    raw = welcome(name=name, address="a" * 60 + "@" + "d" * 180 + ".com").as_bytes(
        policy=policy.SMTP)
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    to = str(make_header(decode_header(to_line(raw))))
    assert to == f"{name} <{'a' * 60}@{'d' * 180}.com>"


@pytest.mark.parametrize(
    ("name", "address"),
    [("Eve\r\nBcc: all@example.com", "eve@example.com"), ("Eve", "eve@example.com\nBcc: x@y")],
)
def test_line_breaks_that_could_inject_a_header_are_refused(name: str, address: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        welcome(name=name, address=address)


async def test_the_file_mailer_creates_its_directory_and_writes_the_message(
    tmp_path: Path,
) -> None:
    mail_dir = tmp_path / "does" / "not" / "exist"
    where = await FileMailer(mail_dir).send(welcome(), key="welcome-1")
    assert where == str(mail_dir / "welcome-1.eml")
    assert parse((mail_dir / "welcome-1.eml").read_bytes())["Subject"] == "Welcome!"


async def test_sending_the_same_key_again_replaces_the_file_and_leaves_no_temporaries(
    tmp_path: Path,
) -> None:
    mailer = FileMailer(tmp_path)
    await mailer.send(welcome(name="First"), key="welcome-1")
    await mailer.send(welcome(name="Second"), key="welcome-1")
    assert file_names(tmp_path) == ["welcome-1.eml"]
    [to] = parse((tmp_path / "welcome-1.eml").read_bytes())["To"].addresses
    assert to.display_name == "Second"


@pytest.mark.parametrize("key", ["", "../escape", "a/b", ".hidden", "x" * 201, "a\0b"])
async def test_keys_that_are_not_plain_file_names_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="mail key"):
        await FileMailer(tmp_path / "mail").send(welcome(), key=key)
    assert not (tmp_path / "mail").exists()


def test_make_mailer_uses_smtp_when_a_url_is_set_and_files_otherwise(tmp_path: Path) -> None:
    file_mailer = make_mailer(settings_for(tmp_path))
    assert isinstance(file_mailer, FileMailer)
    assert file_mailer.mail_dir == tmp_path / "data" / "mail"
    smtp = make_mailer(settings_for(tmp_path, smtp_url="smtp://mx.example.com:2525"))
    assert isinstance(smtp, SmtpMailer)
    assert smtp.target.address == "smtp://mx.example.com:2525"


@pytest.mark.parametrize(
    ("url", "port", "user", "password"),
    [
        ("smtp://mx.example.com", 25, None, None),
        ("smtp+starttls://u%40x:p%3Ass@mx.example.com", 587, "u@x", "p:ss"),
        ("smtps://user:@mx.example.com:4650", 4650, "user", ""),
    ],
)
def test_smtp_urls_give_host_port_and_decoded_credentials(
    url: str, port: int, user: str | None, password: str | None
) -> None:
    target = SmtpTarget.from_url(url)
    assert (target.host, target.port, target.username, target.password) == (
        "mx.example.com", port, user, password)
    assert "@" not in target.address


async def test_smtp_delivers_the_message_and_logs_in_with_the_url_credentials() -> None:
    server = SmtpServer()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        mailer = SmtpMailer(f"smtp://robot:s%40cret@127.0.0.1:{port}", timeout=5)
        where = await mailer.send(welcome(), key="welcome-1")
        nursery.cancel_scope.cancel()
    assert where == f"smtp://127.0.0.1:{port}"
    [received] = server.messages
    assert received.auth == ("robot", "s@cret")
    assert received.mail_from == "service@example.com"
    assert received.rcpt_to == ["ada@example.com"]
    assert parse(received.data)["Message-ID"] == f"<welcome-{USER_ID}@service>"


async def test_a_refused_recipient_raises_so_the_job_retries() -> None:
    server = SmtpServer(reject_rcpt=True)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        with pytest.raises(MailError, match="no such mailbox"):
            await SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=5).send(welcome(), key="k")
        nursery.cancel_scope.cancel()
    assert server.messages == []


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
async def test_tls_schemes_never_fall_back_to_plain_text(scheme: str) -> None:
    server = SmtpServer(advertise_auth=False)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        with pytest.raises(MailError):
            await SmtpMailer(f"{scheme}://127.0.0.1:{port}", timeout=5).send(welcome(), key="k")
        nursery.cancel_scope.cancel()
    assert server.messages == []


async def test_an_unreachable_server_raises() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with pytest.raises(MailError, match=f"127.0.0.1:{port}"):
        await SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=5).send(welcome(), key="k")


async def test_with_smtp_set_the_welcome_email_goes_by_smtp_and_no_file_is_written(
    tmp_path: Path,
) -> None:
    server = SmtpServer()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        async with serve_app(tmp_path, worker=True, smtp_url=f"smtp://127.0.0.1:{port}") as app:
            created = await app.client.post(
                "/api/users", json={"name": "Grace Hopper", "email": "grace@example.com"})
            assert created.status_code == 201, created.text
            user_id = created.json()["id"]

            async def sent() -> str | None:
                user = (await app.client.get(f"/api/users/{user_id}")).json()
                return user["welcome_email_sent_at"]  # type: ignore[no-any-return]

            await eventually(sent)
            mail_dir = app.state.settings.mail_dir
        nursery.cancel_scope.cancel()
    [received] = server.messages
    assert received.rcpt_to == ["grace@example.com"]
    message = parse(received.data)
    assert message["Message-ID"] == f"<welcome-{user_id}@service>"
    assert message["To"].addresses[0].display_name == "Grace Hopper"
    assert not mail_dir.exists() or not any(mail_dir.iterdir())


async def test_a_failed_smtp_delivery_leaves_the_job_retryable_and_the_user_unmarked(
    tmp_path: Path,
) -> None:
    server = SmtpServer(reject_rcpt=True)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        async with serve_app(tmp_path, worker=True, smtp_url=f"smtp://127.0.0.1:{port}") as app:
            created = await app.client.post(
                "/api/users", json={"name": "Nobody", "email": "nobody@example.com"})
            store = app.state.store

            async def failed_once() -> JobState | None:
                [job] = await store.job_list(JobFilter(task="send_welcome_email"))
                return job.state if job.errors else None

            assert await eventually(failed_once) in (JobState.RETRYABLE, JobState.AVAILABLE,
                                                     JobState.RUNNING)
            [job] = await store.job_list(JobFilter(task="send_welcome_email"))
            assert "no such mailbox" in str(job.errors[0])
            user = (await app.client.get(f"/api/users/{created.json()['id']}")).json()
            assert user["welcome_email_sent_at"] is None
            mail_dir = app.state.settings.mail_dir
        nursery.cancel_scope.cancel()
    assert not mail_dir.exists() or not any(mail_dir.iterdir())
