"""Signing a user up: the user row and its welcome-email job commit together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.users import User, insert_user, new_user
from ..tasks.send_welcome_email import SendWelcomeEmail

if TYPE_CHECKING:
    from ..domain.db import AppStore


async def create_user(store: AppStore, *, name: str, email: str) -> User:
    """Insert a user and push its welcome email in the same transaction.

    Raises :class:`~service.domain.users.DuplicateEmail` (and commits nothing) when the email
    is taken.
    """
    user = new_user(store, name=name, email=email)
    async with store.transaction() as tx:
        await insert_user(tx, user)
        await tx.push(SendWelcomeEmail(user_id=user.id))
    return user
