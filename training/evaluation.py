"""What matters to users: denoised image quality with the classifier's selection.

For each held-out image with ground truth, one decomposition (K = the classifier's
``n_components``, else 25) is truncated three ways and compared against the clean image:

* ``cnn``: the classifier's selection;
* ``oracle``: the k with the best PSNR against the ground truth (an upper bound no
  classifier can beat with leading-k selections);
* ``mp``: the Marchenko-Pastur (MP-PCA) rank, the objective baseline.

Pure numpy (plus the REUCID core); no Django.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from denoiser.reucid.errors import ReucidError
from denoiser.reucid.metrics import psnr, ssim
from denoiser.reucid.paper.decomposition import decompose
from denoiser.reucid.selection import MarchenkoPastur, SelectionContext, required_components

from .examples import N_COMPONENTS, SimulatedCase

METHODS: tuple[str, ...] = ("cnn", "oracle", "mp")


@dataclass(frozen=True)
class EvaluationRow:
    """Quality of the three selections on one image."""

    key: str
    material: str
    dose: float
    k_cnn: int
    k_oracle: int
    k_mp: int
    psnr_noisy: float
    psnr_cnn: float
    psnr_oracle: float
    psnr_mp: float
    ssim_cnn: float
    ssim_oracle: float
    ssim_mp: float


def components_for(classifier: Any, n_components: int | None = None) -> int:
    """K for evaluating ``classifier``: the argument, else what the denoiser would use.

    The denoiser computes ``max(25, classifier.n_components_required)`` eigenpatches per
    stack (``classifiers.required_components``); a rule that wants ``"all"`` is scored
    on 25 here so that the table stays cheap.

    Examples
    --------
    >>> from denoiser.reucid.selection import FixedRank
    >>> components_for(object()), components_for(object(), 40), components_for(FixedRank(60))
    (25, 40, 60)
    """
    if n_components is not None:
        return int(n_components)

    needed = required_components(classifier, N_COMPONENTS)
    return N_COMPONENTS if needed == "all" else int(needed)


def evaluate_case(classifier: Any, case: SimulatedCase, *, n_components: int | None = None,
                  seed: int = 0) -> EvaluationRow | None:
    """Score one image; None when the core cannot decompose it (e.g. pure noise).

    ``n_components`` (default: the classifier's own, else 25) is K of the decomposition
    that all three selections truncate, so it also caps the oracle and MP-PCA ranks.
    """
    try:
        decomposition = decompose(case.noisy, n_components=components_for(classifier, n_components),
                                  seed=seed)
    except ReucidError:
        return None
    k_max = decomposition.n_components
    reconstructions = decomposition.reconstructions(range(1, k_max + 1))
    curve = np.array([psnr(case.clean, r) for r in reconstructions])
    k_oracle = int(np.argmax(curve)) + 1
    context = SelectionContext(patch_size=decomposition.patch_size,
                               n_patches=decomposition.sample_size,
                               n_stack_patches=decomposition.n_patches,
                               spectrum=decomposition.spectrum_source)
    mp_mask = np.asarray(MarchenkoPastur().select(
        decomposition.eigenpatches.copy(), decomposition.eigenvalues.copy(), context), bool)
    cnn_mask = np.asarray(classifier.select(
        decomposition.eigenpatches.copy(), decomposition.eigenvalues.copy(), context), bool)
    cnn_image = decomposition.reconstruct(cnn_mask)
    mp_image = decomposition.reconstruct(mp_mask)
    oracle_image = reconstructions[k_oracle - 1]
    return EvaluationRow(
        key=case.key, material=case.material, dose=case.dose,
        k_cnn=int(cnn_mask.sum()), k_oracle=k_oracle, k_mp=int(mp_mask.sum()),
        psnr_noisy=psnr(case.clean, case.noisy),
        psnr_cnn=psnr(case.clean, cnn_image), psnr_oracle=float(curve[k_oracle - 1]),
        psnr_mp=psnr(case.clean, mp_image),
        ssim_cnn=ssim(case.clean, cnn_image), ssim_oracle=ssim(case.clean, oracle_image),
        ssim_mp=ssim(case.clean, mp_image),
    )


def calibrate_threshold(
    classifier: Any,
    cases: Iterable[SimulatedCase],
    *,
    thresholds: Sequence[float] = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1),
    selections: Sequence[str] = ("independent", "leading"),
    n_components: int | None = None,
    seed: int = 0,
) -> tuple[float, str, dict[str, float]]:
    """The decision threshold and selection mode that maximise the mean PSNR.

    Dropping a signal eigenpatch costs more PSNR than keeping a noise one, so the best
    threshold on the sigmoid is often below 0.5. Use images of the *training*
    materials (not the held-out ones) so the held-out table stays honest.

    Returns the best threshold, the best selection mode (see
    :meth:`denoiser.reucid.selection.cnn.CNNClassifier.select`) and the mean PSNR of every pair
    tried (keys ``"<mode>@<threshold>"``).
    """
    pairs = [(mode, float(t)) for mode in selections for t in thresholds]
    totals: dict[tuple[str, float], list[float]] = {pair: [] for pair in pairs}
    for case in cases:
        try:
            decomposition = decompose(case.noisy,
                                      n_components=components_for(classifier, n_components),
                                      seed=seed)
        except ReucidError:
            continue
        probabilities = classifier.probabilities(decomposition.eigenpatches.copy(),
                                                 decomposition.eigenvalues.copy())
        order = np.argsort(-decomposition.eigenvalues, kind="stable")
        decomposition.reconstructions([1])  # computes every component's contribution once
        for mode, threshold in pairs:
            mask = probabilities >= threshold
            if mode == "leading":
                leading = np.zeros_like(mask)
                leading[order[: int(mask.sum())]] = True
                mask = leading
            totals[(mode, threshold)].append(psnr(case.clean, decomposition.reconstruct(mask)))
    if not any(totals.values()):
        raise ValueError("no calibration image could be decomposed")
    means = {f"{mode}@{t:g}": float(np.mean(v)) for (mode, t), v in totals.items()}
    best_mode, best_threshold = max(totals, key=lambda pair: (np.mean(totals[pair]), pair[1]))
    return float(best_threshold), best_mode, means


def evaluate_cases(classifier: Any, cases: Iterable[SimulatedCase], *,
                   n_components: int | None = None, seed: int = 0) -> list[EvaluationRow]:
    """Score every case that can be decomposed (K as in :func:`evaluate_case`)."""
    rows = [evaluate_case(classifier, case, n_components=n_components, seed=seed)
            for case in cases]
    return [row for row in rows if row is not None]


def summarise_by_dose(rows: Sequence[EvaluationRow]) -> list[dict[str, Any]]:
    """Mean PSNR/SSIM per dose (and overall), with the gaps that the acceptance uses.

    ``gap_to_oracle_db`` = mean(PSNR oracle − PSNR cnn); ``gain_over_mp_db`` =
    mean(PSNR cnn − PSNR mp).
    """
    groups: dict[Any, list[EvaluationRow]] = defaultdict(list)
    for row in rows:
        groups[row.dose].append(row)
        groups["all"].append(row)
    table = []
    for dose in sorted((d for d in groups if d != "all"), key=float) + (["all"] if rows else []):
        chunk = groups[dose]
        entry: dict[str, Any] = {"dose": dose, "n_images": len(chunk)}
        for metric in ("psnr_noisy", "psnr_cnn", "psnr_oracle", "psnr_mp",
                       "ssim_cnn", "ssim_oracle", "ssim_mp", "k_cnn", "k_oracle", "k_mp"):
            entry[metric] = float(np.mean([getattr(r, metric) for r in chunk]))
        entry["gap_to_oracle_db"] = entry["psnr_oracle"] - entry["psnr_cnn"]
        entry["gain_over_mp_db"] = entry["psnr_cnn"] - entry["psnr_mp"]
        table.append(entry)
    return table


def meets_acceptance(table: Sequence[dict[str, Any]], *, max_gap_db: float = 0.5) -> bool:
    """Within ``max_gap_db`` of the oracle and better than MP-PCA at every dose."""
    per_dose = [row for row in table if row["dose"] != "all"]
    return bool(per_dose) and all(
        row["gap_to_oracle_db"] <= max_gap_db and row["gain_over_mp_db"] > 0 for row in per_dose
    )


def rows_as_dicts(rows: Sequence[EvaluationRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def format_table(table: Sequence[dict[str, Any]], *, dose_unit: str = "e/Å²") -> str:
    """A Markdown table of :func:`summarise_by_dose` output."""
    lines = [
        (f"| dose ({dose_unit}) | images | PSNR noisy | PSNR CNN | PSNR oracle k | PSNR MP-PCA "
         "| CNN − oracle | CNN − MP | SSIM CNN | SSIM oracle | SSIM MP | k CNN / oracle / MP |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        dose = row["dose"] if row["dose"] == "all" else f"{float(row['dose']):g}"
        lines.append(
            f"| {dose} | {row['n_images']} | {row['psnr_noisy']:.2f} | {row['psnr_cnn']:.2f} | "
            f"{row['psnr_oracle']:.2f} | {row['psnr_mp']:.2f} | {-row['gap_to_oracle_db']:+.2f} | "
            f"{row['gain_over_mp_db']:+.2f} | {row['ssim_cnn']:.3f} | {row['ssim_oracle']:.3f} | "
            f"{row['ssim_mp']:.3f} | {row['k_cnn']:.1f} / {row['k_oracle']:.1f} / "
            f"{row['k_mp']:.1f} |"
        )
    return "\n".join(lines)


def shared_sim_cases(directory: Any) -> list[SimulatedCase]:
    """The abTEM images of ``shared/data/sim`` (256 px ones, all four doses per pixel)."""
    cases = []
    for path in sorted(Path(directory).glob("*_256.npz")):
        with np.load(path, allow_pickle=False) as data:
            pixel = data["pixel_size_A"]
            for dose in (100, 500, 1000, 10000):
                if f"noisy_{dose}" not in data:
                    continue
                cases.append(SimulatedCase(
                    key=f"abtem:{path.stem}", material=path.stem.rsplit("_", 1)[0],
                    dose=float(dose), pixel_size_A=float(np.mean(pixel)),
                    noisy=data[f"noisy_{dose}"].astype(np.float32),
                    clean=data[f"clean_{dose}"].astype(np.float32),
                    parameters={"file": path.name, "dose_unit": "e/px"},
                ))
    return cases
