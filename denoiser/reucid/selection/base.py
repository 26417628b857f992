"""What a selection rule is: the protocol, its context, and the check of its answer.

A classifier only *selects*: it receives copies of the eigenpatches and eigenvalues
and returns a boolean mask. It never produces pixels, so whatever it returns, the
output stays in the span of the data's own eigenpatches (:func:`validate_selection`).
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ..errors import ReucidError

__all__ = [
    "ClassifierOutputError",
    "EigenpatchClassifier",
    "SelectionContext",
    "classifier_name",
    "required_components",
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
    noise_variance : float, optional
        Per-pixel noise variance of the patches when it is known (the default method's
        stabilised domain: about 1); None when the rule must infer it (the paper's
        stacks).
    centred : bool, optional
        Whether the eigenpatches are of mean-centred patches or of the raw patches.
    pass_index, n_passes : int, optional
        Which pass over the groups of the default method (0-based) of how many (a paper
        stack: 0 of 1), so a rule can decide differently in the last pass.
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
        noise_variance: float | None = None,
        centred: bool = False,
        pass_index: int = 0,
        n_passes: int = 1,
    ) -> None:
        self.patch_size = int(patch_size)
        self.n_patches = int(n_patches)
        self.n_stack_patches = int(n_stack_patches if n_stack_patches is not None else n_patches)
        self.stack_index = int(stack_index)
        self.n_stacks = int(n_stacks)
        self._spectrum_source = spectrum
        self.noise_variance = None if noise_variance is None else float(noise_variance)
        self.centred = bool(centred)
        self.pass_index = int(pass_index)
        self.n_passes = int(n_passes)
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


def required_components(classifier: Any, default: int) -> int | str:
    """How many components a classifier needs: ``"all"`` or an int (at least ``default``).

    Examples
    --------
    >>> from denoiser.reucid.selection.rules import FixedRank
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
    >>> from denoiser.reucid.selection.rules import FixedRank, MarchenkoPastur
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
