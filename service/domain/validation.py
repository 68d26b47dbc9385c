"""Checking a new user's name and email before anything is stored (pure, no I/O).

Control characters (CR and LF among them) are refused in both, so neither can ever inject a
header into an email built from them.

A name may hold any printable text: letters of every script with their accents and combining
marks, CJK, emoji, spaces, apostrophes, hyphens, quotes, commas, even ``=?...?=`` (the email
shows it as text, see :func:`service.domain.mail.address_header`). It may not hold invisible
format characters (Unicode category Cf: bidi overrides and isolates such as U+202E, which
would show the rest of the name -- and of the page or mail line around it -- reversed, zero
width spaces, soft hyphens, the BOM...), except ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER
(U+200C, U+200D), which Persian, Indic scripts and emoji sequences need to be spelt right.
Nor control characters, surrogates, or line and paragraph separators.
"""

from __future__ import annotations

import unicodedata
from email.errors import HeaderParseError
from email.headerregistry import Address

import attrs

NAME_MAX = 200
EMAIL_MAX = 254
LOCAL_PART_MAX = 64


@attrs.frozen(kw_only=True)
class CheckedUser:
    """The cleaned values (surrounding whitespace removed) and, per field, what is wrong."""

    name: str
    email: str
    errors: dict[str, str]


#: Format characters a name may hold: ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER.
NAME_FORMAT_ALLOWED = frozenset("\u200c\u200d")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text)


def _has_hidden_format(text: str) -> bool:
    return any(
        unicodedata.category(ch) == "Cf" and ch not in NAME_FORMAT_ALLOWED for ch in text
    )


def name_problem(name: str) -> str | None:
    """What is wrong with a (stripped) display name, or None."""
    if not name:
        return "must not be blank"
    if len(name) > NAME_MAX:
        return f"must be at most {NAME_MAX} characters"
    if _has_control(name):
        return "must not contain control characters or line breaks"
    if _has_hidden_format(name):
        return (
            "must not contain invisible formatting characters"
            " (such as right-to-left overrides or zero-width spaces)"
        )
    return None


def email_problem(email: str) -> str | None:
    """What is wrong with a (stripped) email address, or None if it is plausible."""
    if not email:
        return "must not be blank"
    if len(email) > EMAIL_MAX:
        return f"must be at most {EMAIL_MAX} characters"
    if _has_control(email) or any(ch.isspace() for ch in email):
        return "must not contain spaces, control characters or line breaks"
    if not email.isascii():
        return "must be an ASCII address"
    if email.count("@") != 1:
        return "must contain exactly one @"
    local, domain = email.split("@")
    if not local or not domain:
        return "needs a name before and a domain after the @"
    if len(local) > LOCAL_PART_MAX:
        return f"the part before the @ must be at most {LOCAL_PART_MAX} characters"
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return "has an invalid domain"
    try:
        parsed = Address(addr_spec=email)
    except (HeaderParseError, ValueError, IndexError):
        return "is not a valid email address"
    if parsed.addr_spec != email:
        return "is not a valid email address"
    return None


def check_new_user(name: object, email: object) -> CheckedUser:
    """Clean and check a sign-up; ``errors`` maps ``"name"``/``"email"`` to problems."""
    clean_name = name.strip() if isinstance(name, str) else ""
    clean_email = email.strip() if isinstance(email, str) else ""
    errors: dict[str, str] = {}
    if (problem := name_problem(clean_name)) is not None:
        errors["name"] = problem
    if (problem := email_problem(clean_email)) is not None:
        errors["email"] = problem
    return CheckedUser(name=clean_name, email=clean_email, errors=errors)
