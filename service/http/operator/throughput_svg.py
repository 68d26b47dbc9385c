"""The throughput chart: jobs completed and failed per minute over the last hour, as inline SVG
drawn on the server (no script, no chart library; the CSP allows neither)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from markupsafe import Markup

from ...jobs import to_datetime

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...jobs import Minute

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24
COMPLETED_COLOUR = "#2e7d32"
FAILED_COLOUR = "#c62828"


def _ceiling(value: int) -> int:
    """A round top for the y axis: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 5:
        return 5
    power = 10 ** math.floor(math.log10(value))
    return int(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def _clock(start: float) -> str:
    moment = to_datetime(start)
    assert moment is not None
    return moment.strftime("%H:%M")


def throughput_chart(minutes: Sequence[Minute]) -> Markup:
    """A bar per minute, completed (green) under failed (red), with its counts on hover."""
    top = _ceiling(max((m.completed + m.failed for m in minutes), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(minutes), 1)
    bars = []
    for n, minute in enumerate(minutes):
        x = LEFT + n * slot + 1
        done_h = plot_h * minute.completed / top
        failed_h = plot_h * minute.failed / top
        label = f"{_clock(minute.start)} UTC: {minute.completed} completed, {minute.failed} failed"
        bars.append(Markup(
            '<g><title>{label}</title>'
            '<rect x="{x:.1f}" y="{y_done:.1f}" width="{w:.1f}" height="{h_done:.1f}"'
            ' fill="{green}"/>'
            '<rect x="{x:.1f}" y="{y_failed:.1f}" width="{w:.1f}" height="{h_failed:.1f}"'
            ' fill="{red}"/>'
            '<rect x="{x:.1f}" y="{top_y}" width="{w:.1f}" height="{plot_h}" fill="transparent"/>'
            '</g>'
        ).format(label=label, x=x, w=max(slot - 2, 1), y_done=TOP + plot_h - done_h,
                 h_done=done_h, y_failed=TOP + plot_h - done_h - failed_h, h_failed=failed_h,
                 green=COMPLETED_COLOUR, red=FAILED_COLOUR, top_y=TOP, plot_h=plot_h))
    completed = sum(m.completed for m in minutes)
    failed = sum(m.failed for m in minutes)
    summary = (f"Jobs finished per minute over the last {len(minutes)} minutes:"
               f" {completed} completed, {failed} failed")
    first = _clock(minutes[0].start) if minutes else ""
    axes = Markup(
        '<line x1="{l}" y1="{base}" x2="{r}" y2="{base}" stroke="#999"/>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{base}" stroke="#999"/>'
        '<text x="{lt}" y="{ty}" text-anchor="end" font-size="11">{top}</text>'
        '<text x="{lt}" y="{base}" text-anchor="end" font-size="11">0</text>'
        '<text x="{l}" y="{by}" font-size="11">{first} UTC</text>'
        '<text x="{r}" y="{by}" text-anchor="end" font-size="11">now</text>'
    ).format(l=LEFT, r=WIDTH - RIGHT, t=TOP, base=TOP + plot_h, lt=LEFT - 4, ty=TOP + 9,
             top=top, by=HEIGHT - 6, first=first)
    return Markup(
        '<figure id="throughput" data-live>'
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{summary}"'
        ' xmlns="http://www.w3.org/2000/svg">{axes}{bars}</svg>'
        '<figcaption class="legend">'
        '<span><i class="swatch" style="background:{green}"></i>completed: {completed}</span>'
        '<span><i class="swatch" style="background:{red}"></i>failed (discarded): {failed}</span>'
        '<span class="muted">per minute, last hour, from finished jobs</span>'
        '</figcaption></figure>'
    ).format(w=WIDTH, h=HEIGHT, summary=summary, axes=axes, bars=Markup("").join(bars),
             green=COMPLETED_COLOUR, red=FAILED_COLOUR, completed=completed, failed=failed)
