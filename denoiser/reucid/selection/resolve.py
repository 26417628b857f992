"""From a user's specification (``"mp"``, ``"k=8"``, a model file...) to a selection rule."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from . import cnn, group_cnn
from .base import EigenpatchClassifier
from .rules import FixedRank, GavishDonoho, MarchenkoPastur, NoiseEdge

__all__ = ["RULE_NAMES", "resolve_classifier"]

#: The rule names :func:`resolve_classifier` accepts besides model files.
RULE_NAMES = ("cnn", "group", "mp", "gd", "noise-edge", "k=N", "k=all")


_K_SPEC = re.compile(r"^k\s*=\s*(all|\d+)$", re.IGNORECASE)


def resolve_classifier(spec: Any) -> EigenpatchClassifier:
    """Turn a classifier specification into an object with ``select``.

    Parameters
    ----------
    spec : EigenpatchClassifier, str, pathlib.Path or None
        A loaded classifier; ``"mp"``, ``"gd"``, ``"noise-edge"``, ``"k=N"``,
        ``"k=all"``; a path to a model file (the paper's CNN or a group classifier,
        told apart by the file's kind); ``"cnn"`` or None for the shipped paper CNN;
        ``"group"`` for the shipped group classifier of the default method.

    Returns
    -------
    EigenpatchClassifier

    Raises
    ------
    ModelLoadError
        If a model file is missing, corrupt or of the wrong shape, or the shipped
        model does not exist yet.

    Examples
    --------
    >>> resolve_classifier("k=5")
    FixedRank(5)
    >>> resolve_classifier("MP")
    MarchenkoPastur()
    """
    if spec is None:
        return _load_model(None)
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() in ("cnn", "shipped"):
            return _load_model(None)
        lowered = text.lower()
        if lowered in ("group", "group-cnn"):
            return _load_group_model()
        if lowered in ("mp", "mppca", "marchenko-pastur"):
            return MarchenkoPastur()
        if lowered in ("gd", "gavish-donoho"):
            return GavishDonoho()
        if lowered in ("noise-edge", "edge"):
            return NoiseEdge()
        match = _K_SPEC.match(text)
        if match:
            value = match.group(1).lower()
            return FixedRank("all" if value == "all" else int(value))
        if lowered.startswith("k="):
            raise ValueError(f"classifier {spec!r}: k must be a non-negative integer or 'all'")
        if "/" in text or "\\" in text or text.endswith((".pt", ".pth")) or Path(text).exists():
            return _load_model(Path(text))
        raise ValueError(
            f"unknown classifier {spec!r}; use 'cnn', 'group', 'mp', 'gd', 'noise-edge', 'k=N', "
            "'k=all', a model file path, or a loaded classifier"
        )
    if isinstance(spec, Path):
        return _load_model(spec)
    select: Callable[..., Any] | None = getattr(spec, "select", None)
    if callable(select):
        return spec
    raise TypeError(
        f"classifier must be a model with a select() method, a path or a rule name, got "
        f"{type(spec).__name__}"
    )


def _load_model(path: Path | None) -> EigenpatchClassifier:
    if path is None:
        path = Path(cnn.SHIPPED_MODEL_PATH)
        if not path.is_file():
            raise ModelLoadError(
                f"the shipped classifier model {path} does not exist yet (train it with "
                "`python manage.py train_classifier --ship`); meanwhile use "
                "classifier='mp', 'gd', 'k=N' or a model file path"
            )
    return _load_model_file(Path(path))


def _load_group_model() -> EigenpatchClassifier:
    path = Path(group_cnn.GROUP_SHIPPED_MODEL_PATH)
    if not path.is_file():
        raise ModelLoadError(
            f"the shipped group classifier {path} does not exist yet (train it with "
            "`python manage.py train_classifier --kind group --ship`); meanwhile use "
            "classifier='noise-edge'")
    return _load_model_file(path)


# Loaded models keyed by file identity: a page or worker denoising many images reads
# the model once, and a replaced file (new inode, mtime or size) is read again.
_MODEL_CACHE: dict[tuple[str, int, int, int], EigenpatchClassifier] = {}
_MODEL_CACHE_SIZE = 4


def _load_model_file(path: Path) -> EigenpatchClassifier:
    try:
        status = path.stat()
    except OSError:
        return cnn.load_classifier(path)  # raises the CNN module's clear ModelLoadError
    key = (str(path.resolve()), status.st_ino, status.st_mtime_ns, status.st_size)
    model = _MODEL_CACHE.get(key)
    if model is None:
        # one file format family, two kinds: the file says which network it holds
        if group_cnn.model_kind(path) == group_cnn.GROUP_KIND:
            model = group_cnn.load_group_classifier(path)
        else:
            model = cnn.load_classifier(path)
        if len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        _MODEL_CACHE[key] = model
    return model
