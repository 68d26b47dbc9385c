"""Delivering email by SMTP: ``smtplib`` on a worker thread, bounded by a socket timeout.

URL schemes: ``smtp://`` (plain, port 25), ``smtp+starttls://`` (upgraded with STARTTLS, port
587) and ``smtps://`` (implicit TLS, port 465). ``user:password@`` in the URL logs in.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import attrs
import trio

from ..jobs import ServiceError, redact_secrets

if TYPE_CHECKING:
    from email.message import EmailMessage

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(ServiceError, OSError):
    """Raised when a message could not be delivered; the sending job fails and retries."""


@attrs.frozen(kw_only=True)
class SmtpTarget:
    """Where and how to connect, parsed from an SMTP URL."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        """Parse ``url``; ``ValueError`` saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"unsupported SMTP URL scheme {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("the SMTP URL needs a host")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            username=username,
            password=password,
        )

    @property
    def address(self) -> str:
        """``scheme://host:port``, without credentials (safe to log; any other text that may
        quote the URL goes through :func:`service.jobs.redact_secrets`)."""
        return f"{self.scheme}://{self.host}:{self.port}"


class SmtpMailer:
    """Sends each message over a fresh SMTP connection.

    ``timeout`` bounds every socket operation (connect, each command); a failure raises
    :class:`MailError`. ``key`` is not sent: the message's own ``Message-ID`` lets receivers
    recognise a retried delivery.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = SmtpTarget.from_url(url)
        self.timeout = timeout
        self.local_hostname = local_hostname or socket.gethostname()
        self.tls_context = tls_context

    def _context(self) -> ssl.SSLContext:
        return self.tls_context or ssl.create_default_context()

    def _deliver(self, message: EmailMessage) -> None:
        target = self.target
        client: smtplib.SMTP
        if target.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                target.host, target.port, local_hostname=self.local_hostname,
                timeout=self.timeout, context=self._context(),
            )
        else:
            client = smtplib.SMTP(
                target.host, target.port, local_hostname=self.local_hostname,
                timeout=self.timeout,
            )
        with client:
            client.ehlo_or_helo_if_needed()
            if target.scheme == "smtp+starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if target.username is not None:
                client.login(target.username, target.password or "")
            client.send_message(message)

    async def send(self, message: EmailMessage, *, key: str) -> str:
        """Deliver ``message``; ``scheme://host:port`` on success, :class:`MailError` if not."""
        try:
            await trio.to_thread.run_sync(self._deliver, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(redact_secrets(
                f"SMTP delivery of {key} via {self.target.address} failed: {exc!r}"
            )) from exc
        return self.target.address
