"""The measured speed and quality the site quotes, from one file the benchmarks document.

``docs/benchmarks/figures.json`` when the benchmark run generates it with the same
layout, else ``docs/benchmarks/headline.json`` (copied from ``docs/benchmarks.md``):
``methods.best`` / ``methods.paper`` / ``methods.bm3d`` with ``name``,
``psnr_db[dose]`` and ``seconds[side]``. Read once per file change.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

#: Looked for in this order, relative to the project root.
CANDIDATES = ("docs/benchmarks/figures.json", "docs/benchmarks/headline.json")


def _root() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path(__file__).resolve().parent.parent))


def figures() -> dict:
    """The figures, or ``{}`` when no file is readable (the page then shows no numbers)."""
    for name in CANDIDATES:
        path = _root() / name
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            continue
        data = _load(str(path), stamp)
        if isinstance(data.get("methods"), dict) and {"best", "paper"} <= set(data["methods"]):
            return data
    return {}


@lru_cache(maxsize=4)
def _load(path: str, stamp: int) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("Unreadable benchmark figures %s: %r", path, error)
        return {}
