"""The dashboard's frame: one list of navigation entries, the live-refresh switch, notices and
error pages. Every page of ``/admin`` is rendered through :func:`admin_document`."""

from __future__ import annotations

from markupsafe import Markup

from ..plumbing.html import document

#: The dashboard's sections, in menu order: (label, path). A new page adds its entry here.
NAV: list[tuple[str, str]] = [
    ("Jobs", "/admin/jobs"),
    ("Queues", "/admin/queues"),
    ("Workers", "/admin/workers"),
    ("Schedules", "/admin/schedules"),
]

#: The live-refresh script (served by ``GET /admin/live.js``); the CSP allows only this site's.
LIVE_SCRIPT = "/admin/live.js"


def _nav(current: str | None) -> Markup:
    links = Markup(" ").join(
        Markup('<a href="{}"{}>{}</a>').format(
            path, Markup(' aria-current="page"') if path == current else "", label)
        for label, path in NAV
    )
    # The switch stays hidden unless the script runs (it unhides it).
    return Markup(
        '<nav class="main">{links}'
        '<label class="live" hidden><input type="checkbox" id="live-toggle" checked>'
        ' Live refresh <span id="live-status" class="muted" role="status"></span></label>'
        '<form class="inline" method="post" action="/admin/logout">'
        '<button type="submit">Log out</button></form></nav>'
    ).format(links=links)


def admin_document(title: str, body: Markup, *, current: str | None = None) -> str:
    """A dashboard page: the navigation (``current`` is the section's path), ``body``, and the
    live-refresh script, which swaps in fresh copies of the elements marked ``data-live``."""
    return document(title, Markup('{nav}\n<main>\n{body}\n</main>\n'
                                  '<script src="{script}" defer></script>').format(
        nav=_nav(current), body=body, script=LIVE_SCRIPT))


def notice(text: str | None) -> Markup:
    """A notice for the operator (the outcome of an action), or nothing."""
    return Markup('<p class="notice" role="alert">{}</p>').format(text) if text else Markup("")


def error_page(status: int, message: str) -> str:
    """An error answered to a dashboard page or form."""
    body = Markup('<h1>Error {}</h1>\n<p class="notice">{}</p>\n'
                  '<p><a href="/admin/jobs">Back to jobs</a></p>').format(status, message)
    return document(f"Error {status}", body)
