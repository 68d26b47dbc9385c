"""What every HTML page shares: the response headers, and reading a submitted form."""

from __future__ import annotations

from urllib.parse import parse_qs

from quart import Response, request

from ..plumbing.request_state import app_state
from .bodies import read_body
from .errors import ApiError

FORM_TYPE = "application/x-www-form-urlencoded"

#: Pages load nothing but their own inline style and post forms only to this site.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
       " frame-ancestors 'none'; base-uri 'none'")


#: The dashboard's pages also load this site's own scripts (never inline ones) and fetch from it:
#: the live refresh, ``/admin/live.js``.
CSP_WITH_SCRIPTS = CSP + "; script-src 'self'; connect-src 'self'"


def html_response(
    text: str, status: int = 200, *, private: bool = False, scripts: bool = False
) -> Response:
    """An HTML page under the CSP; ``private`` pages (operator data) are never cached;
    ``scripts`` pages may run this site's own script files (:data:`CSP_WITH_SCRIPTS`)."""
    response = Response(text, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP_WITH_SCRIPTS if scripts else CSP
    if private:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "same-origin"
    return response


async def read_form() -> dict[str, str]:
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
