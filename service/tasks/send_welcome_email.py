"""``SendWelcomeEmail``: the welcome message for a new user, sent once per user."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import attrs

from ..domain.mail import build_welcome_email
from ..domain.users import get_user, mark_welcome_sent
from ..jobs import Cancel, JobContext, Task, TaskOptions

if TYPE_CHECKING:
    from ..state import AppState


@attrs.frozen(kw_only=True)
class SendWelcomeEmail(Task):
    """Email the welcome message to ``user_id`` and record when it went out.

    Idempotent across retries: a user whose welcome is recorded gets nothing more, and the
    mailer's ``key`` (``welcome-<user_id>``) makes a repeated send replace, not duplicate.
    A user deleted meanwhile cancels the job.
    """

    options = TaskOptions(name="send_welcome_email", concurrency=4, max_attempts=10, timeout=60)

    user_id: uuid.UUID

    async def run(self, ctx: JobContext[AppState]) -> str:
        """Send unless sent already; where the message went."""
        state = ctx.state
        store = state.store
        user = await get_user(store, self.user_id)
        if user is None:
            raise Cancel(f"user {self.user_id} no longer exists")
        if user.welcome_email_sent_at is not None:
            return "already sent"
        message = build_welcome_email(
            user_id=user.id, name=user.name, email=user.email,
            mail_from=state.settings.mail_from, sent_at=store.clock.now(),
        )
        where = await state.mailer.send(message, key=f"welcome-{user.id}")
        await mark_welcome_sent(store, user.id, store.clock.now())
        return where
