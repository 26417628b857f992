"""The quality mode of a job: the paper's REUCID ("paper") or the grouped variant ("best").

"paper" runs the paper's Algorithm 1 (random patch stacks, one pass) with the chosen
classifier: about 0.05 s per 256 x 256 image, and it keeps rare defects' contrast best
with objective rules at small patches. "best" runs :data:`denoiser.reucid.variants.BEST`
(Anscombe stabilisation, groups of similar patches, two passes, weighted aggregation):
6–12 dB above BM3D on simulated crystals, but ~1.6 s per 256 x 256 image, and a rare
defect keeps only 63–97 % of its contrast (docs/beyond_the_paper.md).

Which classifiers make sense with which method, and the limits of "best", live here so
that the page, the API and the worker agree.
"""
from __future__ import annotations

from typing import Any

from .classifier_choice import ACTIVE, NOISE_EDGE

PAPER = "paper"
BEST = "best"
METHODS = (PAPER, BEST)
METHOD_LABELS = {
    PAPER: "Paper (REUCID, fast)",
    BEST: "Best quality (grouped, slower)",
}
#: One sentence each: what choosing the method trades.
METHOD_TRADE_OFFS = {
    PAPER: (
        "The paper's REUCID: fast (about 0.05 s per 256 × 256 image) and the published "
        "reference, but it removes less noise than 'best'; with small patches and an "
        "objective rule it keeps rare defects' contrast well."
    ),
    BEST: (
        "Groups of similar patches, Anscombe stabilisation and two passes: much cleaner "
        "(6–12 dB above BM3D on simulated crystals) but about 30× slower (≈1.6 s per "
        "256 × 256 image), and it pulls rare defects partly towards the lattice (63–97 % "
        "of their contrast kept)."
    ),
}
#: The classifier a method uses when none is given.
DEFAULT_CLASSIFIER = {PAPER: ACTIVE, BEST: NOISE_EDGE}
#: Largest patch side accepted with "best": each group's eigendecomposition grows as p^6.
BEST_MAX_PATCH_SIZE = 15
#: Largest image (pixels) accepted with "best" unless ``REUCID_BEST_MAX_PIXELS`` says
#: otherwise: ~0.5 GB of memory and ~17 s per megapixel on one core.
DEFAULT_BEST_MAX_PIXELS = 2048 * 2048


def normalise_method(method: str | None) -> str:
    """Canonical method name, or ValueError naming the accepted ones.

    Examples
    --------
    >>> normalise_method(None), normalise_method(" Best ")
    ('paper', 'best')
    """
    value = (method or "").strip().lower() or PAPER
    if value not in METHODS:
        raise ValueError(
            f"Unknown method '{method}'. Choose 'paper' (the paper's REUCID, fast, default) "
            "or 'best' (grouped variant, slower, cleaner)."
        )
    return value


def default_classifier(method: str) -> str:
    """The classifier a method uses when the request names none.

    Examples
    --------
    >>> default_classifier("paper"), default_classifier("best")
    ('active', 'noise-edge')
    """
    return DEFAULT_CLASSIFIER[normalise_method(method)]


def check_combination(
    method: str, classifier_choice: str, *, patch_size: int | None = None,
    n_stacks: int | None = None,
) -> None:
    """Refuse option combinations a method cannot use, with a sentence saying why.

    ``classifier_choice`` is already normalised (:func:`.normalise_choice`).

    Raises
    ------
    ValueError
        For "noise-edge" with "paper"; "k=all", a stack count or a patch larger than
        :data:`BEST_MAX_PATCH_SIZE` with "best".

    Examples
    --------
    >>> check_combination("best", "mp")
    >>> check_combination("paper", "noise-edge")
    Traceback (most recent call last):
    ...
    ValueError: The noise-edge rule needs the stabilised noise level of the 'best' method; with the 'paper' method choose 'active', 'mp', 'gd' or a fixed k.
    """
    method = normalise_method(method)
    if method == PAPER:
        if classifier_choice == NOISE_EDGE:
            raise ValueError(
                "The noise-edge rule needs the stabilised noise level of the 'best' method; "
                "with the 'paper' method choose 'active', 'mp', 'gd' or a fixed k."
            )
        return
    if classifier_choice == "k=all":
        raise ValueError(
            "'k=all' keeps every eigenpatch of every group, which defeats the 'best' "
            "method (most of the noise stays); choose 'noise-edge' (default), 'active', "
            "'mp', 'gd' or a fixed k."
        )
    if n_stacks is not None:
        raise ValueError(
            "The number of stacks (d) applies to the 'paper' method only: the 'best' "
            "method forms its own groups of similar patches (128, fewer on small images). "
            "Leave it empty."
        )
    if patch_size is not None and int(patch_size) > BEST_MAX_PATCH_SIZE:
        raise ValueError(
            f"With the 'best' method the patch size can be at most {BEST_MAX_PATCH_SIZE} "
            f"pixels (got {patch_size}): its cost grows as the sixth power of the patch "
            "size. Leave it empty (estimated, capped at 11) or use the 'paper' method."
        )


def best_max_pixels() -> int:
    """Largest image, in pixels, that a "best" job accepts."""
    from django.conf import settings

    return int(getattr(settings, "REUCID_BEST_MAX_PIXELS", DEFAULT_BEST_MAX_PIXELS))


def check_image_size(method: str, shape: tuple[int, int]) -> None:
    """Refuse images too large for the method's memory and time.

    Raises
    ------
    ValueError
        For a "best" job on an image above :func:`best_max_pixels`.
    """
    if normalise_method(method) != BEST:
        return
    limit = best_max_pixels()
    height, width = (int(v) for v in shape)
    if height * width > limit:
        raise ValueError(
            f"The 'best' method accepts images of at most {limit / 1e6:.1f} megapixels "
            f"(this one is {height} × {width} = {height * width / 1e6:.1f}); it needs about "
            "0.5 GB of memory and 17 s per megapixel. Crop the image or use the 'paper' "
            "method."
        )


def variant_options(method: str) -> dict[str, Any]:
    """Keyword options of ``iter_denoise`` that select the method's pipeline.

    Examples
    --------
    >>> variant_options("paper")
    {}
    >>> sorted(variant_options("best"))
    ['aggregation', 'grouping', 'passes', 'stabilize']
    """
    if normalise_method(method) == PAPER:
        return {}
    from denoiser.reucid.variants import BEST as BEST_VARIANT

    return BEST_VARIANT.to_metadata()
