"""How much any per-group eigenpatch selection can gain over the noise-edge rule.

The default method's classifier decides, per group of similar patches, which
eigenpatches are kept. Its best possible choice is bounded by an *oracle* that knows
the clean image: for every group of the last pass it picks the count ``k`` of leading
eigenpatches whose output image is closest to the clean one
(:func:`training.group_examples.label_case`, the same oracle that labels the training
data). No classifier that sees only the noisy data can beat it on PSNR, so its gain
over the rule is the ceiling of what issue 15's trained selection can add.

It also reports the *best survey candidate*: the survey of the default method shows the
same run's output with every group keeping its leading ``k`` eigenpatches,
``k = 1..K_MAX`` (:func:`training.group_examples.group_candidates`), so the best label a
crowd can give an image, even a perfect one, is the candidate closest to the clean
image. When that candidate is no better than what the rule (or a model trained without
votes) already returns, no vote on such an image can teach a better selection
(issue 19).

Run on the fixed held-out set of the retraining gate::

    python -m benchmarks.group_ceiling            # writes docs/benchmarks/group_ceiling.json
    python -m benchmarks.group_ceiling --quick    # one crystal per material, no scenes
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from denoiser.reucid.errors import PatchSizeError
from denoiser.reucid.metrics import psnr
from training.group_examples import GroupCase, held_out_group_cases, label_case

from .report import PLOTS_DIR, machine_description, markdown_table, timestamp

__all__ = ["JSON_PATH", "K_MAX", "by_material", "ceiling_rows", "main", "markdown_by_material",
           "summarise"]

JSON_PATH = PLOTS_DIR / "group_ceiling.json"
#: Candidate counts the survey of the default method shows (the loop benchmark's survey).
K_MAX = 12


def ceiling_rows(cases: Sequence[GroupCase], *, seed: int = 0,
                 k_max: int = K_MAX) -> list[dict[str, Any]]:
    """Per case: PSNR of the rule's output, of the oracle's per-group choice and of the
    best survey candidate (every group keeping the same leading ``k``, ``1..k_max``).

    All come from one run of the default method (the oracle redoes its last pass; the
    candidates redo it once per ``k``), so they differ only in what each group keeps.

    Examples
    --------
    >>> from training.group_examples import crystal_cases
    >>> rows = ceiling_rows(crystal_cases(materials=["SrTiO3_001"], n_scenes=1, size=96,
    ...                                   doses=(1000.0,), seed=1))
    >>> rows[0]["oracle_psnr"] >= rows[0]["rule_psnr"]
    True
    """
    rows = []
    for case in cases:
        try:
            run = label_case(case.noisy, case.clean, seed=seed)
        except PatchSizeError:
            continue
        rule, oracle = psnr(case.clean, run.result.image), psnr(case.clean, run.oracle_image)
        made = run.candidates(range(1, k_max + 1))
        candidates = [float(psnr(case.clean, made.reconstruct(k))) for k in made.levels]
        best = int(np.argmax(candidates))
        rows.append({**{k: v for k, v in case.provenance.items()
                        if isinstance(v, (str, int, float))},
                     "rule_psnr": float(rule), "oracle_psnr": float(oracle),
                     "gain_db": float(oracle - rule),
                     "candidate_psnr": candidates[best], "candidate_k": made.levels[best],
                     "candidate_gain_db": candidates[best] - float(rule),
                     "rule_kept": float(np.mean(run.run_ks)),
                     "oracle_kept": float(np.mean(run.oracle_ks))})
    return rows


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean gain per (set, dose), crystals (e/Å²) and scenes (e/px), then overall.

    Examples
    --------
    >>> summarise([{"kind": "crystal", "dose": 100.0, "gain_db": 0.2, "rule_psnr": 30.0,
    ...             "oracle_psnr": 30.2, "rule_kept": 2.0, "oracle_kept": 3.0,
    ...             "candidate_psnr": 29.9, "candidate_gain_db": -0.1}])[-1]["set"]
    'all'
    """
    def set_of(row: dict[str, Any]) -> str:
        return "scenes" if str(row.get("kind", "")).startswith("scene") else "crystals"

    keys = sorted({(set_of(r), float(r["dose"])) for r in rows})
    out = []
    for name, dose in [*keys, ("all", float("nan"))]:
        chosen = [r for r in rows if name == "all"
                  or (set_of(r) == name and float(r["dose"]) == dose)]
        if not chosen:
            continue
        out.append({"set": name, "dose": dose, "n_images": len(chosen),
                    **{m: float(np.mean([r[m] for r in chosen]))
                       for m in ("rule_psnr", "oracle_psnr", "gain_db", "rule_kept",
                                 "oracle_kept", "candidate_psnr", "candidate_gain_db")},
                    "min_gain_db": float(np.min([r["gain_db"] for r in chosen]))})
    return out


def by_material(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means per (material, crystals or scenes): a survey shows one family at a time.

    Examples
    --------
    >>> row = {"kind": "scene:interface", "material": "Au_110", "rule_psnr": 30.0,
    ...        "oracle_psnr": 30.2, "candidate_psnr": 29.9, "gain_db": 0.2,
    ...        "candidate_gain_db": -0.1}
    >>> by_material([row])[0]["family"], by_material([row])[0]["candidate_gain_db"]
    ('Au_110 scenes', -0.1)
    """
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kind = "scenes" if str(row.get("kind", "")).startswith("scene") else "crystals"
        families.setdefault(f"{row.get('material', '?')} {kind}", []).append(row)
    return [{"family": name, "n_images": len(chosen),
             **{m: float(np.mean([r[m] for r in chosen]))
                for m in ("rule_psnr", "candidate_psnr", "oracle_psnr", "gain_db",
                          "candidate_gain_db")}}
            for name, chosen in sorted(families.items())]


def markdown_by_material(families: Sequence[dict[str, Any]]) -> str:
    """:func:`by_material` as a markdown table."""
    return markdown_table(
        ["family", "images", "rule PSNR", "best survey candidate", "oracle PSNR",
         "candidate − rule (dB)", "oracle − rule (dB)"],
        [[f["family"], f["n_images"], f"{f['rule_psnr']:.3f}", f"{f['candidate_psnr']:.3f}",
          f"{f['oracle_psnr']:.3f}", f"{f['candidate_gain_db']:+.3f}", f"{f['gain_db']:+.3f}"]
         for f in families])


def markdown(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a markdown table."""
    return markdown_table(
        ["set", "dose", "images", "rule PSNR", "oracle PSNR", "ceiling (dB)", "smallest",
         "kept: rule / oracle", "best survey candidate PSNR", "its gain (dB)"],
        [[s["set"], "" if s["set"] == "all" else f"{s['dose']:g}", s["n_images"],
          f"{s['rule_psnr']:.2f}", f"{s['oracle_psnr']:.2f}", f"+{s['gain_db']:.2f}",
          f"{s['min_gain_db']:+.2f}", f"{s['rule_kept']:.1f} / {s['oracle_kept']:.1f}",
          f"{s['candidate_psnr']:.2f}", f"{s['candidate_gain_db']:+.3f}"]
         for s in summary])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one crystal per held-out material, no fidelity scenes")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"where to write the rows (default {JSON_PATH} for the full run)")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    cases = held_out_group_cases(n_crystals=1, scenes=False) if options.quick \
        else held_out_group_cases()
    rows = ceiling_rows(cases)
    summary = summarise(rows)
    header = (f"Run {timestamp()}, {time.perf_counter() - started:.0f} s, on "
              f"{machine_description()}; {len(rows)} held-out images.")
    families = by_material(rows)
    print(header)
    print(markdown(summary))
    print()
    print(markdown_by_material(families))
    target = options.json or (None if options.quick else JSON_PATH)
    if target is not None:
        target.write_text(json.dumps({"header": header, "summary": summary,
                                     "families": families, "rows": rows},
                                    indent=1) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
