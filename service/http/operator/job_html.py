"""HTML for the operator dashboard (``/admin``); every stored value is escaped by ``Markup.format``.

Payloads, results, task names, unique keys and error messages are user data: none of them is
ever wrapped in ``Markup`` directly.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from markupsafe import Markup

from ...jobs import (
    CANCEL_SOURCES,
    FAILED,
    RETRY_SOURCES,
    AttemptError,
    BulkAction,
    JobProgress,
    JobRow,
    JobState,
)
from ..plumbing.html import document, field, when
from .dashboard_html import admin_document, notice

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Characters of the last error shown in the listing.
EXCERPT = 120
TOKEN_MAX = 1000

_NONE = Markup('<span class="muted">-</span>')


def _time(timestamp: float | None) -> Markup:
    return _NONE if timestamp is None else when(timestamp)


def _text(value: object) -> Markup | str:
    return _NONE if value is None or value == "" else str(value)


def pretty_json(text: str | None) -> str:
    """Stored JSON text indented for reading; text that is not JSON comes back as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def login_page(*, closed: bool, error: str | None = None) -> str:
    """The token form; when ``closed`` (no token configured) an explanation instead."""
    if closed:
        body = Markup(
            "<h1>Operator dashboard</h1>\n<p class=\"notice\" role=\"alert\">The dashboard is"
            " closed: no admin token is configured. Set <code>SERVICE_ADMIN_TOKEN</code> (or"
            " <code>--admin-token</code>) and restart the service to open it.</p>"
        )
        return document("Dashboard closed", body)
    body = Markup(
        "<h1>Operator dashboard</h1>\n{notice}\n"
        '<form method="post" action="/admin/login">\n{token}\n'
        '<button type="submit">Log in</button>\n</form>'
    ).format(notice=notice(error),
             token=field("Admin token", "token", "password", "", None, TOKEN_MAX))
    return document("Log in", body)


def jobs_url(**params: object) -> str:
    """``/admin/jobs`` with the given query parameters (None values left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return "/admin/jobs" + (f"?{query}" if query else "")


#: The states a job is in because of its last recorded error: only these list it. A job that
#: completed (or waits or runs again) after an earlier failure or cancel shows none; its page
#: keeps every error, each with its attempt.
LAST_ERROR_STATES = frozenset({JobState.RETRYABLE, JobState.DISCARDED, JobState.CANCELLED})


def _last_error(row: JobRow) -> str:
    if not row.errors or row.state not in LAST_ERROR_STATES:
        return ""
    message = row.errors[-1].message
    return message if len(message) <= EXCERPT else message[: EXCERPT - 1] + "\u2026"


def _job_row(row: JobRow) -> Markup:
    return Markup(
        '<tr><td><a href="/admin/jobs/{id}">{id}</a></td><td>{task}</td><td>{state}</td>'
        "<td>{attempt}/{max}</td><td>{run_at}</td><td>{created}</td><td>{error}</td></tr>"
    ).format(id=row.id, task=row.task, state=row.state.value, attempt=row.attempt,
             max=row.max_attempts, run_at=when(row.run_at), created=when(row.created_at),
             error=_last_error(row))


#: The listing's state filter: a state, "failed" (retryable or discarded), or any (None).
StateChoice = JobState | Literal["failed"] | None

#: The states "failed" stands for, in the order the listing names them.
FAILED_STATES = [s for s in JobState if s in FAILED]


def choice_value(choice: StateChoice) -> str | None:
    """The ``state`` query parameter for ``choice``."""
    return choice if choice is None or choice == "failed" else choice.value


def choice_label(choice: StateChoice) -> str:
    """How the filter reads: "failed (retryable, discarded)", a state, or "any state"."""
    if choice == "failed":
        return "failed (" + ", ".join(s.value for s in FAILED_STATES) + ")"
    return "any state" if choice is None else choice.value


def _state_links(counts: Mapping[JobState, int], task: str | None) -> Markup:
    failed = sum(counts.get(s, 0) for s in FAILED)
    links = Markup(" ").join(
        Markup('<a href="{}">{}: {}</a>').format(jobs_url(state=value, task=task), value, count)
        for value, count in [*((s.value, counts.get(s, 0)) for s in JobState),
                             ("failed", failed)]
    )
    return Markup('<nav class="states" id="state-counts" data-live>{}</nav>').format(links)


def _filter_form(choice: StateChoice, task: str | None, limit: int) -> Markup:
    selected = choice_value(choice) or ""
    values = [("", "any state"), *((s.value, s.value) for s in JobState),
              ("failed", choice_label("failed"))]
    options = Markup("").join(
        Markup('<option value="{v}"{sel}>{label}</option>').format(
            v=v, label=label, sel=Markup(" selected") if v == selected else "")
        for v, label in values
    )
    return Markup(
        '<form method="get" action="/admin/jobs"><label>State <select name="state">{options}'
        '</select></label><label>Task <input type="text" name="task" value="{task}"'
        ' maxlength="100"></label><label>Limit <input type="number" name="limit" min="1"'
        ' value="{limit}"></label><button type="submit">Filter</button></form>'
    ).format(options=options, task=task or "", limit=limit)


def _bulk_links(choice: StateChoice, task: str | None) -> Markup:
    links = Markup(" ").join(
        Markup('<a href="{}">{}…</a>').format(
            bulk_url(action, choice, task), action.value.capitalize())
        for action in BulkAction
    )
    return Markup('<p class="actions">Every job this filter selects: {}</p>').format(links)


def bulk_url(action: BulkAction, choice: StateChoice, task: str | None) -> str:
    """The confirmation page of ``action`` on what the filter selects."""
    query = urlencode({k: v for k, v in (("action", action.value),
                                         ("state", choice_value(choice)), ("task", task))
                       if v is not None})
    return f"/admin/jobs/bulk?{query}"


def jobs_page(
    rows: Iterable[JobRow], *, counts: Mapping[JobState, int], choice: StateChoice,
    task: str | None, limit: int, older: int | None, message: str | None = None,
) -> str:
    """The job listing, newest first; ``older`` is the cursor of the next page, if any."""
    body_rows = Markup("").join(_job_row(row) for row in rows)
    if not body_rows:
        body_rows = Markup('<tr><td colspan="7" class="muted">No jobs match.</td></tr>')
    more = Markup("")
    if older is not None:
        more = Markup('<p><a href="{}">Older jobs</a></p>').format(
            jobs_url(state=choice_value(choice), task=task, limit=limit, cursor=older))
    body = Markup(
        "<h1>Jobs</h1>\n{notice}\n{links}\n{form}\n{bulk}\n<div id=\"jobs\" data-live>"
        "<table>\n<thead><tr><th>Id</th><th>Task</th>"
        "<th>State</th><th>Attempt</th><th>Run at</th><th>Created</th><th>Last error</th>"
        "</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n{more}</div>"
    ).format(notice=notice(message), links=_state_links(counts, task),
             form=_filter_form(choice, task, limit), bulk=_bulk_links(choice, task),
             rows=body_rows, more=more)
    return admin_document("Jobs", body, current="/admin/jobs")


def _facts(row: JobRow) -> Markup:
    facts: list[tuple[str, Markup | str]] = [
        ("Task", row.task), ("State", row.state.value),
        ("Attempt", f"{row.attempt} of {row.max_attempts}"), ("Priority", str(row.priority)),
        ("Run at", when(row.run_at)), ("Created", when(row.created_at)),
        ("Attempted", _time(row.attempted_at)), ("Finished", _time(row.finished_at)),
        ("Expires", _time(row.expires_at)),
        ("Unique key", _text(row.unique_key)), ("Rescues", str(row.rescues)),
        ("Lease owner", _text(row.lease_owner)), ("Lease expires", _time(row.lease_expires_at)),
    ]
    if row.workflow_id is not None:
        facts.append(("Workflow", f"{row.workflow_name} ({row.workflow_id})"))
    if row.progress is not None:
        facts.append(("Progress", _progress(row.progress)))
    items = Markup("").join(Markup("<dt>{}</dt><dd>{}</dd>").format(k, v) for k, v in facts)
    return Markup('<dl class="facts" id="facts" data-live>{}</dl>').format(items)


def _progress(progress: JobProgress) -> Markup:
    """A bar, the percentage, the task's message and when it said so."""
    percent = f"{progress.fraction * 100:.0f}%"
    return Markup(
        '<progress id="job-progress" value="{fraction}" max="1">{percent}</progress>'
        ' <span id="job-progress-text">{percent}{message}</span> ({at})'
    ).format(fraction=f"{progress.fraction:.4f}", percent=percent,
             message=f": {progress.message}" if progress.message else "", at=when(progress.at))


def _error_entry(entry: AttemptError) -> Markup:
    moment = _time(entry.at)
    details = Markup("")
    if entry.traceback:
        details = Markup("<details><summary>Traceback</summary><pre>{}</pre></details>").format(
            entry.traceback)
    attempt = entry.attempt
    return Markup(
        "<li><p>{attempt}{at}: <strong>{kind}</strong> {error}</p>"
        "<pre>{message}</pre>{details}</li>"
    ).format(attempt=f"Attempt {attempt}, " if attempt is not None else "", at=moment,
             kind=entry.kind.value, error=_text(entry.error), message=entry.message,
             details=details)


def _actions(row: JobRow) -> Markup:
    forms = []
    if row.state in RETRY_SOURCES:
        forms.append(Markup(
            '<form class="inline" method="post" action="/admin/jobs/{}/retry">'
            '<button type="submit">Retry now</button></form>').format(row.id))
    if row.state in CANCEL_SOURCES:
        forms.append(Markup(
            '<form class="inline" method="post" action="/admin/jobs/{}/cancel">'
            '<input type="text" name="reason" maxlength="500" placeholder="reason (optional)"'
            ' aria-label="Reason"> <button type="submit">Cancel job</button></form>'
        ).format(row.id))
    if row.workflow_id is not None:
        forms.append(Markup(
            '<form class="inline" method="post" action="/admin/workflows/{}/cancel">'
            '<input type="hidden" name="job" value="{}">'
            '<button type="submit">Cancel workflow</button></form>'
        ).format(row.workflow_id, row.id))
    return Markup('<div class="actions">{}</div>').format(Markup(" ").join(forms))


def job_page(row: JobRow, *, message: str | None = None) -> str:
    """One job: facts, payload, result and every recorded error, with Retry / Cancel forms."""
    errors = Markup("").join(_error_entry(entry) for entry in row.errors)
    result = (Markup("<pre>{}</pre>").format(pretty_json(row.result)) if row.result is not None
              else Markup('<p class="muted">No result.</p>'))
    body = Markup(
        "<h1>Job {id}</h1>\n{notice}\n{facts}\n{actions}\n<h2>Payload</h2>\n<pre>{args}</pre>\n"
        '<div id="outcome" data-live><h2>Result</h2>\n{result}\n<h2>Errors ({count})</h2>\n'
        "<ol>{errors}</ol></div>"
    ).format(id=row.id, notice=notice(message), facts=_facts(row), actions=_actions(row),
             args=pretty_json(row.args), result=result, count=len(row.errors), errors=errors)
    return admin_document(f"Job {row.id}", body, current="/admin/jobs")
