"""Eigenpatch classifiers: who decides which eigenpatches are kept (Algorithm 1, step 5).

A classifier only *selects*: it receives copies of the eigenpatches and eigenvalues
and returns a boolean mask. It never produces pixels, so whatever it returns, the
output stays in the span of the data's own eigenpatches (see ``validate_selection``).

Objective baselines usable in place of the paper's CNN:

* :class:`FixedRank` keeps the first ``k`` components (``k="all"`` keeps a full basis);
* :class:`MarchenkoPastur` (MP-PCA, Veraart et al., NeuroImage 142, 394 (2016));
* :class:`GavishDonoho` optimal hard threshold for unknown noise,
  ``omega(beta) * median singular value`` (Gavish & Donoho, IEEE TIT 60, 5040 (2014)).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .errors import ModelLoadError, ReucidError

__all__ = [
    "ClassifierOutputError",
    "EigenpatchClassifier",
    "FixedRank",
    "GavishDonoho",
    "MarchenkoPastur",
    "SelectionContext",
    "classifier_name",
    "required_components",
    "resolve_classifier",
    "validate_selection",
]


class ClassifierOutputError(ReucidError, ValueError):
    """A classifier returned something that is not a boolean mask of the right length."""


class SelectionContext:
    """What objective rank rules need to know about one stack.

    Parameters
    ----------
    patch_size : int
        Patch side ``p``; the patch dimension is ``p**2``.
    n_patches : int
        Number of patches (rows) whose spectrum is given: the SVD sample size.
    n_stack_patches : int
        Number of patches in the whole stack.
    stack_index, n_stacks : int
        Which stack of how many.
    spectrum : array_like or callable, optional
        All ``min(n_patches, p**2)`` eigenvalues of the sample, descending, in the
        same scale as the eigenvalues handed to ``select``; or a callable computing
        them on first use (objective rules need them, the CNN does not).

    Examples
    --------
    >>> context = SelectionContext(patch_size=3, n_patches=100, spectrum=[4.0, 2.0, 1.0])
    >>> context.patch_dim, context.spectrum.tolist()
    (9, [4.0, 2.0, 1.0])
    """

    def __init__(
        self,
        *,
        patch_size: int,
        n_patches: int,
        n_stack_patches: int | None = None,
        stack_index: int = 0,
        n_stacks: int = 1,
        spectrum: Any = None,
    ) -> None:
        self.patch_size = int(patch_size)
        self.n_patches = int(n_patches)
        self.n_stack_patches = int(n_stack_patches if n_stack_patches is not None else n_patches)
        self.stack_index = int(stack_index)
        self.n_stacks = int(n_stacks)
        self._spectrum_source = spectrum
        self._spectrum: NDArray[np.float64] | None = None

    @property
    def patch_dim(self) -> int:
        """Patch dimension ``p**2``."""
        return self.patch_size**2

    @property
    def spectrum(self) -> NDArray[np.float64] | None:
        """Full sample spectrum (descending eigenvalues), computed on first access."""
        if self._spectrum is None and self._spectrum_source is not None:
            source = self._spectrum_source
            values = source() if callable(source) else source
            self._spectrum = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1].copy()
            self._spectrum.setflags(write=False)
        return self._spectrum

    def __repr__(self) -> str:
        return (f"SelectionContext(patch_size={self.patch_size}, n_patches={self.n_patches}, "
                f"stack={self.stack_index + 1}/{self.n_stacks})")


@runtime_checkable
class EigenpatchClassifier(Protocol):
    """Anything with ``select(eigenpatches (K,p,p), eigenvalues (K,), context) -> bool (K,)``."""

    def select(
        self,
        eigenpatches: np.ndarray,
        eigenvalues: np.ndarray,
        context: SelectionContext | None = None,
    ) -> np.ndarray:
        """Return a boolean mask of the useful eigenpatches."""
        ...


class FixedRank:
    """Keep the ``k`` leading eigenpatches (``k="all"``: every one, a full basis).

    Examples
    --------
    >>> FixedRank(2).select(np.zeros((4, 3, 3)), np.array([4.0, 3.0, 2.0, 1.0])).tolist()
    [True, True, False, False]
    """

    def __init__(self, k: int | str) -> None:
        if isinstance(k, str):
            if k != "all":
                raise ValueError(f"k must be a positive integer or 'all', got {k!r}")
        elif isinstance(k, bool) or int(k) != k or int(k) < 0:
            raise ValueError(f"k must be a non-negative integer or 'all', got {k!r}")
        self.k: int | str = k if isinstance(k, str) else int(k)

    @property
    def name(self) -> str:
        return f"k={self.k}"

    @property
    def n_components_required(self) -> int | str:
        """Components the decomposition must provide for this rule."""
        return self.k

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        n = len(eigenvalues)
        keep = n if self.k == "all" else min(int(self.k), n)
        mask = np.zeros(n, dtype=bool)
        mask[:keep] = True
        return mask

    def __repr__(self) -> str:
        return f"FixedRank({self.k!r})"


class MarchenkoPastur:
    """MP-PCA: keep the components above the Marchenko–Pastur noise bulk.

    Follows Veraart et al. (2016): for each candidate number of signal components,
    the remaining eigenvalues are taken as noise; their mean estimates the noise
    variance and their spread must fit inside the MP law's width
    ``4 sqrt(gamma) sigma^2`` with ``gamma = (#noise components) / n_patches``.
    Needs ``context.spectrum`` (the full sample spectrum) and ``context.n_patches``;
    without them it uses the eigenvalues it is given.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = np.outer(rng.normal(size=2000), rng.normal(size=49)) * 3
    >>> sample = signal + rng.normal(size=(2000, 49))
    >>> spectrum = np.linalg.svd(sample, compute_uv=False) ** 2
    >>> context = SelectionContext(patch_size=7, n_patches=2000, spectrum=spectrum)
    >>> int(MarchenkoPastur().select(np.zeros((10, 7, 7)), spectrum[:10], context).sum())
    1
    """

    name = "mp"
    #: The rule reads the rank off the whole spectrum, so offer it every component.
    n_components_required = "all"

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        values = np.asarray(eigenvalues, dtype=np.float64)
        spectrum = context.spectrum if context is not None else None
        n_patches = context.n_patches if context is not None else None
        if spectrum is None:
            spectrum = np.sort(values)[::-1]
        if not n_patches:
            n_patches = max(len(spectrum), 1)
        n_signal = marchenko_pastur_rank(spectrum, n_patches)
        mask = np.zeros(len(values), dtype=bool)
        mask[: min(n_signal, len(values))] = True
        return mask

    def __repr__(self) -> str:
        return "MarchenkoPastur()"


def marchenko_pastur_rank(spectrum: np.ndarray, n_patches: int) -> int:
    """Number of signal components in a descending eigenvalue spectrum (MP-PCA).

    Examples
    --------
    >>> marchenko_pastur_rank(np.array([100.0, 1.1, 1.0, 0.9]), 1000)
    1
    """
    ascending = np.sort(np.asarray(spectrum, dtype=np.float64))
    ascending = ascending[-min(len(ascending), max(int(n_patches) - 1, 1)):]
    if len(ascending) == 0:
        return 0
    # c + 1 = number of components treated as noise (Veraart 2016; dipy's mppca form).
    c = len(ascending) - 1
    variance = float(np.mean(ascending))
    excess = ascending[c] - ascending[0] - 4 * math.sqrt((c + 1.0) / n_patches) * variance
    while excess > 0 and c > 0:
        variance = float(np.mean(ascending[:c]))
        c -= 1
        excess = ascending[c] - ascending[0] - 4 * math.sqrt((c + 1.0) / n_patches) * variance
    return len(ascending) - (c + 1)


class GavishDonoho:
    """Optimal hard threshold for unknown noise: ``omega(beta) * median singular value``.

    ``beta = min(p^2, n) / max(p^2, n)`` is the sample matrix's aspect ratio and
    ``omega(beta) ~ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta + 1.43`` (Gavish & Donoho
    2014, eq. 5). Singular values are the square roots of the eigenvalues.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sample = np.outer(rng.normal(size=2000), rng.normal(size=49)) * 3
    >>> sample += rng.normal(size=(2000, 49))
    >>> spectrum = np.linalg.svd(sample, compute_uv=False) ** 2
    >>> context = SelectionContext(patch_size=7, n_patches=2000, spectrum=spectrum)
    >>> int(GavishDonoho().select(np.zeros((10, 7, 7)), spectrum[:10], context).sum())
    1
    """

    name = "gd"
    #: The rule reads the rank off the whole spectrum, so offer it every component.
    n_components_required = "all"

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> np.ndarray:
        values = np.asarray(eigenvalues, dtype=np.float64)
        spectrum = context.spectrum if context is not None else None
        if spectrum is None:
            spectrum = values
        if context is not None:
            rows, cols = context.n_patches, context.patch_dim
        else:
            rows, cols = len(spectrum), len(spectrum)
        beta = min(rows, cols) / max(rows, cols)
        singular = np.sqrt(np.clip(spectrum, 0.0, None))
        threshold = gavish_donoho_omega(beta) * float(np.median(singular))
        return np.sqrt(np.clip(values, 0.0, None)) > threshold

    def __repr__(self) -> str:
        return "GavishDonoho()"


def gavish_donoho_omega(beta: float) -> float:
    """Gavish–Donoho ``omega(beta)`` approximation for unknown noise level.

    Examples
    --------
    >>> round(gavish_donoho_omega(1.0), 2)
    2.86
    """
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def required_components(classifier: Any, default: int) -> int | str:
    """How many components a classifier needs: ``"all"`` or an int (at least ``default``).

    Examples
    --------
    >>> required_components(FixedRank("all"), 25), required_components(FixedRank(40), 25)
    ('all', 40)
    """
    needed = getattr(classifier, "n_components_required", None)
    if needed == "all":
        return "all"
    if isinstance(needed, (int, np.integer)) and not isinstance(needed, bool):
        return max(int(default), int(needed))
    return int(default)


def classifier_name(classifier: Any) -> str:
    """A short human-readable name for diagnostics.

    Examples
    --------
    >>> classifier_name(FixedRank(3)), classifier_name(MarchenkoPastur())
    ('k=3', 'mp')
    """
    name = getattr(classifier, "name", None)
    if isinstance(name, str) and name:
        return name
    metadata = getattr(classifier, "metadata", None)
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        return f"cnn:{metadata['name']}"
    return type(classifier).__name__


_K_SPEC = re.compile(r"^k\s*=\s*(all|\d+)$", re.IGNORECASE)


def resolve_classifier(spec: Any) -> EigenpatchClassifier:
    """Turn a classifier specification into an object with ``select``.

    Parameters
    ----------
    spec : EigenpatchClassifier, str, pathlib.Path or None
        A loaded classifier; ``"mp"``, ``"gd"``, ``"k=N"``, ``"k=all"``; a path to a
        model file; ``"cnn"`` or None for the shipped model.

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
        if lowered in ("mp", "mppca", "marchenko-pastur"):
            return MarchenkoPastur()
        if lowered in ("gd", "gavish-donoho"):
            return GavishDonoho()
        match = _K_SPEC.match(text)
        if match:
            value = match.group(1).lower()
            return FixedRank("all" if value == "all" else int(value))
        if lowered.startswith("k="):
            raise ValueError(f"classifier {spec!r}: k must be a non-negative integer or 'all'")
        if "/" in text or "\\" in text or text.endswith((".pt", ".pth")) or Path(text).exists():
            return _load_model(Path(text))
        raise ValueError(
            f"unknown classifier {spec!r}; use 'cnn', 'mp', 'gd', 'k=N', 'k=all', a model file "
            "path, or a loaded classifier"
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
    try:
        from . import cnn
    except ImportError as exc:  # the CNN module ships with the training code
        raise ModelLoadError(
            f"the CNN classifier is not available ({exc}); use classifier='mp', 'gd' or 'k=N'"
        ) from exc
    if path is None:
        path = Path(cnn.SHIPPED_MODEL_PATH)
        if not path.is_file():
            raise ModelLoadError(
                f"the shipped classifier model {path} does not exist yet (train it with "
                "`python manage.py train_classifier --ship`); meanwhile use "
                "classifier='mp', 'gd', 'k=N' or a model file path"
            )
    return _load_model_file(cnn, Path(path))


# Loaded models keyed by file identity: a page or worker denoising many images reads
# the model once, and a replaced file (new inode, mtime or size) is read again.
_MODEL_CACHE: dict[tuple[str, int, int, int], EigenpatchClassifier] = {}
_MODEL_CACHE_SIZE = 4


def _load_model_file(cnn: Any, path: Path) -> EigenpatchClassifier:
    try:
        status = path.stat()
    except OSError:
        return cnn.load_classifier(path)  # raises the CNN module's clear ModelLoadError
    key = (str(path.resolve()), status.st_ino, status.st_mtime_ns, status.st_size)
    model = _MODEL_CACHE.get(key)
    if model is None:
        model = cnn.load_classifier(path)
        if len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        _MODEL_CACHE[key] = model
    return model


def validate_selection(selection: Any, n_components: int) -> NDArray[np.bool_]:
    """Check a classifier's answer: a boolean (or exact 0/1) vector of length ``K``.

    Returns a fresh boolean array; anything else raises :class:`ClassifierOutputError`,
    so a misbehaving classifier can stop a run but can never inject values.

    Examples
    --------
    >>> validate_selection([1, 0, 1], 3).tolist()
    [True, False, True]
    """
    try:
        array = np.array(selection)
    except Exception as exc:
        raise ClassifierOutputError(f"classifier returned an unusable value: {exc}") from exc
    if array.shape != (n_components,):
        raise ClassifierOutputError(
            f"classifier returned shape {array.shape}; expected one flag per eigenpatch "
            f"({n_components},)"
        )
    if array.dtype == np.bool_:
        return array.astype(bool, copy=True)
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if numeric and np.all(np.isin(array, (0, 1))):
        return array.astype(bool)
    raise ClassifierOutputError(
        f"classifier returned {array.dtype} values other than 0/1; a classifier may only "
        "select eigenpatches (True/False)"
    )
