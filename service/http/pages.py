"""HTML pages: ``GET /users`` lists users with a sign-up form that posts to ``POST /users``.

The form action follows the same rule as the API: the user and its welcome job are created in
one transaction. Success answers 303 See Other back to ``/users``; invalid input re-renders the
page with 422 and the problems beside the fields.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from quart import Blueprint, Response, request

from ..app.users import list_users
from .app import app_state
from .bodies import read_body
from .errors import ApiError
from .html import error_page, users_page
from .users import sign_up

blueprint = Blueprint("pages", __name__)

#: Users shown on the page, newest first.
PAGE_USERS = 200
FORM_TYPE = "application/x-www-form-urlencoded"


#: Pages load nothing but their own inline style and post forms only to this site.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
       " frame-ancestors 'none'; base-uri 'none'")


def _html(text: str, status: int = 200) -> Response:
    response = Response(text, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    return response


async def _page(
    status: int = 200,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    users = await list_users(app_state().store, limit=PAGE_USERS)
    return _html(users_page(users, values=values, errors=errors, notice=notice), status)


async def _read_form() -> dict[str, str]:
    """The urlencoded form body (first value of each field); ApiError on a bad body."""
    if request.mimetype != FORM_TYPE:
        raise ApiError(415, "unsupported_media_type", f"send the form as {FORM_TYPE}")
    raw = await read_body(app_state().settings.body_max_bytes)
    try:
        text = raw.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "bad_request", "the form body is not valid UTF-8 form data") from None
    return {name: values[0] for name, values in fields.items()}


@blueprint.get("/users")
async def users_list() -> Response:
    """The users page."""
    return await _page()


@blueprint.post("/users")
async def users_create() -> Response:
    """The sign-up form's action: 303 to ``/users``, or the page again with the problems."""
    try:
        form = await _read_form()
    except ApiError as error:
        return _html(error_page(error.status, error.message), error.status)
    values = {"name": form.get("name", ""), "email": form.get("email", "")}
    try:
        await sign_up(values["name"], values["email"])
    except ApiError as error:
        return await _page(error.status, values=values, errors=error.fields or {},
                           notice=error.message)
    return Response("", status=303, headers={"Location": "/users"})
