"""HTML for the pages: every value from a user is escaped (``Markup.format`` escapes its args)."""

from __future__ import annotations

from markupsafe import Markup

from ...jobs import to_datetime

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
form { display: grid; gap: .5rem; max-width: 24rem; padding: 1rem; background: #f8f8f8;
       border: 1px solid #ddd; border-radius: 6px; }
label { display: grid; gap: .2rem; font-weight: 600; }
input { font: inherit; padding: .35rem; }
button { font: inherit; padding: .4rem; cursor: pointer; }
.error { color: #a00; font-weight: normal; }
.notice { padding: .6rem; background: #fee; border: 1px solid #d99; border-radius: 6px; }
.muted { color: #777; }
pre { background: #f6f6f6; border: 1px solid #ddd; border-radius: 6px; padding: .6rem;
      overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
form.inline { display: inline-block; padding: 0; background: none; border: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
nav.states a { margin-right: .8rem; }
nav.main { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center;
           padding-bottom: .6rem; border-bottom: 1px solid #ddd; }
nav.main a[aria-current] { font-weight: 700; color: #222; text-decoration: none; }
nav.main .live { display: inline-flex; gap: .3rem; align-items: center; font-weight: normal;
                 margin-left: auto; }
nav.main .live[hidden] { display: none; }
nav.main .live[hidden] + form { margin-left: auto; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .6rem 0; }
.status-live { color: #06640b; font-weight: 600; }
.status-stopped { color: #555; }
.status-gone { color: #a00; font-weight: 600; }
tr.gone td, tr.stopped td { color: #777; }
.wide { overflow-x: auto; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: auto; max-width: 60rem; background: #fcfcfc;
            border: 1px solid #ddd; border-radius: 6px; }
.legend span { margin-right: 1rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; vertical-align: middle;
          margin-right: .3rem; }
"""


def document(title: str, body: Markup) -> str:
    """A complete HTML5 document."""
    return str(Markup(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>{title}</title>\n<style>{style}</style>\n</head>\n<body>\n{body}\n</body>\n"
        "</html>\n"
    ).format(title=title, style=Markup(_STYLE), body=body))


def when(timestamp: float) -> Markup:
    """A readable UTC time, with the exact ISO 8601 instant in a <time> element."""
    moment = to_datetime(timestamp)
    assert moment is not None
    return Markup('<time datetime="{}">{}</time>').format(
        moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


def field(
    label: str, name: str, kind: str, value: str, error: str | None, maxlength: int
) -> Markup:
    """A labelled, required ``<input>``; ``error`` (if any) is shown beside the label."""
    problem = Markup(' <span class="error">{}</span>').format(error) if error else Markup("")
    return Markup(
        '<label>{label}{problem}<input type="{kind}" name="{name}" value="{value}"'
        ' maxlength="{maxlength}" required></label>'
    ).format(label=label, problem=problem, kind=kind, name=name, value=value,
             maxlength=maxlength)
