"""Labelled group components for the default method's classifier, from simulations.

Pure numpy (plus the REUCID core); no Django. The default method is run as it runs for
an upload; while it runs, each pass over the groups is recorded (the stabilised
patches, the group labels and the pilot that gives the Wiener weights). Afterwards every
group is decomposed again exactly as the method did, and each of its leading components
gets the *oracle's* verdict, computed against the clean image in the same stabilised
domain: keep component ``j`` when keeping it lowers the group's patch error,

    gain_j = sum_i a_i [ s_ij² - (s_ij - w_ij y_ij)² ] > 0

with ``y_ij`` the noisy centred patch's coefficient, ``s_ij`` the clean patch's (minus
the same noisy group mean), ``w_ij`` the method's Wiener weight and ``a_i`` a patch
weight that counts patches holding rare detail (their clean content differs from the
group's clean mean by more than the noise) ``1 + detail_weight`` times: PSNR alone
rewards pulling a defect toward the lattice average, the fidelity measures do not.

The components are stored as the group classifier sees them (:func:`group_features`),
so the same arrays train the network and score it.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from denoiser.reucid.errors import PatchSizeError
from denoiser.reucid.grouped import denoise_grouped
from denoiser.reucid.grouped import pipeline as grouped_pipeline
from denoiser.reucid.grouped.local_means import local_mean_sigma
from denoiser.reucid.grouped.pipeline import GroupedResult, OutputStep, output_step
from denoiser.reucid.patches.patch_set import PatchSet
from denoiser.reucid.patches.similarity import group_positions
from denoiser.reucid.selection.base import SelectionContext
from denoiser.reucid.selection.group_cnn import N_SCALARS, group_features, noise_edge_ratio
from denoiser.reucid.selection.rules import FixedRank
from denoiser.reucid.simulation import HELD_OUT_MATERIALS, TRAINING_MATERIALS
from denoiser.reucid.simulation.scenes import DOSES, SCENE_MATERIALS, make_scene

from .examples import PAPER_DOSES, simulated_cases

__all__ = [
    "ORACLE_KS",
    "GroupCandidates",
    "GroupComponents",
    "GroupExamples",
    "LabelledRun",
    "PassRecord",
    "components_to_examples",
    "group_candidates",
    "group_contributions",
    "groups_from_arrays",
    "label_threshold",
    "threshold_ladder",
    "label_case",
    "oracle_ks",
    "recorded_group_passes",
]


@dataclass
class PassRecord:
    """What one pass over the groups worked on: enough to redo any group exactly."""

    patches: PatchSet
    labels: NDArray[np.intp]
    pilot: PatchSet | None
    noise_variance: float
    n_classified: int | None
    options: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def recorded_group_passes(
        replace_selector: Callable[[PassRecord], Any] | None = None,
) -> Iterator[list[PassRecord]]:
    """Record every pass of the default method run inside the ``with`` block.

    The default method's pipeline calls ``iter_group_pass`` once per pass; for the
    duration of the block that name is wrapped, so each call's patches, labels and
    pilot are kept (the method itself is unchanged). ``replace_selector`` may return a
    selector to use instead of the run's for that pass (the oracle does).

    Not thread-safe: it swaps a module attribute for the block's duration.
    """
    original = grouped_pipeline.iter_group_pass
    records: list[PassRecord] = []

    def wrapped(patches: PatchSet, labels: Any, *, selector: Any, noise_variance: float = 1.0,
                pilot: PatchSet | None = None, n_classified: int | None = None,
                **options: Any) -> Any:
        record = PassRecord(patches=patches, labels=np.asarray(labels, dtype=np.intp),
                            pilot=pilot, noise_variance=float(noise_variance),
                            n_classified=n_classified, options=dict(options))
        records.append(record)
        if replace_selector is not None:
            selector = replace_selector(record)
        return original(patches, labels, selector=selector, noise_variance=noise_variance,
                        pilot=pilot, n_classified=n_classified, **options)

    grouped_pipeline.iter_group_pass = wrapped  # type: ignore[assignment]
    try:
        yield records
    finally:
        grouped_pipeline.iter_group_pass = original  # type: ignore[assignment]


@dataclass
class _Contribution:
    """What one group adds to the canvas for one candidate: pixels, weighted sum, weight."""

    pixels: NDArray[np.intp]
    total: NDArray[np.float64]
    weight: NDArray[np.float64]


class _PerGroupRank:
    """Keeps the leading ``counts[g]`` eigenpatches of group ``g`` (a candidate of the
    threshold ladder: each group its own count)."""

    name = "per-group counts"

    def __init__(self, counts: Sequence[int]) -> None:
        self.counts = [int(k) for k in counts]

    def select(self, eigenpatches: NDArray[np.floating], eigenvalues: NDArray[np.floating],
               context: SelectionContext) -> NDArray[np.bool_]:
        return np.arange(len(eigenvalues)) < self.counts[context.stack_index]


def group_contributions(record: PassRecord, ks: Sequence[int | Sequence[int]]
                        ) -> list[list[_Contribution]]:
    """Redo a recorded pass once per entry of ``ks``: an ``int`` ``k`` (every group keeps
    its leading ``k``) or one count per group (group ``g`` keeps its leading ``k[g]``).

    Returns ``[group][candidate]`` contributions to the canvas; any per-group choice of
    candidates can then be assembled into the pass's image without running it again.
    """
    per_group: list[list[_Contribution]] = []
    for k in ks:
        selector = FixedRank(int(k)) if np.isscalar(k) else _PerGroupRank(k)  # type: ignore
        previous: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        for index, (_, canvas) in enumerate(grouped_pipeline.iter_group_pass(
                record.patches, record.labels, selector=selector,
                noise_variance=record.noise_variance, pilot=record.pilot,
                n_classified=record.n_classified, **record.options)):
            now = canvas.totals()
            before = previous if previous is not None else (np.zeros_like(now[0]),
                                                            np.zeros_like(now[1]))
            changed = np.flatnonzero(now[1] != before[1])
            contribution = _Contribution(changed, now[0][changed] - before[0][changed],
                                         now[1][changed] - before[1][changed])
            if len(per_group) <= index:
                per_group.append([])
            per_group[index].append(contribution)
            previous = now
    return per_group


def component_ratios(group: GroupComponents) -> NDArray[np.float64]:
    """Each of a group's components' eigenvalue over the white-noise edge (descending):
    the number the group classifier reads first (:func:`group_features`)."""
    context = group.context
    return noise_edge_ratio(np.clip(group.eigenvalues, 0.0, None), context.n_patches,
                            context.patch_dim, context.noise_variance or 1.0)


def threshold_ladder(groups: Sequence[GroupComponents], levels: Sequence[int]
                     ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The survey's candidate ladder: per level, one threshold on the noise-edge ratio
    for the whole image, and the count of leading components each group keeps above it.

    Level ``L`` keeps the ``L * G`` components of the image's ``G`` groups that stand
    highest above their groups' noise edge, so on average ``L`` per group: a strong group
    keeps more, a group near the noise fewer. A vote for a level then says where the
    useful components end *on the scale the classifier reads*, and every group's label
    follows from it; a ladder that kept the leading ``L`` of every group (the first one)
    called components deep in the noise useful in weak groups and clear signal useless
    in strong ones, labels a classifier of single components cannot learn.

    Returns
    -------
    thresholds : numpy.ndarray
        ``(n_levels,)`` decreasing ratios (0 where a level keeps every component shown).
    kept : numpy.ndarray
        ``(n_levels, G)`` leading components kept per group (descending ratio, so a
        count keeps exactly the components at or above the threshold).

    Examples
    --------
    >>> context = SelectionContext(patch_size=2, n_patches=100, noise_variance=1.0)
    >>> strong = GroupComponents(np.zeros((4, 2, 2), np.float32),
    ...                          np.array([9e4, 4e4, 900.0, 100.0]), context, np.zeros(4, bool), 1)
    >>> weak = GroupComponents(np.zeros((4, 2, 2), np.float32),
    ...                        np.array([9e4, 150.0, 120.0, 100.0]), context, np.zeros(4, bool), 1)
    >>> thresholds, kept = threshold_ladder([strong, weak], (1, 2))
    >>> kept.tolist()
    [[1, 1], [3, 1]]
    """
    ratios = [component_ratios(group) for group in groups]
    pooled = np.sort(np.concatenate(ratios) if ratios else np.zeros(0))[::-1]
    thresholds = np.zeros(len(levels))
    for index, level in enumerate(levels):
        count = int(level) * len(groups)
        if count < len(pooled):
            above, below = float(pooled[count - 1]), float(pooled[count])
            # between the last kept and the first dropped ratio (geometric: the ratios
            # span decades), so the level keeps those exactly
            thresholds[index] = float(np.sqrt(above * below)) if below > 0 else above / 2
    kept = np.array([[int(np.count_nonzero(r >= t)) if t > 0 else len(r) for r in ratios]
                     for t in thresholds], dtype=np.int64).reshape(len(levels), len(groups))
    return thresholds, kept


def label_threshold(levels: Sequence[int], thresholds: Sequence[float], mean_k: float
                    ) -> float:
    """The noise-edge ratio a mean choice ``mean_k`` of a threshold ladder's levels sets:
    a level's own threshold at a whole level, interpolated (in log) between levels,
    clamped at the ends; 0 (everything useful) where the ladder keeps everything.

    Examples
    --------
    >>> levels, thresholds = (1, 2, 3), (8.0, 2.0, 0.0)
    >>> [round(label_threshold(levels, thresholds, k), 6) for k in (0.5, 1.5, 2.0, 3.0)]
    [8.0, 4.0, 2.0, 0.0]
    """
    tiny = float(np.finfo(float).tiny)
    logs = np.log(np.maximum(np.asarray(thresholds, dtype=np.float64), tiny))
    found = float(np.exp(np.interp(float(mean_k), np.asarray(levels, np.float64), logs)))
    return found if found > 2.0 * tiny else 0.0


def oracle_ks(contributions: list[list[_Contribution]], ks: Sequence[int], *,
              clean: NDArray[np.float64],
              back: Callable[[NDArray[np.float64]], NDArray[np.float64]] | OutputStep,
              pixel_weights: NDArray[np.float64] | None = None, start: Sequence[int] | None = None,
              sweeps: int = 2) -> tuple[list[int], NDArray[np.float64]]:
    """Per group, the candidate ``k`` whose output is closest to the clean image.

    Coordinate descent over groups: each group in turn takes the candidate that lowers
    the (pixel-weighted) squared error of the whole output, in detector units, with the
    other groups' choices fixed. ``back`` is the way out of the working domain: a
    pixel-wise function, or the run's :class:`OutputStep`, whose local means (step 7)
    spread a group's change over its neighbourhood; the error is then that of the image
    a user would get.

    Returns the chosen ``k`` per group and the resulting image (working domain).
    """
    target = np.asarray(clean, dtype=np.float64)
    if isinstance(back, OutputStep) and back.scale != 1.0:
        target = target / back.scale  # the step works in the data's working scale
    weights = np.ones_like(target) if pixel_weights is None else \
        np.asarray(pixel_weights, dtype=np.float64).reshape(target.shape)
    n_groups = len(contributions)
    choice = [0] * n_groups if start is None else [
        int(np.argmin([abs(k - s) for k in ks])) for s in start]
    total = np.zeros(target.size)
    weight = np.zeros(target.size)
    for g, c in enumerate(choice):
        part = contributions[g][c]
        np.add.at(total, part.pixels, part.total)
        np.add.at(weight, part.pixels, part.weight)
    step = back if isinstance(back, OutputStep) else None
    # step 6, pixel by pixel; the local means (step 7) below, where the run took them
    pixelwise = back if step is None else step.inverse
    data = None if step is None else step.data
    if data is not None:
        assert step is not None
        sigma, floor = local_mean_sigma(step.patch_size), step.floor
        estimate = pixelwise(total / np.maximum(weight, 1e-300)).reshape(target.shape)
        # before the floor: estimate + G * (data - estimate)
        restored = estimate + ndimage.gaussian_filter(data - estimate, sigma, mode="reflect")
    for _ in range(sweeps):
        changed = False
        for g in range(n_groups):
            current = contributions[g][choice[g]]
            pixels = current.pixels
            base_total = total[pixels] - current.total
            base_weight = weight[pixels] - current.weight
            # a group covers the same pixels whatever it keeps
            values = [pixelwise((base_total + candidate.total)
                                / np.maximum(base_weight + candidate.weight, 1e-300))
                      for candidate in contributions[g]]
            if data is not None:
                errors, updates = _local_errors(values, pixels, estimate, restored,
                                                target, weights, sigma, floor)
            else:
                errors = [float(np.sum(weights.flat[pixels] * (v - target.flat[pixels]) ** 2))
                          for v in values]
            best = choice[g]
            for c, error in enumerate(errors):
                if error < errors[best] - 1e-12 * abs(errors[best]):
                    best = c
            if best != choice[g]:
                chosen = contributions[g][best]
                total[pixels] = base_total + chosen.total
                weight[pixels] = base_weight + chosen.weight
                if data is not None:
                    estimate.flat[pixels] = values[best]
                    restored += updates[best]
                choice[g], changed = best, True
        if not changed:
            break
    image = np.where(weight > 0, total / np.maximum(weight, 1e-300), np.nan)
    return [int(ks[c]) for c in choice], image.reshape(target.shape)


def _local_errors(values: list[NDArray[np.float64]], pixels: NDArray[np.intp],
                  estimate: NDArray[np.float64], restored: NDArray[np.float64],
                  target: NDArray[np.float64], weights: NDArray[np.float64], sigma: float,
                  floor: float | None) -> tuple[list[float], NDArray[np.float64]]:
    """The whole output's weighted squared error for each of a group's candidate values
    (detector units, on its pixels), with the local means: a change ``d`` of the
    estimate changes the output by ``d - G * d``. Returns the errors and each
    candidate's change of the output before the floor."""
    changes = np.zeros((len(values),) + target.shape)
    for index, value in enumerate(values):
        changes[index].flat[pixels] = value - estimate.flat[pixels]
    # each candidate's change minus its local mean (one filter over the stack)
    changes -= ndimage.gaussian_filter(changes, (0.0, sigma, sigma), mode="reflect")
    output = restored[None] + changes
    if floor is not None and np.isfinite(floor):
        np.maximum(output, floor, out=output)
    errors = np.einsum("cij,ij->c", (output - target[None]) ** 2, weights)
    return [float(e) for e in errors], changes


@dataclass
class GroupComponents:
    """One group's leading components as the classifier sees them, with the oracle's labels."""

    eigenpatches: NDArray[np.float32]
    eigenvalues: NDArray[np.float64]
    context: SelectionContext
    labels: NDArray[np.bool_]
    pass_index: int


def _group_components(record: PassRecord, ks_chosen: Sequence[int], pass_index: int
                      ) -> Iterator[GroupComponents]:
    """Each group's decomposition redone as the method does it, labelled by the oracle."""
    p, dim = record.patches.patch_size, record.patches.patch_dim
    groups = group_positions(record.labels)
    shown = dim if record.n_classified is None else min(int(record.n_classified), dim)
    centre_groups = bool(record.options.get("centre_groups", True))
    for index, positions in enumerate(groups):
        rows = record.patches.gather(positions)
        # as the pass did it: around the group mean, or uncentred
        centred = rows - rows.mean(axis=0) if centre_groups else rows
        values, vectors = np.linalg.eigh(centred.T @ centred)
        values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
        eigenpatches = np.ascontiguousarray(vectors[:, :shown].T).reshape(shown, p, p)
        context = SelectionContext(patch_size=p, n_patches=len(positions), stack_index=index,
                                   n_stacks=len(groups), spectrum=values,
                                   noise_variance=record.noise_variance, centred=centre_groups)
        labels = np.arange(shown) < int(ks_chosen[index])
        yield GroupComponents(eigenpatches.astype(np.float32), values[:shown].copy(), context,
                              labels, pass_index)


@dataclass
class GroupExamples:
    """Flat arrays of labelled components (what the group network trains on).

    ``x`` ``(M,1,25,25)`` float16 eigenpatch images, ``scalars`` ``(M, 4)`` float32,
    ``labels`` ``(M,)`` bool, ``groups`` ``(M,)`` int: the image
    (scene) each component comes from, so a split keeps a scene on one side, and
    ``provenance``: one dict per image.
    """

    x: NDArray[np.float16]
    scalars: NDArray[np.float32]
    labels: NDArray[np.bool_]
    groups: NDArray[np.int64]
    provenance: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls) -> GroupExamples:
        return cls(np.zeros((0, 1, 25, 25), np.float16), np.zeros((0, N_SCALARS), np.float32),
                   np.zeros(0, bool), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def concatenate(cls, parts: Sequence[GroupExamples]) -> GroupExamples:
        """One set from several; image indices are renumbered to stay distinct."""
        if not parts:
            return cls.empty()
        offset, groups, provenance = 0, [], []
        for part in parts:
            groups.append(part.groups + offset)
            provenance.extend(part.provenance)
            offset += len(part.provenance) if part.provenance \
                else int(part.groups.max(initial=-1)) + 1
        return cls(np.concatenate([p.x for p in parts]),
                   np.concatenate([p.scalars for p in parts]),
                   np.concatenate([p.labels for p in parts]),
                   np.concatenate(groups), provenance)

    def save(self, path: Any) -> None:
        """Write as ``.npz`` (provenance as JSON text)."""
        np.savez_compressed(path, x=self.x, scalars=self.scalars, labels=self.labels,
                            groups=self.groups,
                            provenance=np.array(json.dumps(self.provenance)))

    @classmethod
    def load(cls, path: Any) -> GroupExamples:
        """Read what :meth:`save` wrote (no pickles)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(data["x"], data["scalars"], data["labels"].astype(bool),
                       data["groups"].astype(np.int64), json.loads(str(data["provenance"])))


def components_to_examples(components: Sequence[GroupComponents], *, image_index: int = 0,
                           provenance: dict[str, Any] | None = None) -> GroupExamples:
    """Features and labels of recorded group components (one image)."""
    xs, scalars, labels = [], [], []
    for group in components:
        x, s = group_features(group.eigenpatches, group.eigenvalues, group.context)
        xs.append(x.astype(np.float16))
        scalars.append(s)
        labels.append(group.labels)
    if not xs:
        return GroupExamples.empty()
    n = sum(len(v) for v in labels)
    return GroupExamples(np.concatenate(xs), np.concatenate(scalars), np.concatenate(labels),
                         np.full(n, image_index, np.int64),
                         [dict(provenance or {})])


#: Candidate numbers of kept components per group the oracle chooses from.
ORACLE_KS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 25)


@dataclass
class LabelledRun:
    """One image through the default method, with the oracle's per-group choice."""

    components: list[GroupComponents]
    result: GroupedResult
    oracle_ks: list[int]
    run_ks: list[int]
    oracle_image: NDArray[np.float64]
    _record: PassRecord
    _pass_index: int
    _noisy: NDArray[np.float64] | None = None

    def candidates(self, levels: Sequence[int]) -> GroupCandidates:
        """This run's survey candidates at per-group counts ``levels`` (as
        :func:`group_candidates` makes them from the same run; only the last pass is
        redone, once per level)."""
        assert self._noisy is not None
        return _candidates_of(self._record, self._pass_index, self.result, self._noisy, levels,
                              tuple(np.shape(self.oracle_image)))


def label_case(noisy: NDArray[np.float64], clean: NDArray[np.float64], *,
               selector: Any = None, seed: int = 0,
               pixel_weights: NDArray[np.float64] | None = None,
               ks: Sequence[int] = ORACLE_KS) -> LabelledRun:
    """Run the default method on ``noisy``; label each group of its last pass.

    The run uses ``selector`` (default: the noise-edge rule, the method's fallback). Its
    last pass, which makes the output, is redone for every candidate ``k`` and the oracle
    (:func:`oracle_ks`) picks each group's ``k`` against ``clean`` (expected counts),
    weighting pixels by ``pixel_weights`` (e.g. more on defects: fidelity, not only PSNR).
    The first ``k`` components of a group are labelled useful, the others not.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:48, :48]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> run = label_case(rng.poisson(clean).astype(float), clean, ks=(0, 2, 4))
    >>> len(run.components) == len(run.result.last_pass), set(run.oracle_ks) <= {0, 2, 4}
    (True, True)
    """
    with recorded_group_passes() as records:
        result = denoise_grouped(noisy, classifier=selector, seed=seed)
    record = records[-1]
    assert result.noise_model is not None
    # judged as the user gets it: the run's own way out, local means included
    step = output_step(noisy, result)
    contributions = group_contributions(record, ks)
    run_ks = [g.n_kept for g in result.last_pass]
    chosen, image = oracle_ks(contributions, ks, clean=clean, back=step,
                              pixel_weights=pixel_weights, start=run_ks)
    components = list(_group_components(record, chosen, len(records) - 1))
    return LabelledRun(components, result, chosen, run_ks,
                       np.asarray(step(image), dtype=np.float64), record, len(records) - 1,
                       np.asarray(noisy, dtype=np.float64))


@dataclass(frozen=True)
class GroupCase:
    """A noisy simulated image with its truth: what labels and evaluations are made from.

    ``truth``/``perfect`` are a fidelity scene's column truth and defect-free image (None
    for a plain simulated crystal); ``defect_mask`` marks the pixels a defect changes.
    """

    key: str
    kind: str
    material: str
    dose: float
    noisy: NDArray[np.float64]
    clean: NDArray[np.float64]
    truth: Any = None
    perfect: NDArray[np.float64] | None = None
    defect_mask: NDArray[np.bool_] | None = None

    def pixel_weights(self, defect_weight: float) -> NDArray[np.float64] | None:
        """``1 + defect_weight`` on defect pixels, 1 elsewhere (None without a mask)."""
        if self.defect_mask is None or defect_weight == 0:
            return None
        return 1.0 + float(defect_weight) * np.asarray(self.defect_mask, dtype=np.float64)

    @property
    def provenance(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "material": self.material,
                "dose": self.dose}


#: Extra weight of a defect's pixels in the oracle's error: a defect is a few percent of
#: an image, and a rule tuned on PSNR alone averages it away (issue 14).
DEFAULT_DEFECT_WEIGHT = 4.0


def build_group_examples(cases: Sequence[GroupCase], *, seed: int = 0,
                         defect_weight: float = DEFAULT_DEFECT_WEIGHT,
                         ks: Sequence[int] = ORACLE_KS,
                         progress: Callable[[int, int], None] | None = None,
                         ) -> GroupExamples:
    """Label every group of every case's last pass (see :func:`label_case`)."""
    parts = []
    for index, case in enumerate(cases):
        try:
            run = label_case(case.noisy, case.clean, seed=seed,
                             pixel_weights=case.pixel_weights(defect_weight), ks=ks)
        except PatchSizeError:
            # the default method refuses an image without visible structure (an upload
            # of it is refused too), so it has no groups to teach anything about
            if progress is not None:
                progress(index + 1, len(cases))
            continue
        provenance = {**case.provenance, "oracle_k_mean": float(np.mean(run.oracle_ks)),
                      "run_k_mean": float(np.mean(run.run_ks))}
        parts.append(components_to_examples(run.components, provenance=provenance))
        if progress is not None:
            progress(index + 1, len(cases))
    return GroupExamples.concatenate(parts)


#: Fidelity scenes of the held-out evaluation: held-out materials only, fixed seeds.
HELD_OUT_SCENES: tuple[tuple[str, str], ...] = (
    ("vacancies_thick", "Au_110"), ("thickness_steps", "Au_110"),
    ("interface", "Au_110"), ("scan_distortion", "GaAs_110"),
)


def crystal_cases(*, materials: Sequence[str], n_scenes: int, seed: int,
                  size: int = 128, doses: Sequence[float] | None = None) -> list[GroupCase]:
    """Simulated crystals (:func:`training.examples.simulated_cases`), every paper dose."""
    return [GroupCase(key=case.key, kind="crystal", material=case.material, dose=case.dose,
                      noisy=np.asarray(case.noisy, np.float64),
                      clean=np.asarray(case.clean, np.float64))
            for case in simulated_cases(materials=materials, n_scenes=n_scenes,
                                        doses=tuple(doses or PAPER_DOSES),
                                        shape=(size, size), seed=seed)]


def scene_cases(pairs: Sequence[tuple[str, str]], *, seed: int, size: int = 128,
                doses: Sequence[float] | None = None) -> list[GroupCase]:
    """Fidelity scenes (``(scene name, material)`` pairs), every scene dose (e/px)."""
    cases = []
    for index, (name, material) in enumerate(pairs):
        for dose in tuple(doses or DOSES):
            scene = make_scene(name, dose, seed=seed + index, size=size, material=material)
            cases.append(GroupCase(
                key=f"scene:{name}:{material}:{seed + index}", kind=f"scene:{name}",
                material=material, dose=float(dose), noisy=scene.noisy, clean=scene.clean,
                truth=scene.truth, perfect=scene.perfect, defect_mask=scene.defect_mask))
    return cases


def training_scene_pairs(n: int, *, seed: int) -> list[tuple[str, str]]:
    """``n`` (scene, material) pairs drawn from the scenes' non-held-out materials."""
    options = [(name, material) for name, materials in sorted(SCENE_MATERIALS.items())
               for material in materials if material not in HELD_OUT_MATERIALS]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(options))
    return [options[order[i % len(options)]] for i in range(n)]


def training_group_cases(*, n_crystals: int = 12, n_scenes: int = 8, seed: int = 0,
                         size: int = 128) -> list[GroupCase]:
    """Training images: crystals of the training materials and fidelity scenes of
    non-held-out materials, at every dose (never a held-out material)."""
    cases = crystal_cases(materials=TRAINING_MATERIALS, n_scenes=n_crystals, seed=seed,
                          size=size) if n_crystals else []
    if n_scenes:
        cases += scene_cases(training_scene_pairs(n_scenes, seed=seed), seed=1000 + seed,
                             size=size)
    return cases


def held_out_group_cases(*, n_crystals: int = 3, size: int = 128, seed: int = 424242,
                         scenes: bool = True) -> list[GroupCase]:
    """The fixed held-out set: held-out materials only, fixed seeds (crystals and scenes)."""
    return (crystal_cases(materials=HELD_OUT_MATERIALS, n_scenes=n_crystals, seed=seed,
                          size=size)
            + (scene_cases(HELD_OUT_SCENES, seed=seed, size=size) if scenes else []))


@dataclass
class GroupCandidates:
    """One run of the default method and its outputs at every level ``1..L`` of the
    threshold ladder (:func:`threshold_ladder`).

    Survey candidates of the default method: level ``L`` keeps, in every group of the
    run's last pass (everything else as the run did it), the leading components whose
    eigenvalue stands above one threshold on the noise-edge ratio, chosen so that the
    groups keep ``L`` on average; so the candidates differ only in how many eigenpatches
    the groups keep, and a vote ranks outputs a user would actually get. ``groups`` are
    the last pass's groups as the classifier sees them (what the survey's labels train
    on); ``thresholds`` and ``kept`` (``(L, G)``) say what each level keeps.
    """

    levels: tuple[int, ...]
    groups: list[GroupComponents]
    patch_size: int
    _contributions: list[list[_Contribution]]
    _back: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    _shape: tuple[int, int]
    thresholds: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    kept: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def reconstruct(self, level: int) -> NDArray[np.float32]:
        """The output at ``level`` (each group keeping its ``kept`` count at that level)."""
        index = self.levels.index(int(level))
        size = self._shape[0] * self._shape[1]
        total, weight = np.zeros(size), np.zeros(size)
        for per_group in self._contributions:
            part = per_group[index]
            np.add.at(total, part.pixels, part.total)
            np.add.at(weight, part.pixels, part.weight)
        values = np.where(weight > 0, total / np.maximum(weight, 1e-300), 0.0)
        return self._back(values.reshape(self._shape)).astype(np.float32)

    def group_arrays(self) -> dict[str, NDArray[Any]]:
        """The groups as plain arrays (for an ``.npz``; :func:`groups_from_arrays` reads it)."""
        k = max((len(g.eigenvalues) for g in self.groups), default=0)
        p = self.patch_size
        eigenpatches = np.zeros((len(self.groups), k, p, p), np.float32)
        eigenvalues = np.zeros((len(self.groups), k))
        for i, group in enumerate(self.groups):
            eigenpatches[i, :len(group.eigenvalues)] = group.eigenpatches
            eigenvalues[i, :len(group.eigenvalues)] = group.eigenvalues
        return {"eigenpatches": eigenpatches, "eigenvalues": eigenvalues,
                "n_patches": np.array([g.context.n_patches for g in self.groups], np.int64),
                "noise_variance": np.array([g.context.noise_variance or 1.0
                                            for g in self.groups]),
                "centred": np.array([g.context.centred for g in self.groups]),
                "levels": np.array(self.levels, np.int64),
                "thresholds": np.asarray(self.thresholds, np.float64),
                "kept": np.asarray(self.kept, np.int64)}


def groups_from_arrays(arrays: Any) -> list[GroupComponents]:
    """Inverse of :meth:`GroupCandidates.group_arrays` (labels all False)."""
    eigenpatches = np.asarray(arrays["eigenpatches"], np.float32)
    p = eigenpatches.shape[-1]
    groups = []
    for i in range(eigenpatches.shape[0]):
        context = SelectionContext(patch_size=p, n_patches=int(arrays["n_patches"][i]),
                                   stack_index=i, n_stacks=eigenpatches.shape[0],
                                   noise_variance=float(arrays["noise_variance"][i]),
                                   centred=bool(arrays["centred"][i]))
        values = np.asarray(arrays["eigenvalues"][i], np.float64)
        groups.append(GroupComponents(eigenpatches[i], values, context,
                                      np.zeros(len(values), bool), 1))
    return groups


def group_candidates(noisy: NDArray[np.float64], *, max_level: int = 12, seed: int = 0,
                     selector: Any = None) -> GroupCandidates:
    """Run the default method once; make its outputs at the levels ``1..max_level`` of the
    threshold ladder (:func:`threshold_ladder`: on average that many components per group).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y, x = np.mgrid[:48, :48]
    >>> clean = 20 * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    >>> made = group_candidates(rng.poisson(clean).astype(float), max_level=3)
    >>> made.levels, made.reconstruct(2).shape, len(made.groups) > 0
    ((1, 2, 3), (48, 48), True)
    """
    if int(max_level) < 2:
        raise ValueError("a survey needs at least two candidate levels")
    with recorded_group_passes() as records:
        result = denoise_grouped(noisy, classifier=selector, seed=seed)
    return _candidates_of(records[-1], len(records) - 1, result, noisy,
                          range(1, int(max_level) + 1), tuple(np.shape(noisy)))


def _candidates_of(record: PassRecord, pass_index: int, result: GroupedResult,
                   noisy: NDArray[np.float64], levels: Sequence[int],
                   shape: tuple[int, ...]) -> GroupCandidates:
    """The candidates of a recorded run: its last pass redone once per level."""
    assert result.noise_model is not None
    levels = tuple(int(k) for k in levels)
    groups = list(_group_components(record, [0] * len(group_positions(record.labels)),
                                    pass_index))
    thresholds, kept = threshold_ladder(groups, levels)
    contributions = group_contributions(record, [row.tolist() for row in kept])
    # shown as the user gets them: the method's own way out, local means included
    return GroupCandidates(levels, groups, record.patches.patch_size, contributions,
                           output_step(noisy, result), shape,
                           thresholds=thresholds, kept=kept)
