"""``denoise()`` options beyond the paper: stabilisation, similar-patch groups, two passes.

The paper's pipeline (random stacks, one pass, flat overlap average, no transform) is
what ``denoise()`` runs by default. These options change it:

* ``stabilize="anscombe"``: estimate the Poisson–Gaussian noise model from the image
  (:mod:`.noise_model`), run everything on the generalised Anscombe transform of the
  image and return through the exact unbiased inverse;
* ``grouping="similar"``: stacks are groups of similar patches, each with its own
  mean and SVD (:mod:`.grouping`, :mod:`.group_pca`);
* ``passes=2``: a second pass regrouped on the first estimate with per-patch Wiener
  weights from it (needs ``grouping="similar"``);
* ``aggregation="weighted"``: overlapping patch estimates weighted by how much noise
  they kept (needs ``grouping="similar"``: in a paper stack every patch shares one
  selection, so the weights would all be equal);
* ``pilot="coarse"``: the groups and weights of the first grouped pass come from the
  paper's pipeline run on the 2x2-binned image with unit-cell-sized patches
  (:mod:`.coarse_pilot`) instead of from a hard selection on the noisy groups.

:data:`BEST` holds the combination that measured best (``docs/beyond_the_paper.md``)
and is what ``denoise()`` runs unless told ``variant="paper"``; :data:`PAPER` is the
paper's Algorithm 1 (the fast path for live view and series).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .aggregation import AGGREGATIONS
from .anscombe import PoissonGaussianNoise
from .group_pca import NoiseEdge
from .noise_model import AffineVariance, VarianceStabilizer, estimate_noise_model
from .patch_size import estimate_patch_size
from .two_pass import PILOTS, STABILIZERS, iter_denoise_grouped, noise_model_region

__all__ = [
    "BEST",
    "DEFAULT_N_GROUPS",
    "FROM_VARIANT",
    "GROUPINGS",
    "MAX_GROUPED_PATCH_SIZE",
    "PAPER",
    "VARIANTS",
    "VariantOptions",
    "as_affine_variance",
    "effective_groups",
    "grouped_patch_size",
    "iter_denoise_variant",
    "resolve_group_selector",
    "resolve_variant",
]

GROUPINGS = ("random", "similar")
#: Groups of similar patches unless ``n_stacks`` says otherwise.
DEFAULT_N_GROUPS = 128
#: Largest patch side used with similar-patch groups unless given: the cost per group
#: grows as ``p^6`` and each group needs a few times ``p^2`` patches.
MAX_GROUPED_PATCH_SIZE = 11
# Patches per group at least, in units of the patch dimension p².
_PATCHES_PER_DIMENSION = 3


@dataclasses.dataclass(frozen=True)
class VariantOptions:
    """Which pipeline ``denoise()`` runs.

    Examples
    --------
    >>> VariantOptions().is_paper, BEST.is_paper
    (True, False)
    """

    stabilize: str | None = None
    grouping: str = "random"
    passes: int = 1
    aggregation: str = "flat"
    pilot: str | None = None

    def __post_init__(self) -> None:
        if self.stabilize not in STABILIZERS:
            raise ValueError(f"stabilize must be 'anscombe' or None, got {self.stabilize!r}")
        if self.grouping not in GROUPINGS:
            raise ValueError(f"grouping must be one of {GROUPINGS}, got {self.grouping!r}")
        if isinstance(self.passes, bool) or self.passes not in (1, 2):
            raise ValueError(f"passes must be 1 or 2, got {self.passes!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.pilot not in PILOTS:
            raise ValueError(f"pilot must be 'coarse' or None, got {self.pilot!r}")
        if self.grouping == "random" and (self.passes != 1 or self.aggregation != "flat"
                                          or self.pilot is not None):
            raise ValueError(
                "passes=2, aggregation='weighted' and pilot='coarse' need "
                "grouping='similar': a paper stack shares one selection among all its "
                "patches, so it has neither per-patch weights nor a pilot to regroup on")

    @property
    def is_paper(self) -> bool:
        """True for the paper's pipeline (no option changed)."""
        return self == PAPER

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able form."""
        return dataclasses.asdict(self)


#: The paper's Algorithm 1.
PAPER = VariantOptions()
#: What measured best on the simulated sets (see docs/beyond_the_paper.md): the
#: default of ``denoise()``.
BEST = VariantOptions(stabilize="anscombe", grouping="similar", passes=2,
                      aggregation="weighted", pilot="coarse")
#: Named variants ``denoise(variant=...)`` accepts.
VARIANTS = {"best": BEST, "paper": PAPER}


class _FromVariant:
    """Default of the single options of ``denoise()``: take the value from ``variant``."""

    def __repr__(self) -> str:
        return "<from variant>"


#: Sentinel default of ``stabilize``, ``grouping``, ``passes``, ``aggregation``, ``pilot``.
FROM_VARIANT: Any = _FromVariant()


def resolve_variant(variant: Any = "best", **overrides: Any) -> VariantOptions:
    """The pipeline ``denoise()`` runs: a named variant with single options changed.

    Parameters
    ----------
    variant : {"best", "paper"}, VariantOptions or mapping, optional
        Starting point (default ``"best"``).
    **overrides
        ``stabilize``, ``grouping``, ``passes``, ``aggregation``, ``pilot``; values
        equal to :data:`FROM_VARIANT` are ignored.

    Examples
    --------
    >>> resolve_variant("paper", stabilize="anscombe").stabilize
    'anscombe'
    >>> resolve_variant().is_paper, resolve_variant("paper").is_paper
    (False, True)
    """
    if isinstance(variant, VariantOptions):
        base = variant
    elif isinstance(variant, str):
        key = variant.strip().lower()
        if key not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        base = VARIANTS[key]
    elif isinstance(variant, dict):
        base = VariantOptions(**variant)
    else:
        raise TypeError("variant must be 'best', 'paper', a VariantOptions or a dict, "
                        f"got {type(variant).__name__}")
    fields = {f.name for f in dataclasses.fields(VariantOptions)}
    unknown = set(overrides) - fields
    if unknown:
        raise TypeError(f"unknown variant options: {sorted(unknown)}")
    changed = {k: v for k, v in overrides.items() if v is not FROM_VARIANT}
    if not changed:
        return base
    if base.grouping == "similar" and changed.get("grouping") == "random":
        # switching back to the paper's stacks drops what only groups can do
        base = dataclasses.replace(base, passes=1, aggregation="flat", pilot=None)
    return dataclasses.replace(base, **changed)


def as_affine_variance(noise: Any) -> AffineVariance | None:
    """Accept an :class:`AffineVariance`, a :class:`PoissonGaussianNoise` or None.

    Examples
    --------
    >>> as_affine_variance(PoissonGaussianNoise(gain=2.0, sigma=3.0, offset=10.0))
    AffineVariance(slope=2.0, intercept=-11.0)
    """
    if noise is None or isinstance(noise, AffineVariance):
        return noise
    if isinstance(noise, PoissonGaussianNoise):
        # variance = gain * (x - offset) + sigma² = gain * x + (sigma² - gain * offset)
        return AffineVariance(slope=noise.gain,
                              intercept=noise.sigma**2 - noise.gain * noise.offset)
    raise TypeError("noise_model must be an AffineVariance, a PoissonGaussianNoise or None, "
                    f"got {type(noise).__name__}")


def grouped_patch_size(shape: tuple[int, int], estimated: int) -> int:
    """Patch side for similar-patch groups: the estimate, capped for cost.

    Examples
    --------
    >>> grouped_patch_size((256, 256), 17), grouped_patch_size((7, 9), 17)
    (11, 7)
    """
    p = min(int(estimated), MAX_GROUPED_PATCH_SIZE, *shape)
    return max(1, p if p % 2 else p - 1)


def effective_groups(shape: tuple[int, int], patch_size: int, n_groups: int) -> int:
    """Groups actually used: fewer on small images, so each keeps a few ``p²`` patches.

    Examples
    --------
    >>> effective_groups((256, 256), 11, 128), effective_groups((64, 64), 11, 128)
    (128, 8)
    """
    m, n = shape
    n_patches = (m - patch_size + 1) * (n - patch_size + 1)
    fitting = n_patches // (_PATCHES_PER_DIMENSION * patch_size * patch_size)
    return int(max(1, min(int(n_groups), fitting)))


def resolve_group_selector(classifier: Any, resolve: Any) -> Any:
    """The selector of a non-paper variant: ``"noise-edge"`` (also for None), the rest as usual.

    None means the variant's own default: the noise-edge rule, which measured at least
    as good as the shipped CNN per group and about 2.7 times as fast (docs/beyond_the_paper.md);
    ``"cnn"`` asks for the shipped CNN.

    Examples
    --------
    >>> resolve_group_selector("noise-edge", resolve=None)
    NoiseEdge(noise_variance=1.0)
    >>> resolve_group_selector(None, resolve=None)
    NoiseEdge(noise_variance=1.0)
    """
    if classifier is None or (isinstance(classifier, str)
                              and classifier.strip().lower() in ("noise-edge", "edge")):
        return NoiseEdge()
    return resolve(classifier)


def iter_denoise_variant(
    data: NDArray[np.float64], options: VariantOptions, *, classifier: Any,
    patch_size: int | None, n_stacks: int | None, seed: int | None,
    noise_model: Any = None, core_iter: Any, core_options: dict[str, Any],
) -> Iterator[Any]:
    """Run a non-paper variant; yields the core's ``InterimResult`` objects.

    ``data`` is the validated image. Validation of everything else happens before
    the generator is returned.
    """
    from .classifiers import classifier_name, required_components, resolve_classifier
    from .pipeline import DenoiseResult, InterimResult, StackDiagnostics
    from .terrain import patch_terrain
    from .validation import check_patch_fits

    started = time.perf_counter()
    model = as_affine_variance(noise_model)
    if options.grouping == "random":
        # the paper's pipeline on the stabilised image, back through the unbiased inverse
        p_noise = patch_size if patch_size is not None else min(
            estimate_patch_size(data).patch_size, MAX_GROUPED_PATCH_SIZE)
        if model is None:
            model = estimate_noise_model(noise_model_region(data), patch_size=p_noise,
                                         seed=seed)
        stabilizer = VarianceStabilizer(model)
        selector = resolve_group_selector(classifier, resolve_classifier)
        inner = core_iter(stabilizer.forward(data), selector, patch_size, n_stacks, seed,
                          variant=PAPER, **core_options)

        def run_random() -> Iterator[Any]:
            for interim in inner:
                image = stabilizer.inverse(interim.image).astype(np.float32)
                final = interim.final
                if final is not None:
                    final = dataclasses.replace(final, image=image)
                    final.timings["total"] = time.perf_counter() - started
                    _attach(final, options, model)
                yield dataclasses.replace(interim, image=image, final=final)

        return run_random()

    selector = resolve_group_selector(classifier, resolve_classifier)
    n_groups = DEFAULT_N_GROUPS if n_stacks is None else int(n_stacks)
    if isinstance(n_stacks, bool) or n_groups < 1:
        raise ValueError(f"n_stacks (the number of groups) must be >= 1, got {n_stacks!r}")
    if patch_size is None:
        estimate = estimate_patch_size(data)
        p = grouped_patch_size(data.shape, estimate.patch_size)
        p_method = f"{estimate.method}, capped at {p}" if p != estimate.patch_size \
            else estimate.method
    else:
        p, p_method = check_patch_fits(data.shape, patch_size), "given"
    n_groups = effective_groups(data.shape, p, n_groups)
    # like a paper stack, a group shows the classifier its leading n_components
    # eigenpatches ("k=all": every one of them)
    needed = required_components(selector, int(core_options.get("n_components", 25)))
    steps = iter_denoise_grouped(
        data, patch_size=p, selector=selector, stabilize=options.stabilize,
        passes=options.passes, aggregation=options.aggregation, n_groups=n_groups,
        seed=seed, noise_model=model, n_classified=None if needed == "all" else needed,
        pilot=options.pilot)
    terrain = patch_terrain(np.ones((data.shape[0] - p + 1, data.shape[1] - p + 1), bool),
                            p).astype(np.int32)

    def as_stack(group: Any) -> Any:
        return StackDiagnostics(
            index=group.index, n_patches=group.n_patches, sample_size=group.n_patches,
            eigenvalues=group.eigenvalues, eigenpatches=group.eigenpatches,
            kept=group.kept, timings=dict(group.timings))

    def run_grouped() -> Iterator[Any]:
        total = options.passes * n_groups  # k-means may leave a few groups empty
        for step in steps:
            final = None
            image = np.asarray(step.image, dtype=np.float32)
            done = min(step.pass_index * n_groups + step.group_index, total - 1)
            if step.outcome is not None:
                outcome = step.outcome
                timings = dict(outcome.timings)
                timings["total"] = time.perf_counter() - started
                final = DenoiseResult(
                    image=image, patch_size=p, patch_size_method=p_method,
                    n_stacks=len(outcome.groups[-1]), terrain=terrain,
                    stacks=[as_stack(g) for g in outcome.groups[-1]], timings=timings,
                    classifier=classifier_name(selector), mode="grouped", seed=seed,
                    n_components=p * p)
                _attach(final, options, outcome.noise_model, outcome.pilot)
                done = total - 1
            yield InterimResult(image=image, terrain=terrain, stack_index=done,
                                n_stacks=total, stack=as_stack(step.group), final=final)

    return run_grouped()


def _attach(result: Any, options: VariantOptions, model: AffineVariance | None,
            pilot: dict[str, Any] | None = None) -> None:
    """Record the variant, the noise model and the pilot used on a DenoiseResult."""
    extra: dict[str, Any] = {"variant": options.to_metadata()}
    if model is not None:
        extra["noise_model"] = {"slope": model.slope, "intercept": model.intercept}
    if pilot is not None:
        extra["pilot"] = dict(pilot)
    if hasattr(result, "options") and isinstance(result.options, dict):
        result.options.update(extra)
    else:
        result.options = extra
