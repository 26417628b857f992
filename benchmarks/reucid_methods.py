"""REUCID rows of the paper's pipeline, through the public core API (``denoiser.reucid``).

Every row here runs the paper's Algorithm 1 (``denoise(variant="paper")``, the fast
path of the live view; ``denoise()``'s own default is the best variant, whose rows are
in :mod:`benchmarks.variants`):

* with the active/shipped CNN classifier (``context.classifier``: a model path, or
  ``None`` for the shipped model);
* with the oracle fixed rank k (the k whose output is best against ground truth): the
  ceiling any rank-choosing classifier can reach;
* with the Marchenko–Pastur (MP-PCA) and Gavish–Donoho rank rules;
* the ``speed`` family (run only when named, by ``python -m benchmarks.speed``): the
  paper path in fast and reference mode and on the GPU, each returning its stage timings
  as the row's note.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.methods import MethodContext, MethodUnavailable, register_method
from denoiser import reucid
from denoiser.reucid import decompose, estimate_patch_size
from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.selection.cnn import SHIPPED_MODEL_PATH, load_classifier

__all__ = [
    "PAPER_CNN",
    "PAPER_GD",
    "PAPER_MP",
    "PAPER_ORACLE_K",
    "SPEED_PAPER",
    "SPEED_PAPER_GPU",
    "SPEED_PAPER_REFERENCE",
    "default_classifier_source",
    "describe_result",
    "oracle_rank",
    "reucid_available",
    "reucid_oracle_rank",
    "reucid_rule",
    "reucid_with_classifier",
]

#: Row labels (the paper's pipeline; ``denoise(variant="paper")``).
PAPER_CNN = "REUCID paper, CNN classifier"
PAPER_ORACLE_K = "REUCID paper, oracle k"
PAPER_MP = "REUCID paper, MP-PCA rank"
PAPER_GD = "REUCID paper, Gavish–Donoho rank"
#: Speed rows (family ``speed``): the paper's pipeline, the live-view path, timed.
SPEED_PAPER = "REUCID paper path (fast mode, CNN)"
SPEED_PAPER_REFERENCE = "REUCID paper path, reference mode"
SPEED_PAPER_GPU = "REUCID paper path, GPU"

#: Most ranks the oracle tries (it stops earlier at p², the number of eigenpatches).
ORACLE_MAX_RANK = 128
#: Eigenpatches the default pipeline computes for a classifier that asks for no more.
DEFAULT_PIPELINE_COMPONENTS = 25


def classifier_components(path: Path | None = None) -> int:
    """Eigenpatches the pipeline shows the classifier at ``path`` (``None``: shipped model).

    A model file may ask for more than the pipeline's default (its ``n_components``).

    Examples
    --------
    >>> classifier_components() >= DEFAULT_PIPELINE_COMPONENTS
    True
    """
    try:
        model = load_classifier(path or SHIPPED_MODEL_PATH)
    except ModelLoadError:  # no model here: the pipeline default applies
        return DEFAULT_PIPELINE_COMPONENTS
    return max(DEFAULT_PIPELINE_COMPONENTS,
               int(getattr(model, "n_components_required", DEFAULT_PIPELINE_COMPONENTS)))


def reucid_available() -> str | None:
    """``None`` when the REUCID core can run here, else why not.

    Examples
    --------
    >>> reucid_available() is None or isinstance(reucid_available(), str)
    True
    """
    if callable(getattr(reucid, "denoise", None)):
        return None
    return "the REUCID core has no denoise() (denoiser.reucid)"


def _denoise(noisy: NDArray[np.float64], classifier: Any, *, seed: int) -> NDArray[np.float64]:
    """The paper's pipeline (``variant="paper"``) with ``classifier``."""
    try:
        result = reucid.denoise(np.asarray(noisy), classifier=classifier, seed=seed,
                                variant="paper")
    except ModelLoadError as error:
        raise MethodUnavailable(str(error)) from error
    return np.asarray(result.image, dtype=np.float64)


def reucid_with_classifier(
    noisy: NDArray[np.float64], *, context: MethodContext
) -> NDArray[np.float64]:
    """The paper's pipeline with ``context.classifier`` (``None``: the shipped CNN)."""
    return _denoise(noisy, context.classifier, seed=context.seed)


def reucid_rule(rule: str):
    """A benchmark method: the paper's pipeline with an objective rank rule (``"mp"``, ``"gd"``).

    Examples
    --------
    >>> reucid_rule("mp").__name__
    'reucid_mp'
    """

    def run(noisy: NDArray[np.float64], *, context: MethodContext) -> NDArray[np.float64]:
        return _denoise(noisy, rule, seed=context.seed)

    run.__name__ = f"reucid_{rule}"
    return run


def oracle_rank(
    noisy: NDArray[np.float64],
    clean: NDArray[np.float64],
    *,
    max_rank: int = ORACLE_MAX_RANK,
    seed: int = 0,
) -> tuple[int, NDArray[np.float64]]:
    """The fixed rank whose REUCID output has the least MSE against ``clean``.

    One ``decompose`` with ``min(p², max_rank)`` components gives every truncation
    cheaply and shortlists the best rank; the full pipeline
    (``denoise(classifier="k=N", variant="paper")``, with its stacks) then decides between that rank
    and its neighbours, so the reported image is a real REUCID output.

    Parameters
    ----------
    noisy, clean : numpy.ndarray
        Same 2D shape.
    max_rank : int, optional
        Largest rank tried.
    seed : int, optional

    Returns
    -------
    tuple of (int, numpy.ndarray)
        The best rank and its output.
    """
    patch_size = estimate_patch_size(np.asarray(noisy)).patch_size
    n_components = int(min(patch_size**2, max_rank))
    decomposition = decompose(np.asarray(noisy), patch_size=patch_size,
                              n_components=n_components, seed=seed)
    ranks = list(range(1, decomposition.n_components + 1))
    truncations = decomposition.reconstructions(ranks)
    errors = np.mean((truncations - clean[None]) ** 2, axis=(1, 2))
    del truncations
    shortlisted = ranks[int(np.argmin(errors))]
    best_rank, best_error, best_image = 0, np.inf, None
    for rank in sorted({shortlisted - 1, shortlisted, shortlisted + 1} & set(ranks)):
        image = _denoise(noisy, f"k={rank}", seed=seed)
        error = float(np.mean((image - clean) ** 2))
        if error < best_error:
            best_rank, best_error, best_image = rank, error, image
    assert best_image is not None
    return best_rank, best_image


def reucid_oracle_rank(
    noisy: NDArray[np.float64], *, context: MethodContext
) -> tuple[NDArray[np.float64], str]:
    """The paper's pipeline keeping the oracle number of leading eigenpatches (and that number)."""
    if context.clean is None:
        raise ValueError("The oracle rank needs the clean image.")
    rank, image = oracle_rank(noisy, context.clean, seed=context.seed)
    return image, f"k={rank}"


def describe_result(result: object) -> str:
    """Patch size, stacks or groups and stage timings of a REUCID result (empty otherwise).

    Examples
    --------
    >>> describe_result(np.zeros(2))
    ''
    """
    timings = getattr(result, "timings", None)
    if not isinstance(timings, dict):
        return ""
    stages = ", ".join(f"{k} {v:.3g} s" for k, v in timings.items()
                       if isinstance(v, (int, float)))
    units = getattr(result, "n_stacks", None) or getattr(result, "n_groups", "?")
    return f"p={getattr(result, 'patch_size', '?')}, d={units}; {stages}"


def paper_path(**options: Any):
    """A ``speed`` row: ``denoise(variant="paper", **options)`` with ``context.classifier``,
    its note the result's stage timings (:func:`describe_result`).

    Examples
    --------
    >>> paper_path(mode="reference").__name__
    'paper_path'
    """

    def paper_path(noisy: NDArray[np.float64], *, context: MethodContext
                   ) -> tuple[NDArray[np.float64], str]:
        try:
            result = reucid.denoise(noisy, classifier=context.classifier, seed=context.seed,
                                    variant="paper", **options)
        except ModelLoadError as error:
            raise MethodUnavailable(str(error)) from error
        return result.image, describe_result(result)

    return paper_path


def _cuda_available() -> str | None:
    """``None`` when torch sees a CUDA device, else why the GPU row cannot run."""
    try:
        # torch is optional for this check: a CPU-only install still lists the row
        import torch
    except ImportError:
        return "torch is not installed"
    return None if torch.cuda.is_available() else "no CUDA device on this machine"


def default_classifier_source() -> tuple[Path | None, str]:
    """The classifier the REUCID row uses: the active one if Django can say, else the shipped one.

    Returns
    -------
    tuple of (pathlib.Path or None, str)
        The model path (``None`` = let the core load the shipped model) and a
        sentence saying which one it is, for the report.
    """
    try:
        # Django is set up only when a benchmark asks which model is active (and may fail)
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reucid_site.settings")
        django.setup()
        # only after django.setup(): the selectors import the training app's models
        from training.selectors import active_classifier_path, active_classifier_record

        record = active_classifier_record()
        path = Path(active_classifier_path())
        if record is not None:
            return path, f"the active classifier ({getattr(record, 'name', record)}, {path.name})"
        return path, f"the shipped classifier ({path.name})"
    except Exception:  # noqa: BLE001 - no database or no training app: fall back to the core
        return None, "the shipped classifier (denoiser/reucid/selection/models/reucid_default.pt)"


register_method(
    PAPER_CNN,
    reucid_with_classifier,
    family="REUCID",
    available=reucid_available,
    description="denoise(variant='paper') with the active/shipped CNN eigenpatch "
    "classifier: the paper's Algorithm 1, the live-view path.",
)
register_method(
    PAPER_ORACLE_K,
    reucid_oracle_rank,
    family="oracle",
    needs_ground_truth=True,
    available=reucid_available,
    description="denoise(classifier='k=N', variant='paper') with the N of least MSE against "
    f"ground truth (N up to min(p², {ORACLE_MAX_RANK})): the ceiling of a classifier that "
    "keeps the leading eigenpatches of the paper's stacks.",
)
register_method(
    PAPER_MP,
    reucid_rule("mp"),
    family="REUCID",
    available=reucid_available,
    description="denoise(classifier='mp', variant='paper'): Marchenko–Pastur rank rule.",
)
register_method(
    PAPER_GD,
    reucid_rule("gd"),
    family="REUCID",
    available=reucid_available,
    description="denoise(classifier='gd', variant='paper'): Gavish–Donoho optimal hard "
    "threshold.",
)
register_method(
    SPEED_PAPER,
    paper_path(),
    family="speed",
    available=reucid_available,
    description="denoise(variant='paper') in fast mode: the live-view path the core's "
    "speed targets are about.",
)
register_method(
    SPEED_PAPER_REFERENCE,
    paper_path(mode="reference"),
    family="speed",
    available=reucid_available,
    description="denoise(variant='paper', mode='reference'): the explicit patch-matrix path.",
)
register_method(
    SPEED_PAPER_GPU,
    paper_path(device="cuda"),
    family="speed",
    available=_cuda_available,
    description="denoise(variant='paper', device='cuda'): the paper path's place-back on "
    "the GPU.",
)
