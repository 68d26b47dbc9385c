"""The dashboard's queues page: per task type, jobs by state, concurrency, paused, with Pause /
Resume buttons; the throughput chart above. Every value is escaped by ``Markup.format``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from ...jobs import JobState
from .dashboard_html import admin_document, notice
from .job_html import jobs_url
from .throughput_svg import throughput_chart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...jobs import Minute, QueueSummary


def _pause_form(queue: QueueSummary) -> Markup:
    if not queue.registered:
        return Markup('<span class="muted" title="no process here runs this task">'
                      "not registered</span>")
    verb = "resume" if queue.paused else "pause"
    return Markup(
        '<form class="inline" method="post" action="/admin/queues/{verb}">'
        '<input type="hidden" name="task" value="{task}">'
        '<button type="submit" aria-label="{label} {task}">{label}</button></form>'
    ).format(verb=verb, task=queue.task, label=verb.capitalize())


def _row(queue: QueueSummary) -> Markup:
    counts = Markup("").join(
        Markup('<td class="num"><a href="{}">{}</a></td>').format(
            jobs_url(state=state.value, task=queue.task), queue.counts.get(state, 0))
        for state in JobState
    )
    concurrency = "-" if queue.concurrency is None else str(queue.concurrency)
    paused = Markup('<strong class="status-gone">paused</strong>') if queue.paused else "running"
    return Markup(
        '<tr><td><a href="{url}">{task}</a></td><td>{paused}</td>'
        '<td class="num">{concurrency}</td><td class="limits">{limits}</td>{counts}'
        "<td>{form}</td></tr>"
    ).format(url=jobs_url(task=queue.task), task=queue.task, paused=paused,
             concurrency=concurrency, limits=queue.limits_text, counts=counts,
             form=_pause_form(queue))


def queues_page(
    queues: Sequence[QueueSummary], minutes: Sequence[Minute], *, message: str | None = None
) -> str:
    """Every queue with its counts and a Pause or Resume button, under the throughput chart."""
    heads = Markup("").join(Markup('<th class="num">{}</th>').format(s.value) for s in JobState)
    rows = Markup("").join(_row(queue) for queue in queues) or Markup(
        '<tr><td colspan="{}" class="muted">No queues yet.</td></tr>').format(5 + len(JobState))
    body = Markup(
        "<h1>Queues</h1>\n{notice}\n<h2>Throughput</h2>\n{chart}\n<h2>By task</h2>\n"
        '<p class="muted">Concurrency: how many jobs of the task one worker process runs at'
        " once (- when this process does not know the task). A paused queue keeps its jobs;"
        " no process claims them until it is resumed. Limits hold across every process:"
        " global (jobs running at once), per key, a rate of starts, and a pause after a task"
        " raised RateLimited; (override) when an operator set them.</p>\n"
        '<div class="wide"><table id="queues" data-live>\n<thead><tr><th>Task</th><th>Queue</th>'
        '<th class="num">Concurrency</th><th>Limits</th>{heads}<th></th></tr></thead>\n'
        "<tbody>{rows}</tbody>"
        "\n</table></div>"
    ).format(notice=notice(message), chart=throughput_chart(minutes), heads=heads, rows=rows)
    return admin_document("Queues", body, current="/admin/queues")
