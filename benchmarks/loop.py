"""The survey loop end to end (issue 19): a simulated crowd's votes retrain the denoiser.

``python -m benchmarks loop [--quick]`` (or ``python -m benchmarks.loop``) runs the site
in this process on a temporary SQLite database and media folder, with Celery tasks run
eagerly (the site's embedded mode), and:

1. trains a group classifier for the default method from automatic labels only (the
   site's own retraining task, ``training.services.start_training_run(source="auto")``)
   and makes it the active model;
2. adds survey images made from fidelity scenes of a material that model never saw
   (``Au_110``, or ``--material GaAs_110``: held-out materials, at seeds the held-out set
   does not use); their candidates are the default method at the levels 1..12 of its
   threshold ladder (on average that many components per group), made by the site and
   shown as a user gets them (local means included);
3. lets 30 honest simulated respondents vote through the survey's HTTP API
   (:mod:`survey.services.crowd`), and measures what votes can teach at most: the best
   candidate of each image (a perfect crowd's label) beside the starting model's own
   output (:func:`label_headroom`);
4. retrains from automatic *and* survey labels through the same task (same automatic
   labels and training settings, ``source="both"``, ``auto_activate``: the site's gate
   decides; ``--warm-start``: continuing from the starting model's weights);
5. reports the default method's held-out PSNR and fidelity measures with the starting
   and the retrained model (``training.group_evaluation``), overall and on the survey's
   material; the label error against the ground-truth-best ``k`` per respondent group;
   the same verdicts for a control model trained without votes by the starting model's
   recipe at the next seed (the retraining's own noise; ``--no-control`` skips it);
   and how far 0/10/20/30 % adversarial respondents (added to the honest 30; "largest"
   and "random" adversaries, voting through the API after the retraining) move each
   image's mean ``k``, with the site's robust aggregation and with a plain mean.

Nothing is written to ``docs/``: the tables are printed, and ``--json`` saves every
number.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from denoiser.reucid.simulation.scenes import make_scene
from survey.statistics import respondent_weights, weighted_label

__all__ = ["adversary_counts", "adversary_weight", "label_errors", "label_headroom",
           "label_shifts", "largest_cell_change", "main", "verdicts"]

#: Fractions of adversarial respondents in the crowd the robustness table reports.
ADVERSARY_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
HONEST = 30
SURVEY_MATERIAL = "Au_110"
#: Materials the survey may show: the gate's held-out materials that have held-out
#: fidelity scenes (``training.group_examples.HELD_OUT_SCENES``), so that "better on the
#: family the survey showed" is measured on images no model trained on.
HELD_OUT_FAMILIES: tuple[str, ...] = ("Au_110", "GaAs_110")
SURVEY_SCENES: tuple[str, ...] = ("vacancies_thick", "thickness_steps", "interface",
                                  "particle_on_carbon", "row_noise", "scan_distortion")
#: Seeds of the survey's scenes: the held-out set's scenes use 424242 + i.
SURVEY_SEED = 9100
SIZE = 128

#: Sizes of one run: quick fits in about ten minutes on two cores.
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"n_crystals": 3, "n_scenes": 2, "epochs": 6, "doses": (100.0, 1000.0),
              "scenes": SURVEY_SCENES[:4], "held_out_crystals": 3},
    "full": {"n_crystals": 12, "n_scenes": 8, "epochs": 8,
             "doses": (100.0, 500.0, 1000.0, 10000.0), "scenes": SURVEY_SCENES,
             "held_out_crystals": 3},
}


# --------------------------------------------------------------------------- pure helpers

def adversary_counts(n_honest: int, fractions: Iterable[float]) -> list[int]:
    """Adversaries to add to ``n_honest`` so they make each fraction of the crowd.

    Examples
    --------
    >>> adversary_counts(30, (0.0, 0.1, 0.2, 0.3))
    [0, 3, 8, 13]
    """
    counts = []
    for fraction in fractions:
        if not 0.0 <= fraction < 1.0:
            raise ValueError("a fraction of adversaries must be in [0, 1)")
        counts.append(int(math.floor(n_honest * fraction / (1.0 - fraction) + 0.5)))
    return counts


def _means(answers: Sequence[tuple[Any, Any, int]], *, robust: bool) -> dict[Any, float]:
    """Each image's mean k: the site's robust weighted mean, or the plain mean."""
    weights = respondent_weights(answers) if robust else {}
    per_image: dict[Any, list[tuple[int, float]]] = {}
    for respondent, image, k in answers:
        per_image.setdefault(image, []).append((int(k), weights.get(respondent, 1.0)))
    means = {}
    for image, rows in per_image.items():
        if robust:
            means[image] = float(weighted_label([k for k, _ in rows],
                                                [w for _, w in rows])["mean"])
        else:
            means[image] = float(np.mean([k for k, _ in rows]))
    return means


def label_shifts(answers: Sequence[tuple[Any, Any, int]], honest: Iterable[Any],
                 adversaries: Sequence[Any], n_adversaries: int, *, robust: bool
                 ) -> dict[Any, float]:
    """How far the first ``n_adversaries`` adversaries move each image's mean k.

    ``answers`` are the counted ``(respondent, image, k)`` of everyone; the label with the
    honest respondents alone is compared with the label of the honest plus the first
    ``n_adversaries`` of ``adversaries``, both aggregated the same way: the site's robust
    weighted mean (``survey.statistics.respondent_weights`` then ``weighted_label``) or a
    plain mean. Returns ``{image: |change of mean k|}``.

    Examples
    --------
    >>> honest = [(f"h{i}", 1, 4 + i % 2) for i in range(8)]
    >>> stuffed = [(f"a{i}", 1, 12) for i in range(2)]
    >>> plain = label_shifts(honest + stuffed, [f"h{i}" for i in range(8)],
    ...                      ["a0", "a1"], 2, robust=False)
    >>> robust = label_shifts(honest + stuffed, [f"h{i}" for i in range(8)],
    ...                       ["a0", "a1"], 2, robust=True)
    >>> round(plain[1], 2), round(robust[1], 2)
    (1.5, 0.5)
    """
    honest = set(honest)
    chosen = honest | set(list(adversaries)[:n_adversaries])
    before = _means([a for a in answers if a[0] in honest], robust=robust)
    after = _means([a for a in answers if a[0] in chosen], robust=robust)
    return {image: abs(after[image] - before[image]) for image in before}


def adversary_weight(answers: Sequence[tuple[Any, Any, int]], honest: Iterable[Any],
                     adversaries: Sequence[Any], n_adversaries: int) -> float | None:
    """The mean robust weight the site gives the first ``n_adversaries`` adversaries.

    Weights as :func:`label_shifts` computes them for the honest respondents plus those
    adversaries (1 = an ordinary answer, 0.05 = the floor); None without adversaries.

    Examples
    --------
    >>> honest = [(f"h{i}", 1, 4 + i % 2) for i in range(8)]
    >>> stuffed = [(f"a{i}", 1, 12) for i in range(2)]
    >>> round(adversary_weight(honest + stuffed, [f"h{i}" for i in range(8)],
    ...                        ["a0", "a1"], 2), 2)
    0.29
    """
    chosen_adversaries = set(list(adversaries)[:n_adversaries])
    if not chosen_adversaries:
        return None
    chosen = set(honest) | chosen_adversaries
    weights = respondent_weights([a for a in answers if a[0] in chosen])
    present = [weights[r] for r in chosen_adversaries if r in weights]
    return float(np.mean(present)) if present else None


def label_errors(answers: Sequence[tuple[Any, Any, int]], roles: Mapping[Any, str],
                 best_k: Mapping[Any, int],
                 scores: Mapping[Any, Mapping[int, float]] | None = None
                 ) -> dict[str, dict[str, float]]:
    """Per respondent group: how far its votes and its per-image mean lie from the best k.

    Returns ``{role: {"vote": mean |k - best k| over votes, "label": mean over images of
    |group mean k - best k|, "votes": count}}``; with ``scores`` (image -> k -> score in
    dB) also ``"loss_db"``: the mean over images of what the group's label costs, the
    best candidate's score minus that of the candidate ``round(group mean k)``.

    Examples
    --------
    >>> out = label_errors([("a", 1, 3), ("b", 1, 5), ("c", 1, 12)],
    ...                    {"a": "expert", "b": "expert", "c": "adversarial"}, {1: 4})
    >>> out["expert"], out["adversarial"]["label"]
    ({'vote': 1.0, 'label': 0.0, 'votes': 2}, 8.0)
    >>> scores = {1: {k: 30.0 - abs(k - 4) * 0.1 for k in range(1, 13)}}
    >>> round(label_errors([("c", 1, 12)], {"c": "x"}, {1: 4}, scores)["x"]["loss_db"], 2)
    0.8
    """
    out: dict[str, dict[str, float]] = {}
    for role in sorted(set(roles.values())):
        rows = [(image, k) for respondent, image, k in answers if roles.get(respondent) == role]
        if not rows:
            continue
        per_image: dict[Any, list[int]] = {}
        for image, k in rows:
            per_image.setdefault(image, []).append(k)
        out[role] = {
            "vote": float(np.mean([abs(k - best_k[image]) for image, k in rows])),
            "label": float(np.mean([abs(np.mean(ks) - best_k[image])
                                    for image, ks in per_image.items()])),
            "votes": len(rows),
        }
        if scores is not None:
            out[role]["loss_db"] = float(np.mean([
                max(scores[image].values())
                - scores[image][int(np.floor(np.mean(ks) + 0.5))]
                for image, ks in per_image.items()]))
    return out


def _family(rows: Sequence[dict[str, Any]], material: str, *, scenes: bool | None = True
            ) -> list[dict[str, Any]]:
    """Rows of ``material``: its fidelity scenes (what the survey showed; ``scenes=True``),
    its crystals (``False``) or both (``None``)."""
    return [row for row in rows if row.get("material") == material
            and (scenes is None or str(row.get("kind", "")).startswith("scene") == scenes)]


def _means_of(rows: Sequence[dict[str, Any]], measures: Sequence[str]) -> dict[str, float]:
    out = {}
    for measure in measures:
        values = [float(r[measure]) for r in rows
                  if measure in r and math.isfinite(float(r[measure]))]
        if values:
            out[measure] = float(np.mean(values))
    return out


def verdicts(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]], *,
             material: str) -> dict[str, Any]:
    """The issue's targets, read from held-out rows of the same cases.

    ``at_least_as_good``: ``training.group_evaluation.compare_rows`` of after against
    before (every measure at every dose, within the gate's tolerances);
    ``better_on_family``: on the family the survey showed (fidelity scenes of
    ``material``), the mean PSNR rose by more than the gate's PSNR tolerance and every
    measure there is at least as good at every dose (same tolerances).
    """
    # the training app's evaluation brings torch with it; Django is set up by now
    from training.group_evaluation import TOLERANCES, compare_rows

    overall = compare_rows(after, before)
    family_before, family_after = _family(before, material), _family(after, material)
    family = compare_rows(family_after, family_before)
    gain = family["psnr_gain_db"]
    return {"at_least_as_good": overall["ok"], "failures": overall["failures"],
            "psnr_gain_db": overall["psnr_gain_db"],
            "family_psnr_gain_db": gain, "family_failures": family["failures"],
            "better_on_family": bool(family["ok"] and gain > TOLERANCES["psnr"][1])}


def largest_cell_change(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]
                        ) -> float:
    """The PSNR change of largest magnitude over the (set, dose) cells of two
    ``summarise_rows`` tables of the same cases (signed).

    Examples
    --------
    >>> before = [{"set": "crystals", "dose": 100.0, "psnr": 26.0},
    ...           {"set": "scenes", "dose": 100.0, "psnr": 33.0}]
    >>> after = [{"set": "crystals", "dose": 100.0, "psnr": 26.1},
    ...          {"set": "scenes", "dose": 100.0, "psnr": 32.7}]
    >>> round(largest_cell_change(before, after), 3)
    -0.3
    """
    old = {(row["set"], row["dose"]): row["psnr"] for row in before}
    changes = [row["psnr"] - old[(row["set"], row["dose"])] for row in after
               if (row["set"], row["dose"]) in old]
    return float(max(changes, key=abs)) if changes else 0.0


# --------------------------------------------------------------------------- Django

def _configure_django(folder: Path) -> None:
    """The site in this process, on a fresh SQLite database and media folder."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "reucid_site.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'loop.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REUCID_CACHE_URL",
                 "REUCID_STORAGE"):
        os.environ.pop(name, None)
    # Django only now, with the environment above: a module-level import would set it up
    # against the site's own database
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _log(message: str, start: float) -> None:
    print(f"[loop {time.perf_counter() - start:6.0f} s] {message}", file=sys.stderr, flush=True)


def _load_classifier(record: Any) -> Any:
    # Django's storage and the training app: only after _configure_django
    from django.core.files.storage import default_storage

    from training.services import load_model_file

    return load_model_file(Path(default_storage.path(record.file.name)))[1]


def run_loop(profile: Mapping[str, Any], *, seed: int, start: float,
             material: str = SURVEY_MATERIAL, warm_start: bool = False,
             control: bool = True) -> dict[str, Any]:
    """Steps 1-5 of the module docstring on a configured site; every number measured."""
    # the site's modules need Django set up first (_configure_django)
    from survey.models import Respondent, Survey  # Django set up first
    from survey.selectors import counted_responses  # Django set up first
    from survey.services.crowd import plan_crowd, run_crowd, scene_detail  # Django set up first
    from survey.services.images import add_survey_image  # Django set up first
    from training.group_evaluation import evaluate_selector, summarise_rows  # Django set up first
    from training.group_examples import held_out_group_cases  # Django set up first
    from training.models import TrainingRun  # Django set up first
    from training.services import activate_classifier, start_training_run  # Django set up first

    run_options = {"kind": "group", "n_crystals": profile["n_crystals"],
                   "n_scenes": profile["n_scenes"], "size": SIZE, "epochs": profile["epochs"],
                   "seed": seed, "respondents": "all",
                   "held_out_crystals": profile["held_out_crystals"], "held_out_size": SIZE,
                   "held_out_scenes": True}

    # 1. the starting model: automatic labels only (the same labels and training as the
    # retraining below; its own gate against the noise-edge rule is not the question
    # here, so it runs on a token held-out set and the model is activated regardless)
    base_run = start_training_run(source="auto", options={
        **run_options, "held_out_crystals": 1, "held_out_size": 64, "held_out_scenes": False})
    base_run.refresh_from_db()
    if base_run.status != TrainingRun.Status.SUCCEEDED:
        raise RuntimeError(f"the starting model's run failed: {base_run.error}")
    base = activate_classifier(base_run.result, reason="loop benchmark: the starting model")
    _log(f"starting model #{base.pk} trained (auto labels)", start)

    # 2. survey images of a material the model never saw
    survey = Survey.objects.create(name="Simulated crowd (loop benchmark)", slug="loop",
                                   k_max=12, attention_check_every=4)
    for index, name in enumerate(profile["scenes"]):
        for dose in profile["doses"]:
            scene_seed = SURVEY_SEED + index
            scene = make_scene(name, dose, seed=scene_seed, size=SIZE, material=material)
            add_survey_image(survey=survey, noisy=scene.noisy, clean=scene.clean,
                             title=f"{name} {material} {dose:g} e/px", source="simulated",
                             source_detail=scene_detail(name, material, scene_seed, dose,
                                                        SIZE),
                             material=material, dose=dose, candidate_method="best")
    n_images = survey.images.filter(status="ready").count()
    _log(f"{n_images} survey images ready", start)

    # 3. thirty honest respondents
    honest_crowd = plan_crowd(HONEST, experts=0.3, attention_failures=0.1, seed=seed)
    honest = run_crowd(honest_crowd, seed=seed)
    _log(f"honest crowd: {honest.accepted} votes, {honest.counted} counted", start)

    # 3b. what the votes can teach at most: on each survey image, the best candidate (a
    # perfect crowd's label) against what the starting model already returns for it
    headroom = label_headroom(survey, _load_classifier(base), honest.truths)
    _log("label headroom measured on the survey images", start)

    # 4. retrain from both label sources through the site's task; its gate decides
    retrain = start_training_run(source="both", options={**run_options,
                                                         "warm_start": warm_start},
                                 auto_activate=True)
    retrain.refresh_from_db()
    if retrain.status != TrainingRun.Status.SUCCEEDED:
        raise RuntimeError(f"the retraining failed: {retrain.error}")
    _log(f"retrained model #{retrain.result_id}; activated by the gate: {retrain.activated}",
         start)

    # 5a. held-out before / after
    cases = held_out_group_cases(n_crystals=profile["held_out_crystals"], size=SIZE)
    before_rows = evaluate_selector(_load_classifier(base), cases)
    after_rows = evaluate_selector(_load_classifier(retrain.result), cases)
    _log(f"held-out set scored ({len(cases)} images, both models)", start)

    # 5c. the retraining's own noise: the starting model's recipe at the next seed (other
    # automatic-label images, another initialisation), no votes; judged by the same
    # verdicts against the starting model
    control_rows = None
    if control:
        control_run = start_training_run(source="auto", options={
            **run_options, "seed": seed + 1, "held_out_crystals": 1, "held_out_size": 64,
            "held_out_scenes": False})
        control_run.refresh_from_db()
        if control_run.status != TrainingRun.Status.SUCCEEDED:
            raise RuntimeError(f"the control model's run failed: {control_run.error}")
        control_rows = evaluate_selector(_load_classifier(control_run.result), cases)
        _log("control model (no votes, next seed) trained and scored", start)

    # 5b. adversaries vote after the retraining (so it saw only the honest 30)
    counts = adversary_counts(HONEST, ADVERSARY_FRACTIONS)
    pools = {}
    for offset, kind in enumerate(("largest", "random")):
        crowd = plan_crowd(max(counts), adversarial=1.0, adversary=kind, seed=seed + 1 + offset,
                           first_index=1000 * (offset + 1))
        pools[kind] = run_crowd(crowd, seed=seed + 1 + offset)
    _log("adversaries voted", start)

    answers = [(r, i, int(k)) for r, i, k in counted_responses(survey).values_list(
        "respondent_id", "image_id", "chosen_k")]
    roles = {honest.respondent_ids[r.index]: r.role for r in honest_crowd
             if r.index in honest.respondent_ids}
    best = {image: truth.best_k for image, truth in honest.truths.items()}
    honest_ids = set(roles)
    robustness = []
    for kind, report in pools.items():
        ids = [report.respondent_ids[i] for i in sorted(report.respondent_ids)]
        for fraction, count in zip(ADVERSARY_FRACTIONS, counts):
            kept = [a for a in answers if a[0] in honest_ids or a[0] in ids[:count]]
            counted_adversaries = len({a[0] for a in kept if a[0] in ids[:count]})
            row = {"adversary": kind, "fraction": fraction, "adversaries": count,
                   "adversaries_counted": counted_adversaries}
            for robust in (True, False):
                shifts = label_shifts(kept, honest_ids, ids, count, robust=robust)
                row["robust" if robust else "plain"] = max(shifts.values())
            row["adversary_weight"] = adversary_weight(kept, honest_ids, ids, count)
            robustness.append(row)
        for r in report.respondent_ids.values():
            roles.setdefault(r, f"adversarial ({kind})")
    errors = label_errors(answers, roles, best,
                          {image: truth.scores for image, truth in honest.truths.items()})
    everyone = {r: "all honest" for r in honest_ids}
    errors.update(label_errors([a for a in answers if a[0] in honest_ids], everyone, best,
                               {image: truth.scores for image, truth in honest.truths.items()}))
    before_by_dose = summarise_rows(before_rows)
    control_by_dose = None if control_rows is None else summarise_rows(control_rows)
    n_excluded = Respondent.objects.filter(responses__failed_attention_check=True,
                                           responses__image__survey=survey).distinct().count()
    return {
        "profile": dict(profile), "seed": seed, "material": material,
        "n_survey_images": n_images, "best_k": best,
        "base": {"model": base.pk}, "warm_start": warm_start,
        "retrain": {"model": retrain.result_id, "activated": retrain.activated,
                    "gate": retrain.result.metrics.get("gate", {}),
                    "n_images": retrain.result.training_summary.get("n_images")},
        "honest_crowd": {"votes": honest.accepted, "counted": honest.counted,
                         "attention_failures": honest.attention_failures,
                         "by_role": honest.by_role()},
        "respondents_excluded_by_attention_checks": n_excluded,
        "honest_labels": _means([a for a in answers if a[0] in honest_ids], robust=True),
        "label_errors": errors,
        "before": before_rows, "after": after_rows,
        "before_by_dose": before_by_dose, "after_by_dose": summarise_rows(after_rows),
        "verdicts": verdicts(before_rows, after_rows, material=material),
        "control": None if control_rows is None else {
            "rows": control_rows, "by_dose": control_by_dose,
            "verdicts": verdicts(before_rows, control_rows, material=material),
            "largest_cell_change_db": largest_cell_change(before_by_dose, control_by_dose)},
        "robustness": robustness,
        "headroom": headroom,
    }


def label_headroom(survey: Any, model: Any, truths: Mapping[int, Any]) -> list[dict[str, Any]]:
    """Per survey image: the best candidate's score and PSNR (what a perfect crowd would
    label) beside those of the starting model's own output for the same input.

    The candidates show one run at every level of its threshold ladder; if the
    best of them is no better than what the model returns, no vote on the image can
    teach the model a better selection.
    """
    # Django is set up by now (_configure_django)
    from denoiser.reucid.grouped.pipeline import denoise_grouped
    from survey.arrays import load_npy
    from survey.services.crowd import estimate_score

    rows = []
    for image in survey.images.filter(status="ready").order_by("pk"):
        truth = truths[image.pk]
        noisy = np.asarray(load_npy(image.noisy_file.name), np.float64)
        output = denoise_grouped(noisy, classifier=model, seed=image.decomposition_seed).image
        score, measures = estimate_score(image, output)
        best = truth.best_k
        rows.append({"image": image.pk, "dose": image.dose, "best_k": best,
                     "candidate_score": truth.scores[best],
                     "candidate_psnr": truth.measures[best]["psnr"],
                     "model_score": score, "model_psnr": measures["psnr"]})
    return rows


# --------------------------------------------------------------------------- report

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def tables(result: Mapping[str, Any]) -> str:
    """The loop's markdown tables (what docs/survey.md quotes)."""
    # torch comes with the evaluation module; only when a report is written
    from training.group_evaluation import FIDELITY_MEASURES

    measures = ("psnr", *FIDELITY_MEASURES, "n_kept")
    lines = ["| held-out images | model | " + " | ".join(measures) + " |",
             "|---|---|" + "---|" * len(measures)]
    material = result["material"]
    control = result.get("control")
    models = ("before", "after") + (("control",) if control else ())
    for label, rows in (("all", "all"), (f"{material} scenes (the survey's family)", True),
                        (f"{material} crystals", False), ("other materials", "other")):
        for name in models:
            chosen = control["rows"] if name == "control" else result[name]
            if rows == "other":
                chosen = [r for r in chosen if r.get("material") != material]
            elif rows != "all":
                chosen = _family(chosen, material, scenes=rows)
            means = _means_of(chosen, measures)
            lines.append(f"| {label} ({len(chosen)}) | {name} | "
                         + " | ".join(_fmt(means.get(m)) for m in measures) + " |")
    verdict = result["verdicts"]
    lines += ["", f"- retrained model at least as good on every held-out measure at every "
              f"dose (gate tolerances): **{verdict['at_least_as_good']}**"
              + (f" (not held: {', '.join(verdict['failures'])})" if verdict["failures"]
                 else ""),
              f"- mean held-out PSNR change: {verdict['psnr_gain_db']:+.3f} dB; on "
              f"{result['material']} scenes: {verdict['family_psnr_gain_db']:+.3f} dB; better on "
              f"the survey's family: **{verdict['better_on_family']}**"
              + (f" (not held there: {', '.join(verdict['family_failures'])})"
                 if verdict["family_failures"] else ""),
              f"- the site's gate activated the retrained model: "
              f"**{result['retrain']['activated']}**",
              f"- survey labels (robust mean k of the honest crowd) average "
              f"{np.mean(list(result['honest_labels'].values())):.2f} over "
              f"{result['n_survey_images']} images; the ground-truth-best k averages "
              f"{np.mean(list(result['best_k'].values())):.2f}; the held-out mean kept "
              f"components per group went from "
              f"{_means_of(result['before'], ['n_kept'])['n_kept']:.2f} to "
              f"{_means_of(result['after'], ['n_kept'])['n_kept']:.2f}"]
    if control:
        check = control["verdicts"]
        lines.append(
            f"- the retraining's own noise (\"control\": the starting model's recipe at the "
            f"next seed, no votes, against the starting model): mean held-out PSNR change "
            f"{check['psnr_gain_db']:+.3f} dB, on {result['material']} scenes "
            f"{check['family_psnr_gain_db']:+.3f} dB; largest change of one set and dose "
            f"{control['largest_cell_change_db']:+.3f} dB; at least as good everywhere: "
            f"**{check['at_least_as_good']}**"
            + (f" (not held: {', '.join(check['failures'])})" if check["failures"] else ""))
    if result.get("headroom"):
        headroom = result["headroom"]
        gain = np.mean([h["candidate_score"] - h["model_score"] for h in headroom])
        psnr_gain = np.mean([h["candidate_psnr"] - h["model_psnr"] for h in headroom])
        lines.append(
            f"- what votes can teach at most: on the {len(headroom)} survey images the best "
            f"candidate (a perfect crowd's label) scores {gain:+.3f} dB against the starting "
            f"model's own output (PSNR {psnr_gain:+.3f} dB; better on "
            f"{sum(h['candidate_score'] > h['model_score'] for h in headroom)} of "
            f"{len(headroom)} images)")
    lines.append("")
    lines += ["| respondents | votes | mean abs(k - best k) per vote | "
              "mean abs(group mean k - best k) per image | score lost by that label (dB) |",
              "|---|---|---|---|---|"]
    for role, row in result["label_errors"].items():
        lines.append(f"| {role} | {row['votes']} | {row['vote']:.2f} | {row['label']:.2f} | "
                     f"{row.get('loss_db', float('nan')):.3f} |")
    lines += ["", "| adversaries | share of crowd | adversaries (counted) | max change of an "
              "image's mean k, robust | plain mean | adversaries' mean robust weight |",
              "|---|---|---|---|---|---|"]
    for row in result["robustness"]:
        lines.append(f"| {row['adversary']} | {row['fraction']:.0%} | {row['adversaries']} "
                     f"({row['adversaries_counted']}) | {row['robust']:.2f} | "
                     f"{row['plain']:.2f} | {_fmt(row.get('adversary_weight'), 2)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the loop; print its tables (``--json`` keeps every number)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the ~10-minute version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--material", default=SURVEY_MATERIAL, choices=HELD_OUT_FAMILIES,
                        help="held-out material of the survey's scenes "
                             f"(default {SURVEY_MATERIAL})")
    parser.add_argument("--warm-start", action="store_true",
                        help="the retraining continues from the starting model's weights")
    parser.add_argument("--no-control", action="store_true",
                        help="skip the control model (the starting recipe at the next seed)")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)  # from benchmarks
    parser.add_argument("--plots", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    # Django's app registry, if another benchmark of this process set it up, points at
    # the site's own database: run in a fresh process instead
    from django.apps import apps

    if apps.ready:
        code = subprocess.call([sys.executable, "-m", "benchmarks.loop",
                                *(argv if argv is not None else sys.argv[1:])])
        if code:
            raise RuntimeError(f"the loop benchmark's own process exited with {code}")
        return 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reucid-loop-") as folder:
        _configure_django(Path(folder))
        profile = PROFILES["quick" if options.quick else "full"]
        result = run_loop(profile, seed=options.seed, start=start, material=options.material,
                          warm_start=options.warm_start, control=not options.no_control)
        result["seconds"] = time.perf_counter() - start
        print(tables(result))
        if options.json:
            options.json.write_text(json.dumps(result, indent=1, default=str))
    _log("done", start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
