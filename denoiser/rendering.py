"""Pictures for people: greyscale and diverging-colour PNGs, eigenpatch galleries, scree SVG.

Pure numpy + Pillow (no Django), so the same pictures can be made in a notebook. None of
these functions changes its input arrays.
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: A diverging map (blue - white - red), the anchors of ColorBrewer's RdBu reversed.
_DIVERGING_ANCHORS = np.array(
    [
        [5, 48, 97],
        [33, 102, 172],
        [67, 147, 195],
        [146, 197, 222],
        [209, 229, 240],
        [247, 247, 247],
        [253, 219, 199],
        [244, 165, 130],
        [214, 96, 77],
        [178, 24, 43],
        [103, 0, 31],
    ],
    dtype=np.float64,
)


#: Percentiles of larger images are taken on a regular subsample of this many pixels.
_RANGE_SAMPLE = 1 << 20


def display_range(
    image: np.ndarray, *, low_percentile: float = 0.1, high_percentile: float = 99.9
) -> tuple[float, float]:
    """Robust grey-level range of an image: percentiles of its finite values.

    Images of more than about a million pixels are subsampled on a regular grid,
    which leaves the percentiles of a micrograph practically unchanged.

    Examples
    --------
    >>> display_range(np.arange(1001.0), low_percentile=0, high_percentile=100)
    (0.0, 1000.0)
    """
    flat = np.asarray(image).ravel()
    if flat.size > _RANGE_SAMPLE:
        flat = flat[:: -(-flat.size // _RANGE_SAMPLE)]
    finite = flat[np.isfinite(flat)].astype(np.float64)
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    if not high > low:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        high = low + 1.0
    return (float(low), float(high))


def to_grey_uint8(image: np.ndarray, *, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map an image linearly onto 0..255 (clipping outside ``value_range``); NaN -> 0.

    Examples
    --------
    >>> to_grey_uint8(np.array([[0.0, 0.5, 1.0]]), value_range=(0.0, 1.0)).tolist()
    [[0, 128, 255]]
    """
    low, high = value_range if value_range is not None else display_range(image)
    scaled = np.asarray(image, dtype=np.float32) - np.float32(low)
    scaled *= np.float32(255.0 / (high - low))
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def _diverging_lut() -> np.ndarray:
    """256 colours interpolated between the anchors; entry 128 is the neutral white."""
    positions = np.linspace(0.0, 1.0, len(_DIVERGING_ANCHORS))
    samples = np.clip((np.arange(256) - 128) / 127.0, -1.0, 1.0) * 0.5 + 0.5
    return np.stack(
        [np.interp(samples, positions, _DIVERGING_ANCHORS[:, c]) for c in range(3)], axis=1
    ).round().astype(np.uint8)


_DIVERGING_LUT = _diverging_lut()


def diverging_rgb(values: np.ndarray, *, limit: float | None = None) -> np.ndarray:
    """Colour a signed image blue (negative) - white (0) - red (positive).

    ``limit`` is the magnitude drawn at full saturation; by default the 99.5th percentile
    of ``|values|``, so zero is always white and the map is symmetric.

    Examples
    --------
    >>> rgb = diverging_rgb(np.array([[-1.0, 0.0, 1.0]]), limit=1.0)
    >>> rgb.shape, rgb[0, 1].tolist()
    ((1, 3, 3), [247, 247, 247])
    """
    values = np.asarray(values)
    if limit is None:
        flat = values.ravel()
        if flat.size > _RANGE_SAMPLE:
            flat = flat[:: -(-flat.size // _RANGE_SAMPLE)]
        magnitude = np.abs(flat[np.isfinite(flat)]).astype(np.float64)
        limit = float(np.percentile(magnitude, 99.5)) if magnitude.size else 1.0
    if not limit > 0:
        limit = 1.0
    index = values.astype(np.float32) * np.float32(127.0 / limit)
    np.nan_to_num(index, copy=False, nan=0.0, posinf=127.0, neginf=-127.0)
    np.clip(index, -127.0, 127.0, out=index)
    index += np.float32(128.0)
    return _DIVERGING_LUT[np.rint(index, out=index).astype(np.uint8)]


def downsample_for_display(image: np.ndarray, *, max_side: int) -> np.ndarray:
    """Block-average an image so that its longer side is at most ``max_side`` pixels.

    Examples
    --------
    >>> downsample_for_display(np.ones((100, 50)), max_side=20).shape
    (20, 10)
    """
    image = np.asarray(image)
    longest = max(image.shape[:2])
    if longest <= max_side:
        return image
    scale = max_side / longest
    height = max(1, round(image.shape[0] * scale))
    width = max(1, round(image.shape[1] * scale))
    if image.ndim == 2:
        resized = Image.fromarray(image.astype(np.float32), mode="F").resize(
            (width, height), Image.Resampling.BOX
        )
        return np.asarray(resized)
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BOX))


def scale_bar_length(width_angstrom: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k Å) near a fifth of the field of view.

    Examples
    --------
    >>> scale_bar_length(62.5), scale_bar_length(1000.0)
    (10.0, 200.0)
    """
    target = width_angstrom / 5.0
    exponent = np.floor(np.log10(target))
    for step in (5.0, 2.0, 1.0):
        if step * 10.0**exponent <= target:
            return float(step * 10.0**exponent)
    return float(10.0**exponent)


def _length_label(angstrom: float) -> str:
    if angstrom >= 10:
        return f"{angstrom / 10:g} nm"
    return f"{angstrom:g} Å"


def with_scale_bar(grey: np.ndarray, pixel_size_col: float) -> np.ndarray:
    """Return a copy of an 8-bit image with a labelled scale bar in the lower left.

    Examples
    --------
    >>> marked = with_scale_bar(np.zeros((200, 300), np.uint8), 0.2)
    >>> int(marked.max()), marked.shape
    (255, (200, 300))
    """
    height, width = grey.shape
    length = scale_bar_length(width * pixel_size_col)
    bar_px = max(2, round(length / pixel_size_col))
    thickness = max(2, height // 80)
    margin = max(4, width // 40)
    font_size = max(10, height // 25)
    try:
        font = ImageFont.load_default(size=font_size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        font = ImageFont.load_default()
    picture = Image.fromarray(np.ascontiguousarray(grey)).convert("L")
    draw = ImageDraw.Draw(picture)
    label = _length_label(length)
    text_box = draw.textbbox((0, 0), label, font=font)
    text_height = text_box[3] - text_box[1]
    bottom = height - margin
    top = bottom - thickness
    left = margin
    draw.rectangle([left - 1, top - 1, left + bar_px, bottom], fill=0)
    draw.rectangle([left, top, left + bar_px - 1, bottom - 1], fill=255)
    draw.text(
        (left, top - text_height - 2 * thickness), label, fill=255, font=font,
        stroke_width=max(1, font_size // 12), stroke_fill=0,
    )
    return np.asarray(picture)


def save_png(pixels: np.ndarray, path) -> None:
    """Write an 8-bit grey (2-D) or RGB (3-D) array as PNG."""
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="PNG", optimize=False)


def eigenpatch_gallery(
    eigenpatches: np.ndarray,
    kept: np.ndarray,
    *,
    tile: int = 48,
    columns: int = 10,
    frame: int = 3,
    gap: int = 4,
) -> np.ndarray:
    """Lay eigenpatches out as an RGB grid, framed green (kept) or grey (dropped).

    Each eigenpatch is scaled on its own symmetric range (they are unit vectors with
    either sign), nearest-neighbour enlarged to ``tile`` pixels.

    Examples
    --------
    >>> gallery = eigenpatch_gallery(np.random.default_rng(0).normal(size=(12, 5, 5)),
    ...                              np.arange(12) < 3, tile=10, columns=4)
    >>> gallery.shape
    (64, 84, 3)
    """
    eigenpatches = np.asarray(eigenpatches, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    count = eigenpatches.shape[0]
    columns = max(1, min(columns, count))
    rows = max(1, -(-count // columns))
    cell = tile + 2 * frame
    height = rows * cell + (rows + 1) * gap
    width = columns * cell + (columns + 1) * gap
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        top = gap + row * (cell + gap)
        left = gap + column * (cell + gap)
        colour = (27, 127, 59) if kept[index] else (170, 174, 184)
        canvas[top : top + cell, left : left + cell] = colour
        patch = eigenpatches[index]
        limit = float(np.max(np.abs(patch))) or 1.0
        grey = to_grey_uint8(patch, value_range=(-limit, limit))
        enlarged = np.asarray(
            Image.fromarray(grey).resize((tile, tile), Image.Resampling.NEAREST)
        )
        canvas[top + frame : top + frame + tile, left + frame : left + frame + tile] = enlarged[
            ..., None
        ]
    return canvas


def scree_svg(
    stacks: Sequence[dict],
    *,
    width: int = 640,
    height: int = 320,
    max_components: int = 256,
    series_label: str = "stack",
    value_label: str = "eigenvalue",
) -> str:
    """An SVG scree plot: eigenvalue (log scale) against component index, per stack.

    Each stack in ``stacks`` is a dict with ``eigenvalues`` (descending) and ``kept``
    (booleans). Kept components are filled circles, dropped ones hollow; each stack has
    its own colour. A stack's optional ``label`` names it in the tooltips (default
    ``"<series_label> <number>"``); ``value_label`` is the y axis title.

    Examples
    --------
    >>> svg = scree_svg([{"eigenvalues": [9.0, 3.0, 1.0], "kept": [True, False, False]}])
    >>> svg.startswith("<svg") and svg.count("<circle") == 3
    True
    """
    palette = ["#2459c7", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad", "#5c940d"]
    margin_left, margin_right, margin_top, margin_bottom = 64, 16, 16, 44
    plot_w = width - margin_left - margin_right
    plot_h = height - margin_top - margin_bottom
    series = []
    for stack in stacks:
        values = np.asarray(stack.get("eigenvalues", []), dtype=np.float64)[:max_components]
        kept = np.asarray(stack.get("kept", []), dtype=bool)[: values.size]
        if kept.size < values.size:
            kept = np.concatenate([kept, np.zeros(values.size - kept.size, dtype=bool)])
        series.append((values, kept))
    positive = np.concatenate([v[v > 0] for v, _ in series]) if series else np.array([])
    if positive.size == 0:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            'role="img" aria-label="scree plot"><text x="10" y="20">No eigenvalues</text></svg>'
        )
    log_low = np.floor(np.log10(positive.min()))
    log_high = np.ceil(np.log10(positive.max()))
    if log_high <= log_low:
        log_high = log_low + 1
    n_max = max(v.size for v, _ in series)
    radius = 3.5 if n_max <= 60 else 2.0

    def x_of(index: int) -> float:
        return margin_left + (index / max(1, n_max - 1)) * plot_w

    def y_of(value: float) -> float:
        log_value = np.log10(max(value, 10.0**log_low))
        return margin_top + (1 - (log_value - log_low) / (log_high - log_low)) * plot_h

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" class="scree-plot" '
            'aria-label="Scree plot: eigenvalues per component, kept ones filled">'
        ),
        (
            f'<rect x="{margin_left}" y="{margin_top}" width="{plot_w}" height="{plot_h}" '
            'fill="#fff" stroke="#d9dde6"/>'
        ),
    ]
    for exponent in range(int(log_low), int(log_high) + 1):
        y = y_of(10.0**exponent)
        parts.append(
            f'<line x1="{margin_left}" x2="{margin_left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#eef0f4"/>'
            f'<text x="{margin_left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5b6275">1e{exponent}</text>'
        )
    step = max(1, n_max // 10)
    for index in range(0, n_max, step):
        parts.append(
            f'<text x="{x_of(index):.1f}" y="{margin_top + plot_h + 16}" text-anchor="middle" '
            f'font-size="11" fill="#5b6275">{index + 1}</text>'
        )
    parts.append(
        f'<text x="{margin_left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        'font-size="12" fill="#1d2230">component</text>'
        f'<text transform="translate(14 {margin_top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-size="12" fill="#1d2230">{escape(value_label)}</text>'
    )
    for stack_index, (values, kept) in enumerate(series):
        colour = palette[stack_index % len(palette)]
        name = str(stacks[stack_index].get("label") or f"{series_label} {stack_index + 1}")
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.2" '
            'opacity="0.7"/>'
        )
        for index, (value, is_kept) in enumerate(zip(values, kept)):
            fill = colour if is_kept else "#fff"
            label = escape(
                f"{name}, component {index + 1}: {value:.4g}"
                f" ({'kept' if is_kept else 'dropped'})"
            )
            parts.append(
                f'<circle cx="{x_of(index):.1f}" cy="{y_of(value):.1f}" r="{radius}" fill="{fill}" '
                f'stroke="{colour}" stroke-width="1.5" data-kept="{str(bool(is_kept)).lower()}">'
                f"<title>{label}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)
