"""The dashboard's one static file, ``GET /admin/live.js`` (the live refresh), served from the
package: the CSP lets pages load this site's scripts and no inline ones."""

from __future__ import annotations

from importlib.resources import files

from quart import Blueprint, Response

blueprint = Blueprint("dashboard_assets", __name__)

_LIVE_JS = files(__package__).joinpath("static", "live.js").read_bytes()


@blueprint.get("/admin/live.js")
async def live_js() -> Response:
    """The live-refresh script: public (it holds no data), cached for five minutes."""
    return Response(_LIVE_JS, content_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})
