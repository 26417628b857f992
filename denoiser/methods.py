"""The quality mode of a job: the best variant ("best", default) or the paper's REUCID ("paper").

"best" runs the core's default method (``denoiser.reucid.grouped``), what ``denoise()`` runs by default
(Anscombe stabilisation, a coarse pilot from the paper's pipeline on the 2x2-binned
image, two passes over groups of similar patches): the cleanest result, slower. "paper"
runs the paper's Algorithm 1 (random patch stacks, one pass) with the chosen
classifier: the fast option for live view and long series. What each measures (PSNR,
seconds, memory) is quoted from the benchmarks' figures file
(:mod:`denoiser.benchmark_figures`), never typed in here.

Which classifiers make sense with which method, the limits of "best" and the fallback to
"paper" for an image too large for it live here, so that the page, the API and the
worker agree.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from denoiser.reucid.grouped.pipeline import DEFAULT_N_GROUPS, MAX_GROUPED_PATCH_SIZE

from . import benchmark_figures
from .classifier_choice import ACTIVE, NOISE_EDGE

PAPER = "paper"
BEST = "best"
METHODS = (BEST, PAPER)
#: The method of a request that names none (the issue: "the best as default").
DEFAULT_METHOD = BEST
METHOD_LABELS = {
    BEST: "Best quality (default)",
    PAPER: "Paper (REUCID, fast live view)",
}
class _TradeOffs(Mapping):
    """One sentence per method: what choosing it trades, its numbers read from the
    benchmark figures at the time the sentence is shown (none when there are none)."""

    def __getitem__(self, method: str) -> str:
        if method == BEST:
            best = [benchmark_figures.figure(BEST, "psnr_db", d) for d in ("100", "1000")]
            bm3d = [benchmark_figures.figure("bm3d", "psnr_db", d) for d in ("100", "1000")]
            measured = None not in best + bm3d
            ahead = measured and all(b > o for b, o in zip(best, bm3d, strict=True))
            return ("Anscombe stabilisation, a coarse pilot, groups of similar patches and "
                    "two passes: the cleanest result"
                    + (", above BM3D+GAT's PSNR at every measured dose" if ahead else "")
                    + ", slower; a column's integrated intensity comes from your data, "
                    "not from its group.")
        if method == PAPER:
            ratio = benchmark_figures.speedup(PAPER, BEST)
            faster = (f"about {benchmark_figures.rounded(ratio)}× faster than best"
                      if ratio else "much faster than best")
            return (f"The paper's REUCID, for live view and long series: {faster} but it "
                    "removes much less noise; with small patches and an objective rule it "
                    "keeps rare defects' contrast well.")
        raise KeyError(method)

    def __iter__(self) -> Iterator[str]:
        return iter(METHODS)

    def __len__(self) -> int:
        return len(METHODS)


#: One sentence each: what choosing the method trades (numbers from the figures file).
METHOD_TRADE_OFFS: Mapping[str, str] = _TradeOffs()
#: The classifier a method uses when none is given.
#: "active" is the active model of the method's kind (``classifier_choice.model_kind_for``):
#: the group classifier that the survey and simulations teach decides in "best" too; with
#: none at all, "best" falls back to the noise-edge rule and the job says so.
DEFAULT_CLASSIFIER = {PAPER: ACTIVE, BEST: ACTIVE}
#: Largest patch side accepted with "best": each group's eigendecomposition grows as p^6.
BEST_MAX_PATCH_SIZE = 15
#: Short label and help of the "protect rare defects" option (what it trades is measured
#: in docs/beyond_the_paper.md, "Caveats: defects").
PROTECT_DEFECTS_LABEL = "Protect rare defects (best method only)"
PROTECT_DEFECTS_HELP = (
    "Keeps more of a rare defect's contrast at very low dose, removes less noise: the best "
    "method without its coarse pilot."
)
#: Largest image (pixels) accepted with "best" unless ``REUCID_BEST_MAX_PIXELS`` says
#: otherwise: the method's time and memory grow with the pixel count (measured:
#: docs/benchmarks/figures.json), and a 2048 x 2048 job still ends within the worker's
#: time limit on one core.
DEFAULT_BEST_MAX_PIXELS = 2048 * 2048


@dataclass(frozen=True)
class MethodChoice:
    """The method a job runs, and why it is not the one asked for ("" if it is).

    Examples
    --------
    >>> MethodChoice(BEST).note
    ''
    """

    method: str
    note: str = ""


def normalise_method(method: str | None) -> str:
    """Canonical method name, or ValueError naming the accepted ones.

    Examples
    --------
    >>> normalise_method(None), normalise_method(" Paper ")
    ('best', 'paper')
    """
    value = (method or "").strip().lower() or DEFAULT_METHOD
    if value not in METHODS:
        raise ValueError(
            f"Unknown method '{method}'. Choose 'best' (default: the cleanest result) or "
            "'paper' (the paper's REUCID, fast live view)."
        )
    return value


def default_classifier(method: str) -> str:
    """The classifier a method uses when the request names none.

    Examples
    --------
    >>> default_classifier("paper"), default_classifier("best")
    ('active', 'active')
    """
    return DEFAULT_CLASSIFIER[normalise_method(method)]


def check_combination(
    method: str, classifier_choice: str, *, patch_size: int | None = None,
    n_stacks: int | None = None, protect_defects: bool = False,
) -> None:
    """Refuse option combinations a method cannot use, with a sentence saying why.

    ``classifier_choice`` is already normalised (:func:`.normalise_choice`).

    Raises
    ------
    ValueError
        For "noise-edge" or ``protect_defects`` with "paper"; "k=all", a stack count or
        a patch larger than :data:`BEST_MAX_PATCH_SIZE` with "best".

    Examples
    --------
    >>> check_combination("best", "mp")
    >>> check_combination("paper", "noise-edge")
    Traceback (most recent call last):
    ...
    ValueError: The noise-edge rule needs the stabilised noise level of the 'best' method; with the 'paper' method choose 'active', 'mp', 'gd' or a fixed k.
    >>> check_combination("paper", "mp", protect_defects=True)
    Traceback (most recent call last):
    ...
    ValueError: 'Protect rare defects' applies to the 'best' method only (it turns off its coarse pilot); the 'paper' method has no pilot. Untick it, or choose the 'best' method.
    """
    method = normalise_method(method)
    if method == PAPER:
        if protect_defects:
            raise ValueError(
                "'Protect rare defects' applies to the 'best' method only (it turns off its "
                "coarse pilot); the 'paper' method has no pilot. Untick it, or choose the "
                "'best' method."
            )
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
            f"method (the default) forms its own groups of similar patches ({DEFAULT_N_GROUPS}, "
            "fewer on small images). Leave it empty, or choose the 'paper' method."
        )
    if patch_size is not None and int(patch_size) > BEST_MAX_PATCH_SIZE:
        raise ValueError(
            f"With the 'best' method the patch size can be at most {BEST_MAX_PATCH_SIZE} "
            f"pixels (got {patch_size}): its cost grows as the sixth power of the patch "
            f"size. Leave it empty (estimated, capped at {MAX_GROUPED_PATCH_SIZE}) or use the "
            "'paper' method."
        )


def pixel_count_text(pixels: int) -> str:
    """An image size in words: megapixels, or pixels below a tenth of one.

    Examples
    --------
    >>> pixel_count_text(2048 * 2048), pixel_count_text(4095)
    ('4.2 megapixels', '4095 pixels')
    """
    pixels = int(pixels)
    return f"{pixels / 1e6:.1f} megapixels" if pixels >= 100_000 else f"{pixels} pixels"


def best_max_pixels() -> int:
    """Largest image, in pixels, that a "best" job accepts."""
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
            f"The 'best' method accepts images of at most {pixel_count_text(limit)} "
            f"(this one is {height} × {width} = {pixel_count_text(height * width)})"
            f"{_best_cost_text()}. Crop the image or use the 'paper' method."
        )


def _best_cost_text() -> str:
    """"; it needs about … per megapixel" from the measured figures ("" without them)."""
    seconds = benchmark_figures.seconds_per_megapixel(BEST)
    memory = benchmark_figures.memory_mb_per_megapixel(BEST)
    parts = ([f"{benchmark_figures.rounded(memory)} MB of memory"] if memory else []) + (
        [f"{benchmark_figures.rounded(seconds)} s"] if seconds else [])
    return f"; it needs about {' and '.join(parts)} per megapixel" if parts else ""


def too_large_for_best(shape: tuple[int, int]) -> bool:
    """True when an image has more pixels than :func:`best_max_pixels`."""
    height, width = (int(v) for v in shape)
    return height * width > best_max_pixels()


def choose_method(requested: str | None, shape: tuple[int, int]) -> MethodChoice:
    """The method a job on an image of ``shape`` runs.

    A method the request names is kept (an image too large for it is refused later by
    :func:`check_image_size`). A request that names none gets :data:`DEFAULT_METHOD`,
    or "paper" with a note saying why when the image is larger than "best" accepts: a
    large image still gets denoised rather than refused for an option nobody chose.

    Raises
    ------
    ValueError
        For an unknown method name.

    Examples
    --------
    >>> choose_method("paper", (64, 64))
    MethodChoice(method='paper', note='')
    """
    if requested is not None and str(requested).strip():
        return MethodChoice(normalise_method(requested))
    if not too_large_for_best(shape):
        return MethodChoice(DEFAULT_METHOD)
    height, width = (int(v) for v in shape)
    return MethodChoice(PAPER, note=(
        f"This image ({height} × {width} = {pixel_count_text(height * width)}) is larger "
        f"than the best method accepts ({pixel_count_text(best_max_pixels())}), so it is "
        "denoised with the paper's method instead. Crop it to use the best method."
    ))


#: What a job that fell back from "best" to "paper" is told about a dropped
#: ``protect_defects``.
PROTECT_DEFECTS_DROPPED_NOTE = (
    "'Protect rare defects' applies to the best method only, so it is off for this job; "
    "the paper's method has no coarse pilot to turn off."
)


def core_options(method: str, *, protect_defects: bool = False, n_units: int | None = None,
                 device: str = "cpu") -> dict[str, Any]:
    """Keyword options of the core's ``iter_denoise`` for a job of this method.

    Always names the variant (the core's own default is "best"). ``n_units`` is the
    job's requested number of stacks ("paper") or groups ("best"). ``device`` (the
    site's ``REUCID_DEVICE``) is where the paper method runs its place-back; the default
    method runs on the CPU, so it is not passed to it. ``protect_defects`` (with "best"
    only, see :func:`check_combination`) runs the best method without its coarse pilot:
    the pilot's lattice-like first estimate is what pulls a rare defect towards the
    lattice.

    Raises
    ------
    ValueError
        For ``protect_defects`` with "paper".

    Examples
    --------
    >>> core_options("paper", n_units=4, device="cuda")
    {'variant': 'paper', 'n_stacks': 4, 'device': 'cuda'}
    >>> core_options("best"), core_options("best", protect_defects=True, n_units=32)
    ({'variant': 'best', 'n_groups': None}, {'variant': 'best', 'n_groups': 32, 'pilot': None})
    """
    method = normalise_method(method)
    if method != BEST:
        if protect_defects:
            raise ValueError("protect_defects applies to the 'best' method only")
        return {"variant": method, "n_stacks": n_units, "device": device}
    options: dict[str, Any] = {"variant": method, "n_groups": n_units}
    if protect_defects:
        options["pilot"] = None
    return options
