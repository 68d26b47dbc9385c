"""The command line parser: argparse, except that a mistake names the misspelt flag or command.

Plain argparse reads ``python -m service --admin-tokn x`` as the command ``x`` ("invalid
choice"), and ``jobs push t --priorty 5`` as "unrecognized arguments: --priorty 5". When parsing
fails, :func:`first_mistake` walks the words again, level by level (settings, command, action),
and names the first flag or command its level does not know, with the closest known one.

Flags are never abbreviated: argparse would take ``--stat`` for ``--state`` (and a prefix that is
unique today becomes ambiguous when a flag is added), so a flag is spelt in full or refused.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Sequence


class UsageError(Exception):
    """Raised by :class:`Parser` instead of printing and exiting; ``main`` reports it (exit 2)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError`; its subparsers are Parsers too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def explain(root: argparse.ArgumentParser, argv: Sequence[str], error: UsageError) -> str:
    """What to print for ``error``: the misspelt word in one line, else argparse's own text."""
    mistake = first_mistake(root, argv)
    if mistake is not None:
        return mistake + "\n"
    return f"{error.parser.format_usage()}{error.parser.prog}: error: {error.message}\n"


def first_mistake(root: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """``prog: error: WORD: unknown flag|command[; did you mean KNOWN?]`` for the first word of
    ``argv`` that its level does not know; None if every flag and command is known."""
    parser, index = root, 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            return None
        if word.startswith("-") and word != "-" and not _is_number(word):  # a flag
            flag, has_value, _ = word.partition("=")
            action = _flags(parser).get(flag)
            if action is None:
                if parser.allow_abbrev and any(known.startswith(flag) for known in _flags(parser)):
                    return None  # an abbreviation, or an ambiguous one: argparse's message
                return _unknown_flag(root, parser, flag)
            if not has_value:
                index += _values_taken(action, argv[index:])
            continue
        commands = _commands(parser)
        if commands is not None:  # in this CLI a level's only positional is its command
            if word not in commands.choices:
                kind = commands.metavar if isinstance(commands.metavar, str) else "command"
                return _unknown(parser.prog, word, kind, list(commands.choices))
            parser = commands.choices[word]
    return None


def _values_taken(action: argparse.Action, rest: Sequence[str]) -> int:
    """How many of the words after ``action``'s flag argparse gives it as values."""
    nargs = action.nargs
    if nargs is None:
        return 1
    if isinstance(nargs, int):
        return nargs
    if nargs == argparse.OPTIONAL:
        return 1 if rest and not rest[0].startswith("-") else 0
    taken = 0
    while taken < len(rest) and (not rest[taken].startswith("-") or _is_number(rest[taken])):
        taken += 1
    return taken


def _unknown_flag(
    root: argparse.ArgumentParser, parser: argparse.ArgumentParser, flag: str
) -> str:
    suggestion = _closest(flag, list(_flags(parser)))
    if suggestion is not None:
        return f"{parser.prog}: error: {flag}: unknown flag; did you mean {suggestion}?"
    owners = [level.prog for level in _levels(root) if flag in _flags(level)]
    if owners:  # a flag of a command, given before the command
        where = owners[0].removeprefix(root.prog).strip()
        return f"{parser.prog}: error: {flag}: unknown flag; it goes after {where!r}"
    return f"{parser.prog}: error: {flag}: unknown flag"


def _unknown(prog: str, word: str, kind: str, known: list[str]) -> str:
    suggestion = _closest(word, known)
    hint = f"; did you mean {suggestion}?" if suggestion is not None else ""
    return f"{prog}: error: {word}: unknown {kind}{hint}"


def _closest(word: str, known: list[str]) -> str | None:
    """The only known word that ``word`` begins, else the most similar one (difflib, ratio at
    least 0.6), else None. Compared without leading dashes, so ``--stat`` is like ``--state``,
    not like every flag because of the ``--``."""
    bare = {option.lstrip("-"): option for option in known}
    stem = word.lstrip("-")
    completions = [option for option in bare if stem and option.startswith(stem)]
    matches = completions if len(completions) == 1 else difflib.get_close_matches(stem, bare, n=1)
    return bare[matches[0]] if matches else None


#: What argparse takes for a negative number (a positional or a value), not for a flag.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _is_number(word: str) -> bool:
    return _NEGATIVE_NUMBER.match(word) is not None


# argparse keeps a parser's actions in ``_actions`` and has no public accessor; it has been
# there, unchanged, since argparse joined the standard library.
def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return parser._actions


def _commands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in _actions(parser):
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in _actions(parser) for option in action.option_strings}


def _levels(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every parser below it, depth first."""
    commands = _commands(parser)
    below = [] if commands is None else list(commands.choices.values())
    return [parser, *(level for sub in below for level in _levels(sub))]
