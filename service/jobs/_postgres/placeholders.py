"""The app's ``?`` placeholders in psycopg's ``%s`` style. Pure: imports no driver.

The app writes its SQL once, with ``?`` placeholders, and runs it on SQLite and PostgreSQL alike.
psycopg wants ``%s`` and reads every ``%`` in the text as the start of a placeholder, wherever it
stands. So :func:`to_psycopg` turns each ``?`` that is SQL (not inside a string literal, a quoted
identifier, a dollar-quoted string or a comment) into ``%s``, and doubles every ``%``.

A consequence, documented for app authors: in app SQL ``?`` is always a placeholder, so
PostgreSQL's jsonb operators ``?``, ``?|`` and ``?&`` must be written as the functions
``jsonb_exists``, ``jsonb_exists_any`` and ``jsonb_exists_all``.
"""

from __future__ import annotations

import functools
import re

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$\x80-\uffff]")


def _end_of_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Index just past the literal or identifier opened at ``start``; a doubled quote escapes."""
    i = start + 1
    while i < len(sql):
        char = sql[i]
        if backslash and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _end_of_block_comment(sql: str, start: int) -> int:
    """Index just past the ``/* */`` comment opened at ``start`` (they nest in PostgreSQL)."""
    depth, i = 0, start
    while i < len(sql):
        pair = sql[i : i + 2]
        if pair == "/*":
            depth, i = depth + 1, i + 2
        elif pair == "*/":
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)


def _skip(sql: str, i: int) -> int:
    """If a literal, quoted identifier or comment starts at ``i``, the index past it; else ``i``."""
    char = sql[i]
    previous = sql[i - 1] if i else ""
    if char == "'":
        escaped = previous in ("e", "E") and not (i >= 2 and _IDENT_CHAR.match(sql[i - 2]))
        return _end_of_quoted(sql, i, "'", backslash=escaped)
    if char == '"':
        return _end_of_quoted(sql, i, '"', backslash=False)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        return _end_of_block_comment(sql, i)
    if char == "$" and not (previous and _IDENT_CHAR.match(previous)):
        tag = _DOLLAR_TAG.match(sql, i)
        if tag is not None:
            end = sql.find(tag.group(), tag.end())
            return len(sql) if end < 0 else end + len(tag.group())
    return i


@functools.lru_cache(maxsize=512)
def to_psycopg(sql: str) -> str:
    """``sql`` with ``?`` placeholders rewritten for psycopg (``%s``), every ``%`` doubled."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        end = _skip(sql, i)
        if end > i:
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        char = sql[i]
        out.append("%s" if char == "?" else "%%" if char == "%" else char)
        i += 1
    return "".join(out)
