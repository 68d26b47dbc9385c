"""The users repository: rows of the ``users`` table.

Signing a user up (the row and its welcome-email job in one transaction) is a flow above the
domain and the tasks: :func:`service.flows.signup.create_user`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import attrs

from ..jobs import ConstraintViolation, ServiceError
from .schema import USERS_EMAIL_INDEX

if TYPE_CHECKING:
    from .db import AppStore, AppTransaction

#: The most users one listing returns.
LIST_LIMIT_MAX = 500

_COLUMNS = "id, name, email, created_at, welcome_email_sent_at"


class DuplicateEmail(ServiceError, ValueError):
    """Raised by :func:`insert_user` when another user has the same email (ignoring case)."""

    field = "email"

    def __init__(self, email: str) -> None:
        super().__init__(f"a user with the email {email!r} already exists")
        self.email = email


@attrs.frozen(kw_only=True)
class User:
    """A user as stored. Timestamps are seconds since the epoch."""

    id: uuid.UUID
    name: str
    email: str
    created_at: float
    welcome_email_sent_at: float | None


def _user(row: tuple[Any, ...]) -> User:
    id_, name, email, created_at, sent_at = row
    return User(
        id=uuid.UUID(id_),
        name=name,
        email=email,
        created_at=float(created_at),
        welcome_email_sent_at=None if sent_at is None else float(sent_at),
    )


def new_user(store: AppStore, *, name: str, email: str) -> User:
    """A user not yet stored, with a fresh id and the store's current time."""
    return User(
        id=uuid.uuid4(), name=name, email=email, created_at=store.clock.now(),
        welcome_email_sent_at=None,
    )


async def insert_user(tx: AppTransaction, user: User) -> None:
    """Insert ``user`` inside the open transaction ``tx``.

    Raises :class:`DuplicateEmail` when the email is taken (the caller's transaction then rolls
    back as the exception leaves it).
    """
    try:
        await tx.execute(
            f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL)",
            (str(user.id), user.name, user.email, user.created_at),
        )
    except ConstraintViolation as exc:
        if USERS_EMAIL_INDEX in str(exc) or "users.email" in str(exc):
            raise DuplicateEmail(user.email) from None
        raise


async def get_user(store: AppStore, user_id: uuid.UUID) -> User | None:
    """The user with ``user_id``, or None."""
    rows = await store.query(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (str(user_id),))
    return _user(rows[0]) if rows else None


async def list_users(store: AppStore, *, limit: int = 100) -> list[User]:
    """Up to ``limit`` (at most :data:`LIST_LIMIT_MAX`) users, newest first."""
    limit = max(1, min(limit, LIST_LIMIT_MAX))
    rows = await store.query(
        f"SELECT {_COLUMNS} FROM users ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)
    )
    return [_user(row) for row in rows]


async def mark_welcome_sent(store: AppStore, user_id: uuid.UUID, sent_at: float) -> bool:
    """Record that the welcome email went out; False if it was recorded already (or no user)."""
    async with store.transaction() as tx:
        rows = await tx.execute(
            "UPDATE users SET welcome_email_sent_at = ?"
            " WHERE id = ? AND welcome_email_sent_at IS NULL RETURNING id",
            (sent_at, str(user_id)),
        )
    return bool(rows)
