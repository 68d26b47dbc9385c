"""Credentials out of text: a URL's password and every ``password=`` value become ``***``.

One function for every place a database or SMTP URL can surface: log lines, error messages, the
CLI's output, HTTP answers. It reads free text, so a driver's message that quotes a connection
string is cleaned as well as the URL alone. Pure: no I/O, no state.

Forms it masks (the user name and everything else stay readable):

- ``scheme://user:password@host...`` and ``scheme://:password@host`` -- the password as written,
  percent-encoded or not. Everything between the first ``:`` of the user info and the last ``@``
  of the word is masked: libpq reads a password up to ``@``, so it may hold ``#``, ``?`` or ``@``.
- ``password=...`` (also ``sslpassword``, ``passwd``, ``pwd``): a URL's query parameter (up to
  ``&``) and libpq's ``key=value`` form, quoted (``password='a b'``) or not (up to a space).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MASK", "redact_secrets", "secrets_in"]

MASK = "***"

#: ``scheme://user:`` then the password: greedy, so up to the last ``@`` of the word.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*:)(?P<secret>\S*)@")
#: ``password=value``: a URL's query parameter runs to ``&``; libpq's ``key=value`` is quoted
#: or runs to a space.
_KEY_VALUE = re.compile(
    r"(?P<head>(?<=[?&])(?:ssl)?(?:password|passwd|pwd)=)(?P<secret>[^&\s]*)|"
    r"(?P<kvhead>(?<![A-Za-z0-9?&])(?:ssl)?(?:password|passwd|pwd)\s*=\s*)"
    r"(?P<kvsecret>'(?:[^'\\]|\\.)*'?|\S*)",
    re.IGNORECASE,
)


def redact_secrets(text: str, *known: str) -> str:
    """``text`` with every credential masked as ``***``; also every literal of ``known``
    (secrets the caller took from a URL it could not parse), raw and percent-decoded."""
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _KEY_VALUE.sub(_mask_value, text)
    for secret in _literals(known):
        text = text.replace(secret, MASK)
    return text


def secrets_in(text: str) -> list[str]:
    """The values :func:`redact_secrets` would mask in ``text`` (as written and decoded)."""
    found = [match.group("secret") for match in _USERINFO.finditer(text)]
    found += [_value(match).strip("'") for match in _KEY_VALUE.finditer(text)]
    return _literals(found)


def _literals(values: tuple[str, ...] | list[str]) -> list[str]:
    """Non-empty values and their percent-decoded forms, longest first (a secret that contains
    another is masked whole)."""
    seen = {form for value in values if value for form in (value, unquote(value)) if form}
    return sorted(seen, key=len, reverse=True)


def _mask_userinfo(match: re.Match[str]) -> str:
    head, secret = match.group("head", "secret")
    return f"{head}{MASK if secret else ''}@"


def _value(match: re.Match[str]) -> str:
    secret = match.group("secret")
    return match.group("kvsecret") if secret is None else secret


def _mask_value(match: re.Match[str]) -> str:
    head = match.group("head") or match.group("kvhead")
    secret = _value(match)
    return head + (MASK if secret and secret != "''" else secret)
