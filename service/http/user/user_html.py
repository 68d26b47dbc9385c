"""HTML of the user pages: the index, the users list with its sign-up form, error pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from ...domain.validation import EMAIL_MAX, NAME_MAX
from ..plumbing.html import document, field, when

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ...domain.users import User


def _user_row(user: User) -> Markup:
    not_yet = Markup('<span class="muted">not yet</span>')
    sent = user.welcome_email_sent_at
    welcome = Markup("yes, {}").format(when(sent)) if sent is not None else not_yet
    return Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
        user.name, user.email, when(user.created_at), welcome
    )


def users_page(
    users: Iterable[User],
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str | None = None,
) -> str:
    """The users list with the sign-up form; ``values`` refill it, ``errors`` explain it."""
    values = values or {}
    errors = errors or {}
    rows = Markup("").join(_user_row(user) for user in users)
    if not rows:
        rows = Markup('<tr><td colspan="4" class="muted">No users yet.</td></tr>')
    banner = Markup('<p class="notice" role="alert">{}</p>').format(notice) if notice else ""
    body = Markup(
        "<h1>Users</h1>\n{banner}\n"
        '<form method="post" action="/users">\n{name}\n{email}\n'
        "<button type=\"submit\">Create user</button>\n</form>\n"
        "<table>\n<thead><tr><th>Name</th><th>Email</th><th>Created</th>"
        "<th>Welcome email sent</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
    ).format(
        banner=banner,
        name=field("Name", "name", "text", values.get("name", ""), errors.get("name"),
                    NAME_MAX),
        email=field("Email", "email", "email", values.get("email", ""),
                     errors.get("email"), EMAIL_MAX),
        rows=rows,
    )
    return document("Users", body)


#: The index's links: (path, title, what is there).
INDEX_LINKS = (
    ("/users", "Users", "the users list and the sign-up form"),
    ("/admin", "Dashboard", "jobs and their errors, for operators (log in with the admin token)"),
    ("/docs", "API", "the HTTP API, operation by operation"),
    ("/openapi.json", "OpenAPI", "the same, as an OpenAPI 3.1 document"),
)


def index_page() -> str:
    """``GET /``: what this service serves to a browser."""
    items = Markup("\n").join(
        Markup('<li><a href="{}">{}</a>: {}</li>').format(path, title, text)
        for path, title, text in INDEX_LINKS
    )
    body = Markup("<h1>service</h1>\n<p>Durable background jobs.</p>\n<ul>\n{}\n</ul>").format(
        items)
    return document("service", body)


def error_page(status: int, message: str) -> str:
    """A small page for an error answered to a browser."""
    body = Markup('<h1>Error {}</h1>\n<p class="notice">{}</p>\n<p><a href="/users">Back to'
                  " users</a></p>").format(status, message)
    return document(f"Error {status}", body)

