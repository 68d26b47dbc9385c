"""The dashboard's workers page: each worker process from its heartbeats, live, stopped or
gone. Every value is escaped by ``Markup.format``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from ...jobs import STALE_BEATS, WorkerStatus, worker_status
from ..plumbing.html import when
from .dashboard_html import admin_document

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...jobs import WorkerRow


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _row(row: WorkerRow, now: float) -> Markup:
    status = worker_status(row, now)
    stopped = Markup('<span class="muted">-</span>') if row.stopped_at is None else when(
        row.stopped_at)
    return Markup(
        '<tr class="{status}"><td class="status-{status}">{status}</td><td>{host}</td>'
        '<td class="num">{pid}</td><td>{tasks}</td><td class="num">{in_flight}</td>'
        "<td>{started}</td><td>{seen} ({ago})</td><td>{stopped}</td><td><code>{owner}</code>"
        "</td></tr>"
    ).format(status=status.value, host=row.host, pid=row.pid, tasks=", ".join(row.tasks),
             in_flight=row.in_flight, started=when(row.started_at), seen=when(row.seen_at),
             ago=_ago(now - row.seen_at), stopped=stopped, owner=row.owner)


def workers_page(rows: Sequence[WorkerRow], now: float, *, retention: float) -> str:
    """Every recorded worker process, most recently seen first."""
    live = sum(1 for row in rows if worker_status(row, now) is WorkerStatus.LIVE)
    body_rows = Markup("").join(_row(row, now) for row in rows) or Markup(
        '<tr><td colspan="9" class="muted">No worker has written a heartbeat yet.</td></tr>')
    body = Markup(
        "<h1>Workers</h1>\n"
        '<p>Each worker process writes a heartbeat with its lease renewals. One not heard from'
        " for more than {beats} heartbeat intervals without having stopped cleanly is shown as"
        " <strong>gone</strong> (killed, or its host lost); gone and stopped workers are"
        " forgotten {hours:.0f} h after they were last seen.</p>\n"
        '<div id="workers" data-live><p><strong>{live}</strong> live of {total} recorded.</p>'
        "<table>\n<thead><tr><th>Status</th><th>Host</th><th class=\"num\">PID</th>"
        '<th>Tasks</th><th class="num">In flight</th><th>Started</th><th>Last seen</th>'
        "<th>Stopped</th><th>Owner</th></tr></thead>\n<tbody>{rows}</tbody>\n</table></div>"
    ).format(beats=STALE_BEATS, hours=retention / 3600, live=live, total=len(rows),
             rows=body_rows)
    return admin_document("Workers", body, current="/admin/workers")
