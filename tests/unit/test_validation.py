"""What a new user's name may hold (``service.domain.validation``): pure, no I/O."""

from __future__ import annotations

import pytest

from service.domain.validation import check_new_user, name_problem

ACCEPTED = [
    "Ada Lovelace",
    "Zoë O'Neil-Brontë",
    "José García Márquez",
    "Nguyễn Thị Minh Khai",
    "李小龍",
    "山田 太郎",
    "Ада Лавлейс",
    "محمد بن موسى",
    "אדה לאבלייס",
    "देवनागरी",
    # Persian "mikhaham", spelt with a ZERO WIDTH NON-JOINER as it must be (escaped: ruff
    # takes Arabic letters for look-alikes of Latin ones)
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    "Ada \U0001f469\u200d\U0001f4bb",  # ZERO WIDTH JOINER inside an emoji sequence
    'Zoë "Zed" O\'Neil, Jr. <boss>',
    "Ada =?utf-8?q?x?= evil",  # shown as text in the email, never decoded
]

REFUSED_FORMAT = [
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u202d",  # LEFT-TO-RIGHT OVERRIDE
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2067",  # RIGHT-TO-LEFT ISOLATE
    "\u2069",  # POP DIRECTIONAL ISOLATE
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u200b",  # ZERO WIDTH SPACE
    "\u2060",  # WORD JOINER
    "\u00ad",  # SOFT HYPHEN
    "\ufeff",  # BYTE ORDER MARK
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
]

REFUSED_CONTROL = ["\x00", "\x07", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_names_in_any_script_with_punctuation_are_accepted(name: str) -> None:
    assert name_problem(name) is None
    assert check_new_user(name, "a@example.com").errors == {}


@pytest.mark.parametrize("char", REFUSED_FORMAT)
def test_invisible_format_characters_such_as_bidi_overrides_are_refused(char: str) -> None:
    checked = check_new_user(f"Ada{char}ecalevol", "a@example.com")
    assert set(checked.errors) == {"name"}
    assert "invisible formatting characters" in checked.errors["name"]


@pytest.mark.parametrize("char", REFUSED_CONTROL)
def test_control_characters_and_line_separators_are_refused(char: str) -> None:
    problem = name_problem(f"Ada{char}Lovelace")
    assert problem is not None
    assert "control characters" in problem
