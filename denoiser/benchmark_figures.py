"""The measured speed and quality the site quotes, from the one file the benchmarks write.

``docs/benchmarks/figures.json``, written only by the benchmark runs
(``benchmarks.report.write_figures``: the speed run and the full quality run):
``methods.best`` / ``methods.paper`` / ``methods.bm3d`` with ``name``,
``psnr_db[dose]``, ``seconds[side]`` and ``peak_memory_mb_1024``. Read once per file
change. Every number the site, its help texts and its messages give about speed or
quality comes from here (``tests/denoiser/test_figures_source.py`` checks it), so they
cannot disagree with the benchmarks or with each other.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

#: The generated figures, relative to the project root.
FIGURES_FILE = "docs/benchmarks/figures.json"


def _root() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path(__file__).resolve().parent.parent))


def figures() -> dict:
    """The figures, or ``{}`` when the file is unreadable (the pages then show no numbers)."""
    path = _root() / FIGURES_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    data = _load(str(path), stamp)
    if isinstance(data.get("methods"), dict) and {"best", "paper"} <= set(data["methods"]):
        return data
    return {}


def figure(method: str, kind: str, key: str) -> float | None:
    """One number: ``figure("best", "seconds", "1024")``; ``None`` when not measured."""
    value = figures().get("methods", {}).get(method, {}).get(kind, {})
    value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def seconds_per_megapixel(method: str) -> float | None:
    """Measured seconds per million pixels of a method (its 1024 x 1024 time)."""
    seconds = figure(method, "seconds", "1024")
    return None if seconds is None else seconds / (1024 * 1024 / 1e6)


def memory_mb_per_megapixel(method: str) -> float | None:
    """Measured peak memory (MB) per million pixels of a method (its 1024 x 1024 peak)."""
    peak = figures().get("methods", {}).get(method, {}).get("peak_memory_mb_1024")
    return None if not isinstance(peak, (int, float)) else peak / (1024 * 1024 / 1e6)


def speedup(fast: str = "paper", slow: str = "best", *, side: str = "256") -> float | None:
    """How many times faster ``fast`` runs than ``slow`` on a ``side``² image, as measured."""
    a, b = figure(fast, "seconds", side), figure(slow, "seconds", side)
    return None if not a or not b else b / a


def rounded(value: float) -> str:
    """Two significant figures, as the site quotes measurements: ``35``, ``1.5``, ``0.042``.

    Examples
    --------
    >>> rounded(35.15), rounded(1.482), rounded(0.04213), rounded(427.0)
    ('35', '1.5', '0.042', '430')
    """
    return f"{float(f'{value:.2g}'):g}"


@lru_cache(maxsize=4)
def _load(path: str, stamp: int) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("Unreadable benchmark figures %s: %r", path, error)
        return {}
