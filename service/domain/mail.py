"""Outgoing email: SMTP when ``SERVICE_SMTP_URL`` is set, else ``.eml`` files in the mail dir.

Exactly one mailer is used; a failed delivery raises, so the job that sends retries. Messages are
real RFC 5322 documents built by :func:`build_welcome_email`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from email import policy
from email.header import Header
from email.headerregistry import Address, BaseHeader, UniqueAddressHeader
from email.message import EmailMessage
from email.utils import format_datetime, quote
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio

from .smtp import SmtpMailer

if TYPE_CHECKING:
    import uuid
    from email.policy import Policy

    from ..settings import Settings

__all__ = ["FileMailer", "Mailer", "SmtpMailer", "build_welcome_email", "make_mailer"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

WELCOME_SUBJECT = "Welcome!"
#: RFC 5322's recommended longest header line, without its CRLF.
_LINE = 78


class Mailer(Protocol):
    """Something that delivers email; raising means "not delivered" (the job retries)."""

    async def send(self, message: EmailMessage, *, key: str) -> str:
        """Deliver ``message``; ``key`` names it for idempotent retries. Where it went."""
        ...


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class FileMailer:
    """Writes each message to ``<mail_dir>/<key>.eml``, atomically.

    Sending the same key again replaces the file, so a retried send leaves one message.
    The directory is created when missing.
    """

    def __init__(self, mail_dir: str | os.PathLike[str]) -> None:
        self.mail_dir = Path(mail_dir)

    def path_for(self, key: str) -> Path:
        """Where the message with ``key`` is written; ``ValueError`` for an unsafe key."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"mail key {key!r} must be 1-200 of A-Z a-z 0-9 . _ - (no leading .)")
        return self.mail_dir / f"{key}.eml"

    async def send(self, message: EmailMessage, *, key: str) -> str:
        """Write the message as RFC 5322 bytes (CRLF line ends); the file's path."""
        path = self.path_for(key)
        data = message.as_bytes(policy=policy.SMTP)
        await trio.to_thread.run_sync(_write_atomically, path, data)
        return str(path)


def make_mailer(settings: Settings) -> Mailer:
    """SMTP when ``settings.smtp_url`` is set, else ``.eml`` files in ``settings.mail_dir``."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return FileMailer(settings.mail_dir)


# The stubs type BaseHeader.init and max_count apart from the address headers'; at run time this
# pairing is exactly how the email package's HeaderRegistry builds its own header classes.
class _RenderedAddressHeader(UniqueAddressHeader, BaseHeader):  # type: ignore[misc]
    """An address header sent exactly as :func:`address_header` rendered it.

    The email package re-renders every header from its parse tree when a message is written,
    and writes the text of an encoded word back as plain text whenever that text is ASCII: a
    display name ``Ada =?utf-8?q?x?= evil`` comes out bare, and every reader then decodes the
    encoded word inside it. This header keeps its own rendering (:meth:`fold`), while its parsed
    value (``.addresses``) is what a reader of that rendering gets.
    """

    lines: tuple[str, ...]

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: " + policy.linesep.join(self.lines) + policy.linesep

    def __reduce__(self) -> tuple[object, tuple[str, tuple[str, ...]]]:
        # The generator deep-copies a message whose body it re-encodes; the copy must keep
        # this class (the email package's own reduce would rebuild a plain address header).
        return (_rendered_address_header, (self.name, self.lines))


def _rendered_address_header(name: str, lines: tuple[str, ...]) -> _RenderedAddressHeader:
    header = _RenderedAddressHeader(name, "".join(lines))
    header.lines = lines
    return header


def _address_lines(name: str, display_name: str, addr_spec: str) -> tuple[str, ...]:
    address = Address(display_name=display_name, addr_spec=addr_spec)
    if not display_name:
        return (address.addr_spec,)
    angle = f"<{address.addr_spec}>"
    if display_name.isascii() and "=?" not in display_name:
        # Words, or a quoted string when it has specials (commas, quotes, angle brackets) or
        # whitespace that is not one space between words (a reader would collapse it).
        words = str(address).removesuffix(f" {angle}")
        if words == display_name and " ".join(display_name.split()) != display_name:
            words = f'"{quote(display_name)}"'
        lines = [words]
    else:
        # Anything else is encoded words (RFC 2047) that decode back to exactly the name --
        # including text that merely looks like an encoded word, which is thus never decoded.
        encoded = Header(display_name, "utf-8", header_name=name).encode(linesep="\n")
        lines = [word.strip() for word in encoded.split("\n")]
        lines[1:] = [f" {word}" for word in lines[1:]]
    first = len(name) + 2 if len(lines) == 1 else 0
    if first + len(lines[-1]) + 1 + len(angle) <= _LINE:
        lines[-1] += f" {angle}"
    else:
        lines.append(f" {angle}")
    return tuple(lines)


def address_header(name: str, *, display_name: str, addr_spec: str) -> BaseHeader:
    """The header ``name`` (``To``, ...) naming one mailbox, built from its parts.

    The display name is always taken as text, never as header syntax: specials are quoted,
    and non-ASCII text or text containing ``=?`` is sent as encoded words, so a reader shows
    exactly ``display_name``. ``ValueError`` if ``addr_spec`` is not one address.
    """
    return _rendered_address_header(name, _address_lines(name, display_name, addr_spec))


def build_welcome_email(
    *, user_id: uuid.UUID, name: str, email: str, mail_from: str, sent_at: float
) -> EmailMessage:
    """The welcome message for a new user.

    ``Message-ID`` is derived from the user id, so every retry sends the same message and
    receivers can deduplicate. The ``To`` header is built from the name and the address as
    parts (:func:`address_header`): the name is shown as given, whatever it contains. Raises
    ``ValueError`` if ``name`` or ``email`` could inject a header (they are checked at the API
    already).
    """
    for what, value in (("name", name), ("email", email), ("mail_from", mail_from)):
        if "\r" in value or "\n" in value:
            raise ValueError(f"{what} must not contain line breaks")
    message = EmailMessage(policy=policy.default)
    message["From"] = mail_from
    message["To"] = address_header("To", display_name=name, addr_spec=email)
    message["Subject"] = WELCOME_SUBJECT
    message["Date"] = format_datetime(dt.datetime.fromtimestamp(sent_at, tz=dt.UTC))
    message["Message-ID"] = f"<welcome-{user_id}@service>"
    text = (
        f"Hello {name},\n\n"
        "welcome aboard! Your account is ready.\n\n"
        f"You signed up with {email}.\n"
    )
    # Quoted-printable keeps the whole message 7-bit, so any SMTP server takes it.
    message.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
    return message
