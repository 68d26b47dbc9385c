"""The users JSON API: ``POST /api/users`` signs a user up, ``GET /api/users/<id>`` reads one."""

from __future__ import annotations

import datetime as dt
import uuid

import attrs
from quart import Blueprint, Response

from ...domain.users import DuplicateEmail, User, get_user
from ...domain.validation import EMAIL_MAX, NAME_MAX, check_new_user
from ...flows.signup import create_user
from ..plumbing.answers import json_answer, moment
from ..plumbing.bodies import read_json_as
from ..plumbing.errors import ApiError
from ..plumbing.operations import Link, Param, operation
from ..plumbing.request_state import app_state

blueprint = Blueprint("users", __name__)


@attrs.frozen(kw_only=True)
class NewUserBody:
    """The body of ``POST /api/users``: printable text up to 200 characters, and an ASCII
    address with one ``@``."""

    name: str = attrs.field(metadata={
        "description": "Printable text (no control or invisible format characters).",
        "schema": {"minLength": 1, "maxLength": NAME_MAX}})
    email: str = attrs.field(metadata={
        "description": "An ASCII address with exactly one @; unique among users.",
        "schema": {"minLength": 3, "maxLength": EMAIL_MAX}})


@attrs.frozen(kw_only=True)
class UserView:
    """A user; ``welcome_email_sent_at`` is null until the welcome-email job ran."""

    id: uuid.UUID
    name: str
    email: str
    created_at: dt.datetime
    welcome_email_sent_at: dt.datetime | None

    @classmethod
    def of(cls, user: User) -> UserView:
        created_at = moment(user.created_at)
        assert created_at is not None
        return cls(id=user.id, name=user.name, email=user.email, created_at=created_at,
                   welcome_email_sent_at=moment(user.welcome_email_sent_at))


USER_ID = Param(name="user_id", schema={"type": "string", "format": "uuid"},
                description="The user's id (anything else is 404).")


def parse_uuid(raw: str, what: str) -> uuid.UUID:
    """``raw`` as a UUID, else 404 ``not_found`` saying it is not a valid UUID."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", f"no {what} {raw!r}: the id is not a valid UUID") from None


async def sign_up(name: object, email: object) -> User:
    """Check, then create the user with its welcome job; ApiError 422 or 409 on a problem.

    Field names in errors are ``name`` and ``email``; callers map them to their own notation.
    """
    checked = check_new_user(name, email)
    if checked.errors:
        raise ApiError(422, "invalid", "invalid user", checked.errors)
    try:
        return await create_user(app_state().store, name=checked.name, email=checked.email)
    except DuplicateEmail as exc:
        raise ApiError(409, "conflict", str(exc), {"email": "is registered already"}) from None


def _json_fields(error: ApiError) -> ApiError:
    fields = {f"$.{name}": problem for name, problem in (error.fields or {}).items()}
    return ApiError(error.status, error.code, error.message, fields or None)


@blueprint.post("/api/users")
@operation(summary="Sign a user up", tag="users", body=NewUserBody, answers={201: UserView},
           errors=(409,), location=True, links=(
               Link(name="GetUser", endpoint="users.get_user_by_id", parameter="user_id"),),
           example={"name": "Ada Lovelace", "email": "ada@example.com"})
async def post_user() -> Response:
    """Sign a user up: 201 with the user; 422 invalid fields, 409 email taken, 400 bad JSON."""
    body = await read_json_as(NewUserBody, what="user")
    try:
        user = await sign_up(body.name, body.email)
    except ApiError as error:
        raise _json_fields(error) from None
    return json_answer(UserView.of(user), 201, {"Location": f"/api/users/{user.id}"})


@blueprint.get("/api/users/<user_id>")
@operation(summary="Read a user", tag="users", answers={200: UserView}, path=(USER_ID,))
async def get_user_by_id(user_id: str) -> Response:
    """The user, or 404 (also for an id that is not a UUID)."""
    uid = parse_uuid(user_id, "user")
    user = await get_user(app_state().store, uid)
    if user is None:
        raise ApiError(404, "not_found", f"no user {uid}")
    return json_answer(UserView.of(user))
