"""Scoring a selector of the default method on the fixed held-out set: PSNR and fidelity.

Pure numpy (plus the REUCID core); no Django. The held-out set
(:func:`training.group_examples.held_out_group_cases`) holds only held-out materials at
fixed seeds: simulated crystals (PSNR) and fidelity scenes (PSNR plus defect contrast,
column intensities, column positions, residual correlation). :func:`compare_rows`
decides whether one selector is at least as good as another on every measure at every
dose; it is the retraining gate and the shipped model's acceptance test.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from denoiser.reucid.errors import PatchSizeError
from denoiser.reucid.grouped import denoise_grouped
from denoiser.reucid.metrics import psnr
from denoiser.reucid.metrics.fidelity import fidelity_metrics

from .group_examples import GroupCase

__all__ = ["FIDELITY_MEASURES", "TOLERANCES", "compare_rows", "evaluate_selector",
           "summarise_rows"]

#: Measure -> (direction, tolerance). ``+1``: higher is better; ``-1``: lower is better;
#: ``0``: closer to 1 is better. The tolerance is what a mean may lose and still count as
#: "at least as good": below the spread between seeds of one scene, so a gate does not
#: refuse a model for noise, and far below any change a microscopist would notice.
TOLERANCES: dict[str, tuple[int, float]] = {
    "psnr": (+1, 0.02),
    "defect_contrast": (+1, 0.02),
    "intensity_slope": (0, 0.01),
    "intensity_rel_rmse": (-1, 0.001),
    "position_error_pm": (-1, 0.1),
    "residual_correlation": (-1, 0.003),
}
#: The fidelity measures (every entry of :data:`TOLERANCES` but PSNR).
FIDELITY_MEASURES: tuple[str, ...] = tuple(m for m in TOLERANCES if m != "psnr")


def evaluate_selector(classifier: Any, cases: Sequence[GroupCase], *, seed: int = 0
                      ) -> list[dict[str, Any]]:
    """Denoise every case with the default method and this selector; one row per case.

    ``classifier`` is anything ``denoise_grouped`` accepts (None = the noise-edge rule).
    Cases the method refuses (no visible structure) are left out for every selector.
    """
    rows: list[dict[str, Any]] = []
    for case in cases:
        try:
            result = denoise_grouped(case.noisy, classifier=classifier, seed=seed)
        except PatchSizeError:
            continue
        row: dict[str, Any] = {**case.provenance, "psnr": psnr(case.clean, result.image),
                               "n_kept": float(np.mean([g.n_kept for g in result.last_pass]))}
        if case.truth is not None:
            measured = fidelity_metrics(case.clean, case.noisy, result.image, case.truth,
                                        perfect=case.perfect)
            row.update({name: float(measured[name]) for name in FIDELITY_MEASURES})
        rows.append(row)
    return rows


def _set_of(row: dict[str, Any]) -> str:
    return "scenes" if str(row.get("kind", "")).startswith("scene") else "crystals"


def summarise_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means per (set, dose): ``crystals`` (dose in e/Å²) and ``scenes`` (e/px).

    Examples
    --------
    >>> summarise_rows([{"kind": "crystal", "dose": 100.0, "psnr": 30.0, "n_kept": 2.0},
    ...                 {"kind": "crystal", "dose": 100.0, "psnr": 32.0, "n_kept": 4.0}])
    [{'set': 'crystals', 'dose': 100.0, 'n_images': 2, 'psnr': 31.0, 'n_kept': 3.0}]
    """
    keys = sorted({(_set_of(r), float(r["dose"])) for r in rows})
    summary = []
    for name, dose in keys:
        chosen = [r for r in rows if _set_of(r) == name and float(r["dose"]) == dose]
        entry: dict[str, Any] = {"set": name, "dose": dose, "n_images": len(chosen)}
        for measure in ("psnr", "n_kept", *FIDELITY_MEASURES):
            values = [float(r[measure]) for r in chosen
                      if measure in r and math.isfinite(float(r[measure]))]
            if values:
                entry[measure] = float(np.mean(values))
        summary.append(entry)
    return summary


def _not_worse(measure: str, candidate: float, reference: float) -> bool:
    direction, tolerance = TOLERANCES[measure]
    if direction > 0:
        return candidate >= reference - tolerance
    if direction < 0:
        return candidate <= reference + tolerance
    return abs(candidate - 1.0) <= abs(reference - 1.0) + tolerance


def compare_rows(candidate: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]],
                 *, min_psnr_gain: float = 0.0) -> dict[str, Any]:
    """Is ``candidate`` at least as good as ``reference`` on every measure at every dose?

    Both are :func:`evaluate_selector` rows of the same cases. Returns ``{"ok": bool,
    "psnr_gain_db": mean over all images, "by_dose": [per (set, dose): candidate and
    reference means and whether each measure holds], "failures": [what did not hold]}``;
    with ``min_psnr_gain`` the mean PSNR gain must also reach it.

    Examples
    --------
    >>> a = [{"kind": "crystal", "dose": 100.0, "psnr": 30.5, "n_kept": 3.0}]
    >>> b = [{"kind": "crystal", "dose": 100.0, "psnr": 30.0, "n_kept": 2.0}]
    >>> compare_rows(a, b)["ok"], compare_rows(b, a)["ok"], compare_rows(a, b)["psnr_gain_db"]
    (True, False, 0.5)
    """
    ours = {(r["set"], r["dose"]): r for r in summarise_rows(candidate)}
    theirs = {(r["set"], r["dose"]): r for r in summarise_rows(reference)}
    by_dose, failures = [], []
    for key in sorted(set(ours) & set(theirs)):
        entry: dict[str, Any] = {"set": key[0], "dose": key[1], "measures": {}}
        for measure in TOLERANCES:
            if measure in ours[key] and measure in theirs[key]:
                holds = _not_worse(measure, ours[key][measure], theirs[key][measure])
                entry["measures"][measure] = {"candidate": ours[key][measure],
                                              "reference": theirs[key][measure],
                                              "holds": holds}
                if not holds:
                    failures.append(f"{measure} at {key[1]:g} ({key[0]})")
        by_dose.append(entry)
    gain = float("nan")
    if candidate and reference:
        gain = float(np.mean([r["psnr"] for r in candidate])
                     - np.mean([r["psnr"] for r in reference]))
    ok = not failures and bool(by_dose)
    if min_psnr_gain and not gain >= min_psnr_gain:
        ok = False
        failures.append(f"mean PSNR gain {gain:.2f} dB < {min_psnr_gain:.2f} dB")
    return {"ok": ok, "psnr_gain_db": gain, "by_dose": by_dose, "failures": failures}
