"""HTML of the dashboard's schedules page; every stored value is escaped by ``Markup.format``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from markupsafe import Markup

from ..plumbing.html import when
from .dashboard_html import admin_document

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...jobs import ScheduleSummary

_NONE = Markup('<span class="muted">-</span>')


def _time(timestamp: float | None) -> Markup:
    return _NONE if timestamp is None else when(timestamp)


def _status(summary: ScheduleSummary) -> str:
    if summary.orphaned:
        return "orphaned"
    return "paused" if summary.paused else "active"


def _toggle(summary: ScheduleSummary) -> Markup:
    if summary.orphaned and not summary.paused:
        return Markup("")
    verb = "resume" if summary.paused else "pause"
    return Markup(
        '<form class="inline" method="post" action="/admin/schedules/{}/{}">'
        '<button type="submit">{}</button></form>'
    ).format(quote(summary.name, safe=""), verb, verb.capitalize())


def _row(summary: ScheduleSummary) -> Markup:
    last_job = _NONE if summary.last_job_id is None else Markup(
        '<a href="/admin/jobs/{0}">{0}</a>').format(summary.last_job_id)
    return Markup(
        "<tr><td>{name}</td><td><code>{cron}</code></td><td>{tz}</td><td>{task}</td>"
        "<td>{catch_up}</td><td>{status}</td><td>{next}</td><td>{last}</td><td>{job}</td>"
        "<td>{toggle}</td></tr>"
    ).format(name=summary.name, cron=summary.cron, tz=summary.timezone, task=summary.task,
             catch_up=summary.catch_up, status=_status(summary),
             next=_time(summary.next_run_at), last=_time(summary.last_tick), job=last_job,
             toggle=_toggle(summary))


def schedules_page(schedules: Iterable[ScheduleSummary]) -> str:
    """Every schedule, by name."""
    rows = Markup("").join(_row(s) for s in schedules)
    if not rows:
        rows = Markup('<tr><td colspan="10" class="muted">No schedules.</td></tr>')
    body = Markup(
        '<h1>Schedules</h1>\n<table id="schedules" data-live>\n<thead><tr><th>Name</th>'
        "<th>Cron</th><th>Time zone</th><th>Task</th><th>Catch up</th><th>Status</th>"
        "<th>Next run</th><th>Last tick</th>"
        "<th>Last job</th><th></th></tr></thead>\n<tbody>\n{}\n</tbody>\n</table>"
    ).format(rows)
    return admin_document("Schedules", body, current="/admin/schedules")
