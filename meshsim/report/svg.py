"""Inline SVG line charts for report.html.

Why hand-written SVG rather than matplotlib or a JS charting library: the
report must be one offline file, the charts are two plain line charts over
time with phase bands, and a plotting dependency (tens of MB, slow import) in
the core install would cost every user for ~150 lines of string building.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from meshsim.report.text import html_text as escape

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 30
CHAR_PX = 6.6  # average glyph width at 11px, to fit phase labels in their band
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706")
BAND_FILLS = ("#f3f4f6", "#ffffff")
BAND_INTERRUPTED = "#fee2e2"
BAND_SETTLING = "#fde68a"  # the start of a phase its expectations leave out (`settle`)
# Presentation attributes rather than CSS classes: the SVG stays readable when
# copied out of the page (or when a viewer strips <style>).
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float | None]]  # (x seconds, y) ; None = no data: a gap
    color: str | None = None


@dataclass(frozen=True)
class Band:
    """A phase: shaded span with its name at the top and a line at its start."""

    start: float
    end: float
    label: str
    interrupted: bool = False
    settled: float | None = None  # where the phase's settle ended: [start, settled) is shaded


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k that is at least `value` (> 0)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def line_chart(
    title: str,
    series: Sequence[Series],
    bands: Sequence[Band],
    x_max: float,
    y_label: Callable[[float], str],
    *,
    y_min_top: float = 0.0,
) -> str:
    """An `<svg>` line chart over seconds since the run started.

    `y_label` renders a y-axis tick; `y_min_top` keeps the scale from
    collapsing when every value is 0 (e.g. 1% for an error rate).
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_max = max(x_max, 1.0)
    values = [y for s in series for _, y in s.points if y is not None]
    y_top = nice_ceiling(max([*values, y_min_top, 1e-12]))

    def sx(x: float) -> float:
        return LEFT + plot_w * min(max(x, 0.0), x_max) / x_max

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - min(max(y, 0.0), y_top) / y_top)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    out += _bands(bands, sx, plot_h)
    out += _grid(y_top, y_label, sy, plot_w)
    out += _x_axis(x_max, sx, plot_h)
    for i, s in enumerate(series):
        out += _line(s, s.color or PALETTE[i % len(PALETTE)], sx, sy)
    if not values:
        out.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle" {FONT} fill="#6b7280">no data</text>'
        )
    out += _legend(series)
    out.append("</svg>")
    return "\n".join(out)


def _bands(bands: Sequence[Band], sx: Callable[[float], float], plot_h: float) -> list[str]:
    out = []
    for i, band in enumerate(bands):
        x0, x1 = sx(band.start), sx(band.end)
        width = max(x1 - x0, 0.5)
        fill = BAND_INTERRUPTED if band.interrupted else BAND_FILLS[i % 2]
        label = band.label if len(band.label) * CHAR_PX <= width - 6 else ""
        if not label and width > 3 * CHAR_PX:
            label = band.label[: max(1, int((width - 6) / CHAR_PX) - 1)] + "…"
        settling = ""
        if band.settled is not None and band.start < band.settled <= band.end:
            xs = sx(band.settled)
            settling = (
                f'<rect x="{x0:.1f}" y="{TOP}" width="{max(xs - x0, 0.5):.1f}" '
                f'height="{plot_h}" fill="{BAND_SETTLING}" fill-opacity="0.45">'
                "<title>settling: not judged by the expectations</title></rect>"
            )
        out.append(
            f"<g><title>{escape(band.label)}</title>"
            f'<rect x="{x0:.1f}" y="{TOP}" width="{width:.1f}" height="{plot_h}" fill="{fill}"/>'
            f"{settling}"
            f'<line x1="{x0:.1f}" y1="{TOP - 4}" x2="{x0:.1f}" y2="{TOP + plot_h}" '
            'stroke="#9ca3af" stroke-dasharray="4 3"/>'
            f'<text x="{x0 + 4:.1f}" y="{TOP + 13}" {FONT} font-weight="600" fill="#374151">'
            f"{escape(label)}</text></g>"
        )
    return out


def _grid(
    y_top: float, y_label: Callable[[float], str], sy: Callable[[float], float], plot_w: float
) -> list[str]:
    out = []
    for k in range(5):
        y = y_top * k / 4
        py = sy(y)
        out.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + plot_w}" y2="{py:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" {FONT} fill="#4b5563">'
            f"{escape(y_label(y))}</text>"
        )
    return out


def _x_axis(x_max: float, sx: Callable[[float], float], plot_h: float) -> list[str]:
    step = nice_ceiling(x_max / 8)
    out = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{sx(x_max):.1f}" y2="{TOP + plot_h}" '
        'stroke="#9ca3af"/>'
    ]
    tick = 0.0
    while tick <= x_max + 1e-9:
        px = sx(tick)
        out.append(
            f'<text x="{px:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" {FONT} '
            'fill="#4b5563">'
            f"{_fmt(tick)}s</text>"
        )
        tick += step
    return out


def _line(
    s: Series, color: str, sx: Callable[[float], float], sy: Callable[[float], float]
) -> list[str]:
    """One path, broken wherever a point has no value; lone points get a dot."""
    commands: list[str] = []
    dots: list[str] = []
    run: list[tuple[float, float]] = []
    for x, y in [*s.points, (math.inf, None)]:
        if y is not None:
            run.append((sx(x), sy(y)))
            continue
        if len(run) == 1:
            dots.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2" fill="{color}"/>')
        elif run:
            commands.append("M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in run))
        run = []
    out = [f'<g class="series"><title>{escape(s.label)}</title>']
    if commands:
        out.append(
            f'<path d="{" ".join(commands)}" fill="none" stroke="{color}" '
            'stroke-width="1.6" stroke-linejoin="round"/>'
        )
    out += dots
    out.append("</g>")
    return out


def _legend(series: Sequence[Series]) -> list[str]:
    out, x = [], float(LEFT)
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        out.append(
            f'<line x1="{x:.1f}" y1="12" x2="{x + 18:.1f}" y2="12" stroke="{color}" '
            f'stroke-width="3"/><text x="{x + 24:.1f}" y="16" {FONT} fill="#374151">'
            f"{escape(s.label)}</text>"
        )
        x += 24 + len(s.label) * CHAR_PX + 20
    return out
