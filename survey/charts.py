"""Small server-rendered SVG charts for the staff pages (pure Python + numpy, no Django).

The output is a self-contained ``<svg>`` string (no scripts, no external resources) that
templates insert with ``|safe``; every text label is escaped here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np

GROUP_COLOURS = {"expert": "#2459c7", "non_expert": "#d9822b", "all": "#5b6275"}
GROUP_LABELS = {"expert": "Experts", "non_expert": "Non-experts", "all": "All"}


def _kde(values: np.ndarray, grid: np.ndarray, *, bandwidth: float) -> np.ndarray:
    diffs = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * diffs**2).sum(axis=1)


def violin_svg(ks_by_group: Mapping[str, Sequence[int]], *, k_max: int,
               width: int = 520, height: int = 360) -> str:
    """Violins of the chosen k per group (k on the vertical axis, like the paper's Fig. 4).

    Each violin is a Gaussian kernel density (bandwidth 0.8 k); the white line is the
    median, the black diamond the mean.

    Examples
    --------
    >>> svg = violin_svg({"expert": [3, 4, 5], "non_expert": [], "all": [3, 4, 5]}, k_max=25)
    >>> svg.startswith("<svg") and "Experts" in svg
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
        density = _kde(values, grid, bandwidth=0.8)
        half = density / density.max() * (column * 0.42)
        right_side = [f"{centre + w:.1f},{y_of(k):.1f}" for k, w in zip(grid, half)]
        left_side = [f"{centre - w:.1f},{y_of(k):.1f}" for k, w in zip(grid[::-1], half[::-1])]
        parts.append(f'<polygon points="{" ".join(right_side + left_side)}" fill="{colour}" '
                     'fill-opacity="0.55" stroke="' + colour + '"/>')
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


def timeline_svg(counts: Sequence[tuple[str, int]], *, width: int = 720,
                 height: int = 200) -> str:
    """Cumulative number of answers over time from ``(label, count)`` per period.

    Examples
    --------
    >>> "polyline" in timeline_svg([("2026-01-01", 3), ("2026-01-02", 5)])
    True
    """
    left, right, top, bottom = 44, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = np.cumsum([count for _, count in counts]) if counts else np.zeros(0)
    peak = max(int(totals[-1]) if totals.size else 0, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" class="chart timeline" '
             'aria-label="Answers over time">']
    for tick in (0, peak // 2, peak):
        y = top + plot_h * (1 - tick / peak)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e3e6ee"/><text x="' + str(left - 4) + f'" y="{y + 4:.1f}" '
                     f'text-anchor="end" font-size="10" fill="#5b6275">{tick}</text>')
    if totals.size:
        step = plot_w / max(totals.size - 1, 1)
        points = [f"{left + step * i:.1f},{top + plot_h * (1 - t / peak):.1f}"
                  for i, t in enumerate(totals)]
        if totals.size == 1:
            points.append(f"{left + plot_w:.1f},{top + plot_h * (1 - totals[0] / peak):.1f}")
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#2459c7" '
                     'stroke-width="2"/>')
        for i in sorted({0, totals.size - 1}):
            x = left + step * i if totals.size > 1 else left + plot_w * i
            parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" '
                         f'font-size="10" fill="#5b6275">{escape(counts[i][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)
