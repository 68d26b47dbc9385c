"""The confirmation page of a bulk action: what it will touch, how many jobs, one button."""

from __future__ import annotations

from markupsafe import Markup

from ...jobs import BulkAction, JobState
from .dashboard_html import admin_document
from .job_html import StateChoice, choice_label, choice_value, jobs_url

_VERBS = {BulkAction.RETRY: "Retry", BulkAction.CANCEL: "Cancel", BulkAction.DELETE: "Delete"}
_DONE = {BulkAction.RETRY: "retried", BulkAction.CANCEL: "cancelled",
         BulkAction.DELETE: "deleted"}
_WHAT = {
    BulkAction.RETRY: "Each becomes available now; a job that used all its attempts gets one"
                      " more (its max_attempts is raised).",
    BulkAction.CANCEL: "Each unfinished job is cancelled with the reason below; a running job"
                       " is stopped by its worker at its next lease renewal.",
    BulkAction.DELETE: "Each job is deleted for good, whatever its state, but running jobs:"
                       " cancel those first.",
}


def _plural(count: int) -> str:
    return f"{count:,} job{'' if count == 1 else 's'}"


def bulk_page(
    action: BulkAction, *, choice: StateChoice, task: str | None, count: int, upto: int | None,
) -> str:
    """Confirm ``action`` on the ``count`` jobs the filter selects, up to job id ``upto``."""
    verb = _VERBS[action]
    states = ", ".join(s.value for s in JobState if s in action.sources)
    back = jobs_url(state=choice_value(choice), task=task)
    selection = Markup("<ul><li>State: {state}</li><li>Task: {task}</li>"
                       "<li>Only states {action} applies to: {states}</li>{upto}</ul>").format(
        state=choice_label(choice), task=task or "any task", action=action.value, states=states,
        upto=Markup("<li>Jobs up to id {}: jobs pushed after this page was shown are left"
                    " alone</li>").format(upto) if upto is not None else "")
    if count == 0 or upto is None:
        form = Markup('<p class="notice" role="alert">No job this filter selects can be'
                      " {}.</p>").format(_DONE[action])
    else:
        reason = Markup("")
        if action is BulkAction.CANCEL:
            reason = Markup('<label>Reason <input type="text" name="reason" maxlength="500"'
                            ' placeholder="cancelled by an operator"></label>')
        form = Markup(
            '<form method="post" action="/admin/jobs/bulk">'
            '<input type="hidden" name="action" value="{action}">'
            '<input type="hidden" name="state" value="{state}">'
            '<input type="hidden" name="task" value="{task}">'
            '<input type="hidden" name="upto" value="{upto}">{reason}'
            '<button type="submit">{verb} {count}</button></form>'
        ).format(action=action.value, state=choice_value(choice) or "", task=task or "",
                 upto=upto, reason=reason, verb=verb, count=_plural(count))
    title = f"{verb} {_plural(count)}?" if count else f"No job to {action.value}"
    body = Markup(
        "<h1>{title}</h1>\n<p>{what}</p>\n<h2>Selection</h2>\n{selection}\n{form}\n"
        '<p><a href="{back}">Back to the jobs</a></p>'
    ).format(title=title, what=_WHAT[action], selection=selection, form=form, back=back)
    return admin_document(title, body, current="/admin/jobs")
