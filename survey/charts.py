"""Small server-rendered SVG charts for the staff pages (pure Python + numpy, no Django).

The output is a self-contained ``<svg>`` string (no scripts, no external resources) that
templates insert with ``|safe``; every text label is escaped here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape

import numpy as np

GROUP_COLOURS = {"expert": "#2459c7", "non_expert": "#d9822b", "all": "#5b6275"}
GROUP_LABELS = {"expert": "Experts", "non_expert": "Non-experts", "all": "All"}

#: Fewest answers a violin (a density estimate) is drawn for; below, the points are shown.
MIN_VIOLIN_N = 5


def _points(values: np.ndarray, centre: float, y_of, colour: str, label: str) -> list[str]:
    """One dot per answer; equal answers side by side, so that each one can be counted."""
    parts = []
    seen: dict[float, int] = {}
    for value in sorted(values.tolist()):
        index = seen.get(value, 0)
        seen[value] = index + 1
        x = centre + (index - (np.count_nonzero(values == value) - 1) / 2) * 11
        parts.append(f'<circle class="answer-point" cx="{x:.1f}" cy="{y_of(value):.1f}" r="4.5" '
                     f'fill="{colour}" stroke="#11182a"><title>{label}: k = {value:g}</title>'
                     '</circle>')
    return parts


def _kde(values: np.ndarray, grid: np.ndarray, *, bandwidth: float) -> np.ndarray:
    diffs = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * diffs**2).sum(axis=1)


def violin_svg(ks_by_group: Mapping[str, Sequence[int]], *, k_max: int,
               width: int = 520, height: int = 360) -> str:
    """Violins of the chosen k per group (k on the vertical axis, like the paper's Fig. 4).

    Each violin is a Gaussian kernel density (bandwidth 0.8 k); the white line is the
    median, the black diamond the mean. A group with fewer than :data:`MIN_VIOLIN_N`
    answers gets no violin: its answers are drawn as points (side by side when equal).

    Examples
    --------
    >>> svg = violin_svg({"expert": [3, 4, 5], "non_expert": [], "all": [3, 4, 5]}, k_max=25)
    >>> svg.startswith("<svg") and "Experts" in svg and 'class="answer-point"' in svg
    True
    >>> 'class="violin-body"' in violin_svg({"all": [3, 4, 4, 5, 6]}, k_max=25)
    True
    """
    groups = [g for g in ("expert", "non_expert", "all") if g in ks_by_group]
    left, right, top, bottom = 44, 12, 14, 40
    plot_h = height - top - bottom
    column = (width - left - right) / max(len(groups), 1)

    def y_of(k: float) -> float:
        return top + plot_h * (1 - (k - 0.5) / k_max)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" class="chart violin" '
             f'aria-label="Distribution of chosen k per group">']
    for k in range(1, k_max + 1):
        if k == 1 or k % 5 == 0:
            y = y_of(k)
            parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                         'stroke="#e3e6ee"/>')
            parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                         f'font-size="11" fill="#5b6275">{k}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" font-size="12" fill="#1d2230" '
                 f'transform="rotate(-90 12 {top + plot_h / 2:.0f})" text-anchor="middle">'
                 'chosen k</text>')
    grid = np.linspace(0.5, k_max + 0.5, 200)
    for index, group in enumerate(groups):
        values = np.asarray(ks_by_group[group], dtype=np.float64)
        centre = left + column * (index + 0.5)
        colour = GROUP_COLOURS.get(group, "#5b6275")
        label = escape(GROUP_LABELS.get(group, group))
        parts.append(f'<text x="{centre:.1f}" y="{height - 22}" text-anchor="middle" '
                     f'font-size="12" fill="#1d2230">{label}</text>')
        parts.append(f'<text x="{centre:.1f}" y="{height - 8}" text-anchor="middle" '
                     f'font-size="11" fill="#5b6275">n = {values.size}</text>')
        if values.size == 0:
            continue
        if values.size < MIN_VIOLIN_N:
            # a density of one to four answers would be invented shape: show the answers
            parts.extend(_points(values, centre, y_of, colour, label))
            continue
        density = _kde(values, grid, bandwidth=0.8)
        half = density / density.max() * (column * 0.42)
        right_side = [f"{centre + w:.1f},{y_of(k):.1f}" for k, w in zip(grid, half)]
        left_side = [f"{centre - w:.1f},{y_of(k):.1f}" for k, w in zip(grid[::-1], half[::-1])]
        parts.append(f'<polygon class="violin-body" points="{" ".join(right_side + left_side)}" '
                     f'fill="{colour}" fill-opacity="0.55" stroke="{colour}"/>')
        median = float(np.median(values))
        parts.append(f'<line x1="{centre - 10:.1f}" x2="{centre + 10:.1f}" '
                     f'y1="{y_of(median):.1f}" y2="{y_of(median):.1f}" stroke="#fff" '
                     'stroke-width="3"/>')
        mean = float(values.mean())
        y = y_of(mean)
        parts.append(f'<polygon points="{centre:.1f},{y - 5:.1f} {centre + 5:.1f},{y:.1f} '
                     f'{centre:.1f},{y + 5:.1f} {centre - 5:.1f},{y:.1f}" fill="#11182a">'
                     f'<title>{label}: mean {mean:.2f}, median {median:g}</title></polygon>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(ks_by_group: Mapping[str, Sequence[int]], *, k_max: int,
                  width: int = 620, height: int = 240) -> str:
    """Side-by-side bars of how often each k was chosen, per group (fractions of the group).

    Examples
    --------
    >>> "<rect" in histogram_svg({"expert": [2, 2, 3], "non_expert": [9]}, k_max=10)
    True
    """
    groups = [g for g in ("expert", "non_expert") if g in ks_by_group]
    left, right, top, bottom = 40, 10, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / k_max
    bar = slot * 0.8 / max(len(groups), 1)
    fractions = {}
    for group in groups:
        values = np.asarray(ks_by_group[group], dtype=int)
        counts = np.bincount(values, minlength=k_max + 1)[1:k_max + 1] if values.size else \
            np.zeros(k_max)
        fractions[group] = counts / max(values.size, 1)
    top_fraction = max([float(f.max()) for f in fractions.values()] + [0.05])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" class="chart histogram" '
             'aria-label="Histogram of chosen k">']
    for tick in (0.0, top_fraction / 2, top_fraction):
        y = top + plot_h * (1 - tick / top_fraction)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e3e6ee"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
                     f'fill="#5b6275">{tick:.0%}</text>')
    for index, group in enumerate(groups):
        colour = GROUP_COLOURS[group]
        for k in range(1, k_max + 1):
            fraction = float(fractions[group][k - 1])
            if fraction <= 0:
                continue
            x = left + slot * (k - 1) + slot * 0.1 + bar * index
            h = plot_h * fraction / top_fraction
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>'
                         f'{escape(GROUP_LABELS[group])}, k = {k}: {fraction:.0%}</title></rect>')
        parts.append(f'<rect x="{left + 150 * index}" y="6" width="10" height="10" '
                     f'fill="{colour}"/><text x="{left + 150 * index + 14}" y="15" '
                     f'font-size="11">{escape(GROUP_LABELS[group])}</text>')
    for k in range(1, k_max + 1):
        if k == 1 or k % 5 == 0:
            x = left + slot * (k - 0.5)
            parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" '
                         f'font-size="10" fill="#5b6275">{k}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(times: Sequence[datetime], *, width: int = 720, height: int = 200,
                 now: datetime | None = None) -> str:
    """Cumulative number of answers against time, one step per answer.

    The time axis spans the first answer to the last (or ``now``), so a day's answers
    spread over its hours instead of collapsing into one flat point per day; the tick
    labels are times of day within a day, dates across days.

    Parameters
    ----------
    times : sequence of datetime
        When each answer was given (any order).
    now : datetime, optional
        End of the axis (default: the last answer).

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> day = datetime(2026, 1, 1, 9, 0)
    >>> svg = timeline_svg([day + timedelta(minutes=m) for m in (0, 30, 45, 200)])
    >>> svg.count("<circle") == 4 and "09:00" in svg and "12:20" in svg
    True
    >>> "polyline" in timeline_svg([])
    False
    """
    left, right, top, bottom = 44, 16, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    ordered = sorted(times)
    peak = max(len(ordered), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" class="chart timeline" '
             f'aria-label="Answers over time: {len(ordered)} in all">']
    for tick in sorted({0, peak // 2, peak}):
        y = top + plot_h * (1 - tick / peak)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e3e6ee"/><text x="' + str(left - 4) + f'" y="{y + 4:.1f}" '
                     f'text-anchor="end" font-size="10" fill="#5b6275">{tick}</text>')
    if not ordered:
        parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" '
                     'text-anchor="middle" font-size="12" fill="#5b6275">No answers yet</text>')
        parts.append("</svg>")
        return "".join(parts)
    start, end = ordered[0], max(now or ordered[-1], ordered[-1])
    # at least ten minutes of axis, so that answers seconds apart stay apart
    span = max((end - start).total_seconds(), 600.0)

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - start).total_seconds() / span

    def y_of(count: int) -> float:
        return top + plot_h * (1 - count / peak)

    points = [f"{x_of(start):.1f},{y_of(0):.1f}"]
    for count, moment in enumerate(ordered, start=1):
        x = x_of(moment)
        points += [f"{x:.1f},{y_of(count - 1):.1f}", f"{x:.1f},{y_of(count):.1f}"]
    points.append(f"{left + plot_w:.1f},{y_of(len(ordered)):.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#2459c7" '
                 'stroke-width="2"/>')
    for count, moment in enumerate(ordered, start=1):
        parts.append(f'<circle cx="{x_of(moment):.1f}" cy="{y_of(count):.1f}" r="2.5" '
                     f'fill="#2459c7"><title>{escape(moment.strftime("%Y-%m-%d %H:%M"))}: '
                     f'{count} answers</title></circle>')
    same_day = span <= 36 * 3600
    label = "%H:%M" if same_day else "%Y-%m-%d"
    for fraction in (0.0, 0.5, 1.0):
        moment = start + (end - start) * fraction if end > start else start
        if fraction and end == start:
            moment = start + timedelta(seconds=span * fraction)
        x = left + plot_w * fraction
        parts.append(f'<text x="{x:.1f}" y="{height - 16}" text-anchor="middle" font-size="10" '
                     f'fill="#5b6275">{escape(moment.strftime(label))}</text>')
    if same_day:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 3}" text-anchor="middle" '
                     f'font-size="10" fill="#5b6275">{escape(start.strftime("%Y-%m-%d"))} (UTC)'
                     '</text>')
    parts.append("</svg>")
    return "".join(parts)
