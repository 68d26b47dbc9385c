"""The app's ``?`` placeholders become psycopg's ``%s`` only where they are SQL."""

from __future__ import annotations

import pytest

from service.jobs._postgres import to_psycopg


@pytest.mark.parametrize(
    ("app_sql", "psycopg_sql"),
    [
        ("SELECT 1", "SELECT 1"),
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("INSERT INTO t VALUES (?,?)", "INSERT INTO t VALUES (%s,%s)"),
        ("SELECT '?' , ?", "SELECT '?' , %s"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT E'\\'?', ?", "SELECT E'\\'?', %s"),
        ("SELECT e'a\\\\', ?", "SELECT e'a\\\\', %s"),
        ("SELECT 'a\\', ?", "SELECT 'a\\', %s"),
        ("SELECT \"odd?name\" FROM t WHERE x = ?", "SELECT \"odd?name\" FROM t WHERE x = %s"),
        ("SELECT \"a\"\"?\" , ?", "SELECT \"a\"\"?\" , %s"),
        ("SELECT ? -- why?\n, ?", "SELECT %s -- why?\n, %s"),
        ("SELECT /* a /* nested? */ still? */ ?", "SELECT /* a /* nested? */ still? */ %s"),
        ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, %s"),
        ("SELECT $tag$ ? $ ?$ $tag$, ?", "SELECT $tag$ ? $ ?$ $tag$, %s"),
        ("SELECT a$b, ?", "SELECT a$b, %s"),
        ("SELECT 100 % 7, ?", "SELECT 100 %% 7, %s"),
        ("SELECT '50%' LIKE ?", "SELECT '50%%' LIKE %s"),
        ("SELECT '%s', ?", "SELECT '%%s', %s"),
        ("SELECT 'unterminated ?", "SELECT 'unterminated ?"),
    ],
)
def test_question_marks_outside_literals_and_comments_become_placeholders(
    app_sql: str, psycopg_sql: str
) -> None:
    assert to_psycopg(app_sql) == psycopg_sql


def test_a_positional_dollar_parameter_is_not_a_dollar_quote() -> None:
    assert to_psycopg("SELECT $1, ?") == "SELECT $1, %s"
