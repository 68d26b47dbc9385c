"""HTML pages: ``GET /`` links to the pages; ``GET /users`` lists users with a sign-up form
that posts to ``POST /users``.

The form action follows the same rule as the API: the user and its welcome job are created in
one transaction. Success answers 303 See Other back to ``/users``; invalid input re-renders the
page with 422 and the problems beside the fields.
"""

from __future__ import annotations

from quart import Blueprint, Response

from ...domain.users import list_users
from ..plumbing.errors import ApiError
from ..plumbing.page_support import html_response, read_form
from ..plumbing.request_state import app_state
from .user_html import error_page, index_page, users_page
from .users import sign_up

blueprint = Blueprint("pages", __name__)

#: Users shown on the page, newest first.
PAGE_USERS = 200


async def _page(
    status: int = 200,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    users = await list_users(app_state().store, limit=PAGE_USERS)
    return html_response(users_page(users, values=values, errors=errors, notice=notice), status)


@blueprint.get("/")
async def index() -> Response:
    """A small index linking to the users page and the dashboard."""
    return html_response(index_page())


@blueprint.get("/users")
async def users_list() -> Response:
    """The users page."""
    return await _page()


@blueprint.post("/users")
async def users_create() -> Response:
    """The sign-up form's action: 303 to ``/users``, or the page again with the problems."""
    try:
        form = await read_form()
    except ApiError as error:
        return html_response(error_page(error.status, error.message), error.status)
    values = {"name": form.get("name", ""), "email": form.get("email", "")}
    try:
        await sign_up(values["name"], values["email"])
    except ApiError as error:
        return await _page(error.status, values=values, errors=error.fields or {},
                           notice=error.message)
    return Response("", status=303, headers={"Location": "/users"})
