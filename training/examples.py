"""Labelled eigenpatch stacks: building them from simulations, storing them as ``.npz``.

Pure numpy (plus the REUCID core); no Django. One :class:`LabelledStack` is one image's
eigenpatches with a usefulness label each; its ``key`` names the scene it came from, so
every noisy version of one simulated crystal stays on one side of the split.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from denoiser.reucid.errors import PatchSizeError, ReucidError
from denoiser.reucid.paper.decomposition import decompose
from denoiser.reucid.paper.patch_size import estimate_patch_size
from denoiser.reucid.selection.cnn import eigenpatch_features
from denoiser.reucid.simulation import (
    TRAINING_MATERIALS,
    add_dose_noise,
    expected_counts,
    simulate_haadf,
)

from .labels import DEFAULT_LABEL_RULE, PAPER_IEF_CONSTANT, auto_label, labels_from_k

#: The doses of the paper's evaluation, in electrons per Å².
PAPER_DOSES: tuple[float, ...] = (100.0, 500.0, 1000.0, 10000.0)
N_COMPONENTS = 25


@dataclass
class LabelledStack:
    """One image's eigenpatches and their labels.

    Attributes
    ----------
    key
        Group key: all stacks of one scene (or one survey image) share it.
    eigenpatches
        ``(K, p, p)`` float32.
    eigenvalues
        ``(K,)`` descending.
    labels
        ``(K,)`` bool, True = useful.
    k_star
        Number of useful eigenpatches chosen by the rule (or the survey).
    source
        ``"auto"`` or ``"survey"``.
    provenance
        Material, dose, pixel size, seed, rule... (JSON-serialisable).
    """

    key: str
    eigenpatches: np.ndarray
    eigenvalues: np.ndarray
    labels: np.ndarray
    k_star: int
    source: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def patch_size(self) -> int:
        return int(self.eigenpatches.shape[-1])


@dataclass(frozen=True)
class SimulatedCase:
    """A noisy simulated image, its expected counts and where it came from."""

    key: str
    material: str
    dose: float
    pixel_size_A: float
    noisy: np.ndarray
    clean: np.ndarray
    parameters: dict[str, Any]


def simulated_cases(
    *,
    materials: Sequence[str] = TRAINING_MATERIALS,
    n_scenes: int,
    doses: Sequence[float] = PAPER_DOSES,
    shape: tuple[int, int] = (128, 128),
    sizes: Sequence[int] | None = None,
    pixel_doses: Sequence[float] = (),
    aligned_share: float = 0.0,
    seed: int = 0,
) -> Iterator[SimulatedCase]:
    """Scenes cycling through ``materials``, each imaged at every dose.

    With ``sizes``, scene i is a square image of side ``sizes[i % len(sizes)]`` (so the
    classifier sees stacks of different numbers of patches) instead of ``shape``.

    ``pixel_doses`` (electrons per pixel, i.e. per probe position, the unit of
    ``shared/data/sim`` and of many microscopes) images every scene once more per entry,
    at ``dose / pixel area`` e/Å². A dose per Å² puts few electrons in a small pixel
    (10⁴ e/Å² at 0.2 Å is 400 e/px); a dose per pixel reaches the high-count regime where
    many eigenpatches carry signal, which the per-Å² doses alone never show the network.

    ``aligned_share`` is the chance that a scene is a perfect bulk crystal in zone axis
    with its cell edges along the scan axes (rotation 0° or 90°, no vacancies,
    substitutions or background drift), as a tiled multislice simulation or a carefully
    aligned acquisition is. Such periodic images have many more useful eigenpatches than
    a randomly rotated, defective crystal. The draw comes from a stream of its own, so
    the other scenes are exactly those drawn without the option (same seeds).

    Examples
    --------
    >>> cases = list(simulated_cases(materials=["Si_110"], n_scenes=1, doses=[100, 1000],
    ...                              shape=(32, 32)))
    >>> [c.dose for c in cases], cases[0].key == cases[1].key
    ([100.0, 1000.0], True)
    >>> extra = list(simulated_cases(materials=["Si_110"], n_scenes=1, doses=[100],
    ...                              pixel_doses=[1000], aligned_share=1, shape=(32, 32)))
    >>> pixel_area = extra[1].pixel_size_A ** 2
    >>> round(extra[1].dose * pixel_area), extra[1].parameters["rotation_deg"] % 90
    (1000, 0.0)
    """
    if n_scenes < 1 or not materials or not (doses or pixel_doses):
        raise ValueError("need at least one scene, one material and one dose")
    if not 0.0 <= aligned_share <= 1.0:
        raise ValueError("aligned_share is a probability in [0, 1]")
    if any(float(d) <= 0 for d in (*doses, *pixel_doses)):
        raise ValueError("doses must be positive")
    root = np.random.SeedSequence(seed)
    for scene, child in enumerate(root.spawn(n_scenes)):
        material = materials[scene % len(materials)]
        scene_seed = int(child.generate_state(1)[0])
        side = sizes[scene % len(sizes)] if sizes else None
        # Drawn from a stream of the scene's own seed: reproducible, and it leaves the
        # streams that draw the scene and its noise untouched.
        layout_rng = np.random.default_rng([scene_seed, 1])
        aligned = bool(layout_rng.random() < aligned_share)
        perfect_bulk: dict[str, Any] = {}
        if aligned:
            quarter_turn = int(layout_rng.integers(2))
            perfect_bulk = {"rotation_deg": 90.0 * quarter_turn, "environment": "bulk",
                            "vacancy_fraction": 0.0, "substitution_fraction": 0.0,
                            "background": 0.0}
        image = simulate_haadf(material, shape=(side, side) if side else shape, rng=scene_seed,
                               **perfect_bulk)
        noise_rng = np.random.default_rng(child.spawn(1)[0])
        key = f"sim:{material}:{seed}:{scene}"
        pixel_area = image.pixel_size_A ** 2
        scene_doses = [(float(d), None) for d in doses] + [
            (float(d) / pixel_area, float(d)) for d in pixel_doses]
        for dose, dose_per_pixel in scene_doses:
            parameters = {**image.parameters, "scene_seed": scene_seed, "aligned": aligned}
            if dose_per_pixel is not None:
                parameters["dose_e_per_px"] = dose_per_pixel
            yield SimulatedCase(
                key=key, material=material, dose=dose, pixel_size_A=image.pixel_size_A,
                noisy=add_dose_noise(image.clean, dose, image.pixel_size_A, rng=noise_rng),
                clean=expected_counts(image.clean, dose, image.pixel_size_A),
                parameters=parameters,
            )


def label_case(
    case: SimulatedCase,
    *,
    rule: str = DEFAULT_LABEL_RULE,
    c: float = PAPER_IEF_CONSTANT,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
) -> LabelledStack | None:
    """Decompose a simulated image and label its eigenpatches with ``rule``.

    When the noisy image is too noisy for the core to estimate a patch size, the size is
    estimated from the ground truth instead. Returns None when even that fails (e.g. a
    featureless image), so one hopeless image never stops a batch.
    """
    try:
        try:
            decomposition = decompose(case.noisy, n_components=n_components, seed=seed)
        except PatchSizeError:
            # Too noisy to size a patch from; the ground truth still knows the column
            # size, as a microscopist passing patch_size by hand would.
            patch_size = estimate_patch_size(case.clean).patch_size
            decomposition = decompose(case.noisy, patch_size=patch_size,
                                      n_components=n_components, seed=seed)
    except ReucidError:
        return None
    k_max = decomposition.n_components
    reconstructions = decomposition.reconstructions(range(1, k_max + 1))
    result = auto_label(case.noisy, case.clean, reconstructions, rule=rule, c=c)
    return LabelledStack(
        key=case.key,
        eigenpatches=decomposition.eigenpatches.astype(np.float32),
        eigenvalues=np.asarray(decomposition.eigenvalues, dtype=np.float64),
        labels=result.labels,
        k_star=result.k_star,
        source="auto",
        provenance={
            "material": case.material, "dose_e_per_A2": case.dose,
            "pixel_size_A": case.pixel_size_A, "rule": rule, "c": result.c,
            "patch_size": decomposition.patch_size,
            "psnr_best": float(result.psnr.max()),
            "k_paper_rule": int(np.argmax(np.log(result.ief)
                                          - np.arange(1, k_max + 1) * np.log(c))) + 1,
            "scene": case.parameters,
        },
    )


def build_auto_stacks(
    *,
    materials: Sequence[str] = TRAINING_MATERIALS,
    n_scenes: int,
    doses: Sequence[float] = PAPER_DOSES,
    shape: tuple[int, int] = (128, 128),
    sizes: Sequence[int] | None = None,
    pixel_doses: Sequence[float] = (),
    aligned_share: float = 0.0,
    rule: str = DEFAULT_LABEL_RULE,
    c: float = PAPER_IEF_CONSTANT,
    n_components: int = N_COMPONENTS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[LabelledStack]:
    """Simulate, add noise, decompose and label ``n_scenes × (len(doses) + len(pixel_doses))``
    images (``pixel_doses`` and ``aligned_share`` as in :func:`simulated_cases`).

    Each image contributes its ``n_components`` leading eigenpatches (fewer when the
    patch has fewer pixels), so the labels' k* is capped there too.
    """
    stacks: list[LabelledStack] = []
    total = n_scenes * (len(doses) + len(pixel_doses))
    for done, case in enumerate(simulated_cases(materials=materials, n_scenes=n_scenes,
                                                 doses=doses, shape=shape, sizes=sizes,
                                                 pixel_doses=pixel_doses,
                                                 aligned_share=aligned_share,
                                                 seed=seed), 1):
        stack = label_case(case, rule=rule, c=c, n_components=n_components, seed=seed)
        if stack is not None:
            stacks.append(stack)
        if progress is not None:
            progress(done, total)
    return stacks


def survey_stack(label: Any) -> LabelledStack:
    """A stack from a ``survey.selectors.SurveyLabel``: the first round(mean k) are useful."""
    eigenpatches = np.asarray(label.eigenpatches, dtype=np.float32)
    useful = getattr(label, "useful", None)  # the survey app's own rounding, when it has one
    if useful is not None:
        labels = np.asarray(useful, dtype=bool).copy()
        k = int(labels.sum())
    else:
        k = int(np.clip(np.floor(float(label.mean_k) + 0.5), 0, len(eigenpatches)))
        labels = labels_from_k(k, len(eigenpatches))
    return LabelledStack(
        key=f"survey:{label.image_id}",
        eigenpatches=eigenpatches,
        eigenvalues=np.asarray(label.eigenvalues, dtype=np.float64),
        labels=labels,
        k_star=k,
        source="survey",
        provenance={"mean_k": float(label.mean_k), "n_responses": int(label.n_responses),
                    **dict(label.provenance or {})},
    )


def stacks_to_arrays(
    stacks: Iterable[LabelledStack],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CNN inputs for every eigenpatch: ``x (N,1,25,25)``, ``lam``, ``labels``, ``groups``."""
    xs, lams, ys, groups = [], [], [], []
    for stack in stacks:
        x, lam = eigenpatch_features(stack.eigenpatches, stack.eigenvalues)
        xs.append(x)
        lams.append(lam)
        ys.append(stack.labels.astype(np.float32))
        groups.extend([stack.key] * len(x))
    if not xs:
        raise ValueError("no labelled eigenpatches to train on")
    return np.concatenate(xs), np.concatenate(lams), np.concatenate(ys), np.asarray(groups)


def save_stacks(stacks: Sequence[LabelledStack], path: str | os.PathLike[str]) -> Path:
    """Write stacks to one compressed ``.npz`` (no pickles; see ``LabelledDataset``)."""
    arrays: dict[str, np.ndarray] = {
        "image_keys": np.asarray([s.key for s in stacks], dtype=str),
        "sources": np.asarray([s.source for s in stacks], dtype=str),
        "k_star": np.asarray([s.k_star for s in stacks], dtype=np.int64),
        "provenance_json": np.asarray([json.dumps(s.provenance, default=str) for s in stacks],
                                      dtype=str),
    }
    for index, stack in enumerate(stacks):
        arrays[f"eigenpatches_{index}"] = stack.eigenpatches.astype(np.float32)
    arrays["eigenvalues"] = np.concatenate([s.eigenvalues for s in stacks]) if stacks \
        else np.zeros(0)
    arrays["labels"] = np.concatenate([s.labels for s in stacks]) if stacks \
        else np.zeros(0, bool)
    arrays["image_index"] = np.concatenate(
        [np.full(len(s.labels), i) for i, s in enumerate(stacks)]) if stacks else np.zeros(0, int)
    arrays["component_index"] = np.concatenate(
        [np.arange(len(s.labels)) for s in stacks]) if stacks else np.zeros(0, int)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return target


def load_stacks(path: str | os.PathLike[str] | Any) -> list[LabelledStack]:
    """Read stacks written by :func:`save_stacks` (a path or an open binary file)."""
    with np.load(path, allow_pickle=False) as data:
        keys = data["image_keys"]
        image_index = data["image_index"]
        stacks = []
        for index, key in enumerate(keys):
            rows = image_index == index
            stacks.append(LabelledStack(
                key=str(key),
                eigenpatches=data[f"eigenpatches_{index}"],
                eigenvalues=data["eigenvalues"][rows],
                labels=data["labels"][rows].astype(bool),
                k_star=int(data["k_star"][index]),
                source=str(data["sources"][index]),
                provenance=json.loads(str(data["provenance_json"][index])),
            ))
    return stacks
