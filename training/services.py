"""Write side of the training app: datasets, training runs, registering and activating models.

Activation is always an explicit, atomic step: a run that fails, or a model that does
worse than the active one, never replaces it.
"""
from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from denoiser.reucid.paper.decomposition import decompose
from denoiser.reucid.selection.cnn import CNNClassifier, load_classifier, save_classifier
from denoiser.reucid.selection.group_cnn import (
    GROUP_KIND,
    GroupClassifier,
    load_group_classifier,
    model_kind,
    save_group_classifier,
)
from denoiser.reucid.simulation import HELD_OUT_MATERIALS, TRAINING_MATERIALS
from survey.selectors import iter_group_survey_labels, iter_survey_labels

from .evaluation import (
    calibrate_threshold,
    evaluate_cases,
    meets_acceptance,
    rows_as_dicts,
    summarise_by_dose,
)
from .examples import (
    PAPER_DOSES,
    build_auto_stacks,
    load_stacks,
    save_stacks,
    simulated_cases,
    stacks_to_arrays,
    survey_stack,
)
from .group_evaluation import compare_rows, evaluate_selector, summarise_rows
from .group_examples import (
    GroupExamples,
    build_group_examples,
    held_out_group_cases,
    training_group_cases,
)
from .group_labels import survey_group_examples
from .group_trainer import GroupTrainingConfig, train_group_network
from .labels import (
    DEFAULT_LABEL_RULE,
    LABEL_RULES,
    PAPER_IEF_CONSTANT,
    fit_ief_constant,
    ief_curve,
)
from .models import (
    ActivationEvent,
    ClassifierModel,
    LabelledDataset,
    LabelledImage,
    LabelSource,
    TrainingRun,
)
from .selectors import shipped_model_path
from .trainer import TrainingConfig, train_network, tune_architecture

logger = logging.getLogger(__name__)

#: Seed of the held-out evaluation scenes; fixed so runs are comparable.
EVALUATION_SEED = 424242
#: Options of a run started from the page or the admin (a deployment may override them
#: with the REUCID_TRAINING_RUN_DEFAULTS setting; a run's own options win).
DEFAULT_RUN_OPTIONS: dict[str, Any] = {
    "n_scenes": 48, "epochs": 20, "seed": 0, "evaluation_scenes": 9, "shape": [128, 128],
    "sizes": [128, 192],
    "augment": True, "calibration_scenes": 6, "n_components": 80,
    # the shipped model's recipe: images also at per-pixel doses and a share of aligned
    # perfect crystals, so that a retrained model sees the many-component regime of
    # multislice images (docs/training.md)
    "pixel_doses": [1000.0, 10000.0], "aligned_share": 0.35,
}


class TrainingError(Exception):
    """A training run cannot go ahead (no data, bad options); the message says why."""


# --------------------------------------------------------------------------- helpers

def code_version() -> str:
    """``git describe`` of the checkout, else the installed package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=settings.BASE_DIR,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        pass
    try:

        return f"reucid {version('reucid')}"
    except Exception:  # noqa: BLE001 - not installed as a package
        return "unknown"


def sha256_of(handle: IO[bytes] | Path) -> str:
    """Hex SHA-256 of a file path or an open binary file (rewound afterwards)."""
    digest = hashlib.sha256()
    if isinstance(handle, Path):
        with open(handle, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


# --------------------------------------------------------------------------- datasets

def store_dataset(stacks: Sequence[Any], *, name: str, source: str, label_rule: str,
                  rule_parameters: dict[str, Any] | None = None,
                  seed: int | None = None) -> LabelledDataset:
    """Save labelled stacks as an ``.npz`` dataset with one provenance row per image."""

    if not stacks:
        raise TrainingError(f"no labelled images for the {source} dataset")
    with tempfile.TemporaryDirectory() as folder:
        path = save_stacks(stacks, Path(folder) / "dataset.npz")
        k_values = [int(s.k_star) for s in stacks]
        summary = {
            "materials": sorted({str(s.provenance.get("material", "survey")) for s in stacks}),
            "doses_e_per_A2": sorted({float(s.provenance["dose_e_per_A2"]) for s in stacks
                                      if "dose_e_per_A2" in s.provenance}),
            "patch_sizes": sorted({int(s.patch_size) for s in stacks}),
            "k_star_mean": float(np.mean(k_values)),
            "k_star_histogram": np.bincount(k_values).tolist(),
            "n_groups": len({s.key for s in stacks}),
        }
        with transaction.atomic():
            with open(path, "rb") as handle:
                dataset = LabelledDataset(
                    name=name, source=source, label_rule=label_rule,
                    rule_parameters=rule_parameters or {}, sha256=sha256_of(handle),
                    n_images=len(stacks), n_eigenpatches=int(sum(len(s.labels) for s in stacks)),
                    n_useful=int(sum(int(s.labels.sum()) for s in stacks)),
                    summary=summary, seed=seed,
                )
                dataset.file.save(f"{source}-{timezone.now():%Y%m%d-%H%M%S}.npz", File(handle),
                                  save=False)
            dataset.save()
            LabelledImage.objects.bulk_create([
                LabelledImage(dataset=dataset, index=i, image_key=s.key, source=s.source,
                              k_star=s.k_star, n_components=len(s.labels),
                              patch_size=s.patch_size, provenance=s.provenance)
                for i, s in enumerate(stacks)
            ])
    return dataset


def create_auto_dataset(*, n_scenes: int = 48, doses: Sequence[float] | None = None,
                        materials: Sequence[str] | None = None,
                        shape: tuple[int, int] = (128, 128),
                        sizes: Sequence[int] | None = None, rule: str | None = None,
                        c: float | None = None, n_components: int = 25, seed: int = 0,
                        pixel_doses: Sequence[float] = (), aligned_share: float = 0.0,
                        progress: Callable[[int, int], None] | None = None) -> LabelledDataset:
    """Simulate training-material scenes at the paper's doses and label them.

    ``n_components`` leading eigenpatches of each image are labelled; ``pixel_doses``
    (electrons per pixel) add images per scene and ``aligned_share`` is the chance that
    a scene is an aligned perfect crystal (see ``training.examples.build_auto_stacks``).
    """

    rule = rule or DEFAULT_LABEL_RULE
    if rule not in LABEL_RULES:
        raise TrainingError(f"unknown label rule {rule!r}; choose from {', '.join(LABEL_RULES)}")
    constant = PAPER_IEF_CONSTANT if c is None else float(c)
    stacks = build_auto_stacks(
        materials=tuple(materials or TRAINING_MATERIALS), n_scenes=n_scenes,
        doses=tuple(doses or PAPER_DOSES), shape=shape, sizes=sizes, rule=rule, c=constant,
        n_components=n_components, seed=seed, pixel_doses=tuple(pixel_doses),
        aligned_share=float(aligned_share), progress=progress,
    )
    return store_dataset(
        stacks, name=f"simulated ({n_scenes} scenes, {rule})", source=LabelSource.AUTO,
        label_rule=rule, rule_parameters={"c": constant, "shape": list(shape),
                                          "sizes": list(sizes or []),
                                          "n_scenes": n_scenes,
                                          "n_components": n_components,
                                          "pixel_doses": [float(d) for d in pixel_doses],
                                          "aligned_share": float(aligned_share)}, seed=seed,
    )


def create_survey_dataset(*, min_responses: int = 1) -> LabelledDataset | None:
    """Turn the survey's mean choices into a dataset; None when there are none yet."""


    stacks = [survey_stack(label) for label in iter_survey_labels(min_responses=min_responses)]
    if not stacks:
        return None
    return store_dataset(stacks, name=f"survey ({len(stacks)} images)",
                         source=LabelSource.SURVEY, label_rule="survey-mean",
                         rule_parameters={"min_responses": min_responses})


def load_dataset_stacks(dataset: LabelledDataset) -> list[Any]:

    with dataset.file.open("rb") as handle:
        return load_stacks(handle)


# --------------------------------------------------------------------------- training

@dataclass
class TrainedClassifier:
    """What :func:`train_and_evaluate` produces before anything is registered."""

    outcome: Any
    metrics: dict[str, Any]
    training_summary: dict[str, Any]


def held_out_cases(*, n_scenes: int = 9, shape: tuple[int, int] = (128, 128)) -> list[Any]:
    """Fixed evaluation images of the held-out materials at the paper's doses."""

    return list(simulated_cases(materials=HELD_OUT_MATERIALS, n_scenes=n_scenes,
                                shape=shape, seed=EVALUATION_SEED))


def calibration_cases(*, n_scenes: int = 6, shape: tuple[int, int] = (128, 128),
                      pixel_doses: Sequence[float] = (), aligned_share: float = 0.0,
                      seed: int = 0) -> list[Any]:
    """Fresh scenes of the training materials for threshold calibration.

    ``pixel_doses`` and ``aligned_share`` as in
    :func:`training.examples.simulated_cases`: pass the training data's, so the threshold
    is calibrated on the same kinds of images the network learnt from.
    """

    return list(simulated_cases(materials=TRAINING_MATERIALS, n_scenes=n_scenes,
                                shape=shape, pixel_doses=pixel_doses,
                                aligned_share=aligned_share, seed=EVALUATION_SEED + 1 + seed))


def train_and_evaluate(stacks: Sequence[Any], *, config: Any, tune_trials: int = 0,
                       evaluation_cases: Sequence[Any] = (),
                       extra_evaluations: dict[str, Sequence[Any]] | None = None,
                       calibration_cases: Sequence[Any] = (),
                       n_components: int | None = None,
                       progress: Callable[[Any, int], None] | None = None,
                       stage: Callable[[str], None] | None = None) -> TrainedClassifier:
    """Train (optionally after an Optuna search), calibrate, and score on held-out images.

    With ``calibration_cases`` (images of the training materials) the decision threshold
    is set to the one giving the best mean PSNR there; it travels in the model metadata.
    ``n_components`` (default: the longest stack's length) is the number of leading
    eigenpatches the model ranks; it travels in the metadata too, and the denoiser
    computes that many per stack when it uses the model.
    """


    x, lam, y, groups = stacks_to_arrays(stacks)
    trials: list[dict[str, Any]] = []
    if tune_trials:
        if stage:
            stage(f"tuning ({tune_trials} Optuna trials)")
        config, trials = tune_architecture(x, lam, y, groups, n_trials=tune_trials, config=config)
    if stage:
        stage("training")
    outcome = train_network(x, lam, y, groups, config=config, progress=progress)
    if n_components is None:
        n_components = max(len(s.labels) for s in stacks)
    classifier = CNNClassifier(outcome.model, n_components=n_components)
    metrics: dict[str, Any] = {"validation": outcome.metrics, "tuning_trials": trials}
    if calibration_cases:
        if stage:
            stage("calibrating the decision threshold")
        threshold, selection, by_choice = calibrate_threshold(classifier, calibration_cases)
        classifier = CNNClassifier(outcome.model, threshold=threshold, selection=selection,
                                   n_components=n_components)
        metrics["threshold_calibration"] = {"threshold": threshold, "selection": selection,
                                            "mean_psnr_db": by_choice}
    evaluations = {"held_out": evaluation_cases, **(extra_evaluations or {})}
    for name, cases in evaluations.items():
        if not cases:
            continue
        if stage:
            stage(f"evaluating on {name.replace('_', ' ')} images")
        rows = evaluate_cases(classifier, cases)
        metrics[name] = {"by_dose": summarise_by_dose(rows), "rows": rows_as_dicts(rows)}
    headline = {
        "threshold": classifier.threshold,
        "selection": classifier.selection,
        "n_components": n_components,
        "accuracy": outcome.metrics["accuracy"],
        "balanced_accuracy": outcome.metrics["balanced_accuracy"],
    }
    if "held_out" in metrics:
        overall = metrics["held_out"]["by_dose"][-1]
        headline.update({
            "psnr_gap_to_oracle_db": overall["gap_to_oracle_db"],
            "psnr_gain_over_mp_db": overall["gain_over_mp_db"],
            "ssim_cnn": overall["ssim_cnn"],
            "meets_acceptance": meets_acceptance(metrics["held_out"]["by_dose"]),
        })
    metrics["headline"] = headline
    sources = sorted({s.source for s in stacks})
    training_summary = {
        "sources": sources,
        "n_images": len(stacks),
        "n_groups": len({s.key for s in stacks}),
        "n_eigenpatches": len(y),
        "positive_fraction": float(np.mean(y)),
        "materials": sorted({str(s.provenance.get("material", "survey")) for s in stacks}),
        "train_groups": len(outcome.train_groups),
        "validation_groups": len(outcome.val_groups),
        "config": outcome.config.to_dict(),
        "epochs_run": len(outcome.history),
    }
    return TrainedClassifier(outcome, metrics, training_summary)


def model_metadata(trained: TrainedClassifier, *, name: str, seed: int) -> dict[str, Any]:
    """What goes into the model file's metadata and the model card."""
    return {
        "name": name,
        "threshold": trained.metrics["headline"].get("threshold", 0.5),
        "selection": trained.metrics["headline"].get("selection", "independent"),
        "n_components": trained.metrics["headline"].get("n_components"),
        "training_data": trained.training_summary,
        "metrics": trained.metrics,
        "code_version": code_version(),
        "created": timezone.now().isoformat(),
        "seed": seed,
        "history": [vars(record) for record in trained.outcome.history],
    }


def register_classifier_file(source: IO[bytes] | Path, *, name: str,
                             training_summary: dict[str, Any] | None = None,
                             metrics: dict[str, Any] | None = None,
                             is_shipped: bool = False) -> ClassifierModel:
    """Validate a model file and store it as a (not yet active) :class:`ClassifierModel`.

    The file's kind (paper CNN or group classifier) is read from the file itself.

    Raises
    ------
    denoiser.reucid.errors.ModelLoadError
        For a missing, corrupt or foreign file: nothing is stored then.
    """
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "upload.pt"
        if isinstance(source, Path):
            local.write_bytes(source.read_bytes())
        else:
            source.seek(0)
            with open(local, "wb") as out:
                out.writelines(iter(lambda: source.read(1 << 20), b""))
        # refuses corrupt files before any row exists
        kind, classifier = load_model_file(local)
        metadata = classifier.metadata
        with open(local, "rb") as handle:
            record = ClassifierModel(
                name=name, sha256=sha256_of(handle), kind=kind,
                architecture=classifier.model.architecture.to_dict(),
                training_summary=training_summary or metadata.get("training_data", {}),
                metrics=metrics or metadata.get("metrics", {}),
                code_version=str(metadata.get("code_version", ""))[:100],
                seed=metadata.get("seed") if isinstance(metadata.get("seed"), int) else None,
                is_shipped=is_shipped,
            )
            record.file.save(f"{record.sha256[:16]}.pt", File(handle), save=False)
        record.save()
    return record


def load_model_file(path: Path) -> tuple[str, Any]:
    """``(kind, classifier)`` of a model file: a paper CNN or a group classifier.

    Raises
    ------
    denoiser.reucid.errors.ModelLoadError
        For a missing, corrupt or foreign file.
    """

    if model_kind(path) == GROUP_KIND:
        return GROUP_KIND, load_group_classifier(path)
    return "paper", load_classifier(path)


def activate_classifier(model: ClassifierModel, *, user: Any = None,
                        reason: str = "activated") -> ClassifierModel:
    """Make ``model`` the active classifier of its kind (atomic; the file is re-validated)."""
    with model.file.open("rb") as handle, tempfile.NamedTemporaryFile(suffix=".pt") as copy:
        copy.write(handle.read())
        copy.flush()
        load_model_file(Path(copy.name))  # never activate a file that would not load
    with transaction.atomic():
        locked = list(ClassifierModel.objects.select_for_update().filter(is_active=True,
                                                                         kind=model.kind))
        previous = locked[0] if locked else None
        if previous is not None and previous.pk == model.pk:
            return model
        ClassifierModel.objects.filter(is_active=True, kind=model.kind).update(is_active=False)
        now = timezone.now()
        ClassifierModel.objects.filter(pk=model.pk).update(is_active=True, activated_at=now)
        ActivationEvent.objects.create(classifier=model, previous=previous, reason=reason,
                                       user=user if getattr(user, "pk", None) else None)
    model.refresh_from_db()
    return model


def roll_back_classifier(*, user: Any = None, kind: str | None = None) -> ClassifierModel:
    """Re-activate the model that was active before the current one (of ``kind``).

    Without ``kind``: the kind whose active model was activated last.
    """
    active = ClassifierModel.objects.filter(is_active=True)
    if kind is not None:
        active = active.filter(kind=kind)
    current = active.order_by("-activated_at", "-id").first()
    if current is None:
        raise TrainingError("no classifier is active, so there is nothing to roll back")
    event = current.activations.exclude(previous=None).first()
    if event is None or event.previous is None:
        raise TrainingError(f"{current.name} has no earlier active model to roll back to")
    return activate_classifier(event.previous, user=user,
                               reason=f"roll back from #{current.pk} {current.name}")


def register_shipped_model(kind: str = "paper") -> tuple[ClassifierModel | None, bool, bool]:
    """Register the package's default model of a kind and activate it if none of that
    kind is active.

    Also activates it when the active model of its kind is an older shipped default (a
    release updated the package); a trained or uploaded active model is left alone.
    Idempotent. Returns ``(record, created, activated)``; ``record`` is None when the
    package has no shipped model file of that kind.
    """

    path = shipped_model_path(kind)
    if not path.is_file():
        return None, False, False
    digest = sha256_of(path)
    record = ClassifierModel.objects.filter(sha256=digest).first()
    created = record is None
    if record is None:
        record = register_classifier_file(path, name=f"shipped default ({path.name})",
                                          is_shipped=True)
    activated = False
    active = ClassifierModel.objects.filter(is_active=True, kind=record.kind).first()
    if active is None:
        activate_classifier(record, reason="shipped model registered")
        activated = True
    elif active.is_shipped and active.pk != record.pk:
        # The site was running on the previous default; a new release's default replaces
        # it. A model an admin trained or activated is never overridden.
        activate_classifier(record, reason="new shipped model replaces the previous default")
        activated = True
    return record, created, activated


# --------------------------------------------------------------------------- runs

def create_training_run(*, source: str = TrainingRun.Source.BOTH, tune_trials: int = 0,
                        auto_activate: bool = False, user: Any = None,
                        options: dict[str, Any] | None = None) -> TrainingRun:
    """A queued run row (not started); see :func:`start_training_run`."""
    if source not in TrainingRun.Source.values:
        raise TrainingError(f"unknown source {source!r}; choose auto, survey or both")
    if tune_trials < 0:
        raise TrainingError("the number of tuning trials cannot be negative")
    return TrainingRun.objects.create(
        source=source, tune_trials=tune_trials, auto_activate=auto_activate,
        options=options or {}, requested_by=user if getattr(user, "pk", None) else None,
    )


def start_training_run(*, source: str = TrainingRun.Source.BOTH, tune_trials: int = 0,
                       auto_activate: bool = False, user: Any = None,
                       options: dict[str, Any] | None = None) -> TrainingRun:
    """Queue a retraining; the Celery task starts once the row is committed."""
    run = create_training_run(source=source, tune_trials=tune_trials,
                              auto_activate=auto_activate, user=user, options=options)

    def enqueue() -> None:
        from .tasks import train_classifier_task  # a real cycle: training.tasks imports this module

        result = train_classifier_task.delay(run.pk)
        TrainingRun.objects.filter(pk=run.pk).update(task_id=str(result.id or ""))

    transaction.on_commit(enqueue)
    return run


def _update_run(run_id: int, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now(), **fields)


def training_stale_after_seconds() -> float:
    """How long a running run may go without a heartbeat before its worker counts as lost."""
    return float(getattr(settings, "REUCID_TRAINING_STALE_AFTER_SECONDS", 900))


def _stale_running_runs(now: Any = None) -> Any:
    cutoff = (now or timezone.now()) - timedelta(seconds=training_stale_after_seconds())
    return TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )


def _claim_run(run_id: int) -> bool:
    """Atomically take a queued run, or one whose worker died (redelivered message)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        claimable = run.status == TrainingRun.Status.QUEUED or (
            _stale_running_runs().filter(pk=run_id).exists()
        )
        if not claimable:
            return False
        _update_run(run_id, status=TrainingRun.Status.RUNNING, started_at=timezone.now(),
                    stage="gathering data", history=[], epoch=0, error="")
        return True


def fail_stale_training_runs(*, now: Any = None) -> list[int]:
    """Mark runs whose worker stopped (no heartbeat) as failed; the active model stays.

    Returns the ids of the runs marked failed. A run whose message is redelivered to a
    live worker later is restarted by :func:`execute_training_run` instead.
    """
    failed: list[int] = []
    for run_id in _stale_running_runs(now).values_list("pk", flat=True):
        with transaction.atomic():
            if not _stale_running_runs(now).select_for_update().filter(pk=run_id).exists():
                continue
            _update_run(run_id, status=TrainingRun.Status.FAILED, finished_at=timezone.now(),
                        stage="failed",
                        error="The worker running this training stopped responding; the "
                              "active model is unchanged. Start a new run.")
            failed.append(run_id)
    return failed


def _active_is_better(active: ClassifierModel | None, candidate_rows: list[dict[str, Any]],
                      cases: Sequence[Any]) -> tuple[bool, dict[str, Any]]:
    """Compare on the same held-out images: True when the candidate's PSNR is higher."""


    candidate = float(np.mean([r["psnr_cnn"] for r in candidate_rows])) if candidate_rows \
        else float("-inf")
    if active is None:
        return False, {"candidate_psnr_db": candidate}
    with active.file.open("rb") as handle, tempfile.NamedTemporaryFile(suffix=".pt") as copy:
        copy.write(handle.read())
        copy.flush()
        rows = evaluate_cases(load_classifier(copy.name), cases)
    incumbent = float(np.mean([r.psnr_cnn for r in rows])) if rows else float("-inf")
    return incumbent >= candidate, {"candidate_psnr_db": candidate,
                                    "active_psnr_db": incumbent, "active_id": active.pk}


def execute_training_run(run_id: int) -> TrainingRun:
    """Do a queued run: gather data, train, evaluate, register; maybe activate.

    Every failure is recorded on the run (status ``failed`` with the reason) and leaves
    the active model untouched.
    """

    if not _claim_run(run_id):
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.get(pk=run_id)
    if (run.options or {}).get("kind") == "group":
        return _execute_group_run(run)
    options = {**DEFAULT_RUN_OPTIONS, **getattr(settings, "REUCID_TRAINING_RUN_DEFAULTS", {}),
               **(run.options or {})}
    seed = int(options.get("seed", 0))
    try:
        datasets: list[LabelledDataset] = []
        if run.source in (TrainingRun.Source.AUTO, TrainingRun.Source.BOTH):
            def simulated(done: int, total: int) -> None:
                if done % 8 == 0 or done == total:
                    _update_run(run_id, stage=f"simulating and labelling ({done}/{total})")

            datasets.append(create_auto_dataset(
                n_scenes=int(options.get("n_scenes", 48)), rule=options.get("rule"),
                c=options.get("c"), seed=seed, progress=simulated,
                n_components=int(options.get("n_components", 80)),
                shape=tuple(options.get("shape", (128, 128))), sizes=options.get("sizes"),
                pixel_doses=[float(d) for d in options.get("pixel_doses", ())],
                aligned_share=float(options.get("aligned_share", 0.0)),
            ))
        if run.source in (TrainingRun.Source.SURVEY, TrainingRun.Source.BOTH):
            survey = create_survey_dataset(min_responses=int(options.get("min_responses", 1)))
            if survey is not None:
                datasets.append(survey)
            elif run.source == TrainingRun.Source.SURVEY:
                raise TrainingError("the survey has no answered images yet; train from "
                                    "'auto' or 'both' until it does")
        run.datasets.set(datasets)
        stacks = [stack for dataset in datasets for stack in load_dataset_stacks(dataset)]
        config = TrainingConfig(epochs=int(options.get("epochs", 20)), seed=seed,
                                augment=bool(options.get("augment", True)))
        _update_run(run_id, n_epochs=config.epochs)
        history: list[dict[str, Any]] = []

        def on_epoch(record: Any, planned: int) -> None:
            history.append({k: (round(v, 5) if isinstance(v, float) else v)
                            for k, v in vars(record).items()})
            _update_run(run_id, epoch=record.epoch, n_epochs=planned, history=list(history))

        cases = held_out_cases(n_scenes=int(options.get("evaluation_scenes", 9)),
                               shape=tuple(options.get("shape", (128, 128))))
        calibration = calibration_cases(
            n_scenes=int(options.get("calibration_scenes", 6)),
            shape=tuple(options.get("shape", (128, 128))),
            pixel_doses=[float(d) for d in options.get("pixel_doses", ())],
            aligned_share=float(options.get("aligned_share", 0.0)), seed=seed)
        trained = train_and_evaluate(
            stacks, config=config, tune_trials=run.tune_trials, evaluation_cases=cases,
            calibration_cases=calibration,
            progress=on_epoch, stage=lambda text: _update_run(run_id, stage=text),
        )
        _update_run(run_id, stage="saving the model")

        name = f"run #{run_id} ({run.source})"
        with tempfile.TemporaryDirectory() as folder:
            path = save_classifier(trained.outcome.model, Path(folder) / "model.pt",
                                   metadata=model_metadata(trained, name=name, seed=seed))
            record = register_classifier_file(path, name=name,
                                              training_summary=trained.training_summary,
                                              metrics=trained.metrics)
        activated = False
        if run.auto_activate:
            active = ClassifierModel.objects.filter(is_active=True).first()
            keep_active, comparison = _active_is_better(
                active, trained.metrics.get("held_out", {}).get("rows", []), cases)
            record.metrics = {**record.metrics, "comparison_with_active": comparison}
            record.save(update_fields=["metrics"])
            if not keep_active:
                activate_classifier(record, user=run.requested_by,
                                    reason=f"auto-activated by run #{run_id}")
                activated = True
        _update_run(run_id, status=TrainingRun.Status.SUCCEEDED, result=record,
                    activated=activated, finished_at=timezone.now(), stage="done")
    except Exception as exc:
        _record_failure(run_id, exc, what="training run")
    run.refresh_from_db()
    return run


def _record_failure(run_id: int, exc: Exception, *, what: str) -> None:
    """Mark a run failed with a message a user can read (a traceback for the unexpected)."""
    logger.exception("%s %s failed", what, run_id)
    message = str(exc) if isinstance(exc, TrainingError) else (
        f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=5)}")
    _update_run(run_id, status=TrainingRun.Status.FAILED, error=message,
                finished_at=timezone.now(), stage="failed")


# --------------------------------------------------------------------------- group runs

#: Options of a group-classifier run (``options["kind"] == "group"``); a deployment may
#: override them with REUCID_GROUP_TRAINING_RUN_DEFAULTS, a run's own options win.
GROUP_RUN_OPTIONS: dict[str, Any] = {
    "n_crystals": 12, "n_scenes": 8, "size": 128, "epochs": 8, "seed": 0,
    "learning_rate": 1e-2, "batch_size": 256, "defect_weight": 4.0, "respondents": "all",
    "min_responses": 1,
    # the gate's held-out set (the shipped model's: 3 crystals of each held-out material
    # and 4 fidelity scenes, 128 px, every dose); smaller only in tests
    "held_out_crystals": 3, "held_out_size": 128, "held_out_scenes": True,
    # continue from the active group model's weights (new votes refine the model the site
    # serves) instead of training a new one; without an active group model: a new one
    "warm_start": False,
}


def make_group_candidates(noisy: np.ndarray, *, max_level: int, seed: int) -> Any:
    """Survey candidates of the default method: one run, its output at the levels
    ``1..max_level`` of its threshold ladder (:func:`training.group_examples.group_candidates`)."""
    from .group_examples import group_candidates  # torch and the core's default method

    return group_candidates(noisy, max_level=max_level, seed=seed)


def run_options_from_form(data: Any) -> dict[str, Any] | None:
    """A run's options from the training page's form: the model kind and, for a group
    classifier, whose survey votes label and whether it continues from the active group
    model (None: the paper CNN's defaults)."""
    kind = str(data.get("kind", "paper") or "paper")
    if kind not in ("paper", "group"):
        raise TrainingError(f"unknown model kind {kind!r}; choose group or paper")
    if kind == "paper":
        return None
    respondents = str(data.get("respondents", "all") or "all")
    if respondents not in ("all", "experts", "non-experts"):
        raise TrainingError("respondents must be all, experts or non-experts")
    options: dict[str, Any] = {"kind": "group", "respondents": respondents}
    if data.get("warm_start"):
        options["warm_start"] = True
    return options


def group_examples_for_run(source: str, options: dict[str, Any],
                           progress: Callable[[int, int], None] | None = None) -> Any:
    """Labelled group components of a run: simulations and/or the survey's choices."""

    parts = []
    if source in (TrainingRun.Source.AUTO, TrainingRun.Source.BOTH):
        cases = training_group_cases(n_crystals=int(options["n_crystals"]),
                                     n_scenes=int(options["n_scenes"]),
                                     seed=int(options["seed"]), size=int(options["size"]))
        parts.append(build_group_examples(cases, seed=int(options["seed"]),
                                          defect_weight=float(options["defect_weight"]),
                                          progress=progress))
    if source in (TrainingRun.Source.SURVEY, TrainingRun.Source.BOTH):


        survey = survey_group_examples(iter_group_survey_labels(
            min_responses=int(options["min_responses"]),
            respondents=str(options["respondents"])))
        if len(survey):
            parts.append(survey)
        elif source == TrainingRun.Source.SURVEY:
            raise TrainingError("no survey image of the default method has been answered "
                                "yet (by the chosen respondents); train from 'auto' or "
                                "'both' until one has")
    examples = GroupExamples.concatenate(parts)
    if not len(examples):
        raise TrainingError("no labelled group components to train on")
    return examples


def gate_against_active(candidate: Any, *, cases: Sequence[Any] | None = None
                        ) -> dict[str, Any]:
    """Score a group classifier beside what the default method uses now, on the fixed
    held-out set, and say whether it is at least as good on PSNR and every fidelity
    measure at every dose (:func:`training.group_evaluation.compare_rows`).

    The reference is the active group model, else the noise-edge rule (what an upload
    runs when no group model is active).
    """

    cases = list(cases) if cases is not None else held_out_group_cases()
    active = ClassifierModel.objects.filter(is_active=True, kind="group").first()
    if active is not None:
        reference_rows = evaluate_selector(_load_stored_classifier(active), cases)
        reference_name = f"#{active.pk} {active.name}"
    else:
        reference_rows = evaluate_selector(None, cases)
        reference_name = "noise-edge rule"
    candidate_rows = evaluate_selector(candidate, cases)
    verdict = compare_rows(candidate_rows, reference_rows)
    return {**verdict, "reference": reference_name,
            "reference_id": None if active is None else active.pk,
            "candidate_by_dose": summarise_rows(candidate_rows),
            "reference_by_dose": summarise_rows(reference_rows)}


def _warm_start_model(options: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
    """With ``options["warm_start"]``: the active group model (``{"id", "name"}`` and its
    network) to continue from; None to start afresh (no warm start asked, or no active
    group model)."""
    if not options.get("warm_start"):
        return None
    active = ClassifierModel.objects.filter(is_active=True, kind="group").first()
    if active is None:
        return None
    return {"id": active.pk, "name": active.name}, _load_stored_classifier(active).model


def _load_stored_classifier(record: Any) -> Any:
    """The classifier in a registered model's file (read through the storage, which may
    not be a local folder)."""
    with record.file.open("rb") as handle, tempfile.NamedTemporaryFile(suffix=".pt") as copy:
        copy.write(handle.read())
        copy.flush()
        return load_model_file(Path(copy.name))[1]


def _execute_group_run(run: TrainingRun) -> TrainingRun:
    """A group-classifier run: label, train, gate on the held-out set, register, maybe
    activate (only when the gate holds)."""


    run_id = run.pk
    options = {**GROUP_RUN_OPTIONS,
               **getattr(settings, "REUCID_GROUP_TRAINING_RUN_DEFAULTS", {}),
               **(run.options or {})}
    try:
        def labelled(done: int, total: int) -> None:
            if done % 4 == 0 or done == total:
                _update_run(run_id, stage=f"simulating and labelling ({done}/{total})")

        examples = group_examples_for_run(run.source, options, progress=labelled)
        config = GroupTrainingConfig(epochs=int(options["epochs"]), seed=int(options["seed"]),
                                     learning_rate=float(options["learning_rate"]),
                                     batch_size=int(options["batch_size"]))
        _update_run(run_id, stage="training", n_epochs=config.epochs)
        history: list[dict[str, Any]] = []

        def on_epoch(record: dict[str, float], planned: int) -> None:
            history.append({k: round(v, 5) if isinstance(v, float) else v
                            for k, v in record.items()})
            _update_run(run_id, epoch=int(record["epoch"]), n_epochs=planned,
                        history=list(history))

        start = _warm_start_model(options)
        outcome = train_group_network(examples, config=config, progress=on_epoch,
                                      initial=None if start is None else start[1])
        _update_run(run_id, stage="comparing with the active model on held-out images")
        name = f"run #{run_id} ({run.source}, group)"

        cases = held_out_group_cases(n_crystals=int(options["held_out_crystals"]),
                                     size=int(options["held_out_size"]),
                                     scenes=bool(options["held_out_scenes"]))
        gate = gate_against_active(GroupClassifier(outcome.model, metadata={"name": name}),
                                   cases=cases)
        summary = {"kind": "group", "sources": [run.source], "n_components": len(examples),
                   "n_images": len(examples.provenance),
                   "positive_fraction": float(examples.labels.mean()),
                   "respondents": options["respondents"], "config": config.to_dict(),
                   "started_from": None if start is None else start[0]}
        metrics = {"validation": outcome.metrics, "gate": gate,
                   "headline": {"accuracy": outcome.metrics["accuracy"],
                                "balanced_accuracy": outcome.metrics["balanced_accuracy"],
                                "psnr_gain_over_active_db": gate["psnr_gain_db"],
                                "at_least_as_good_as_active": gate["ok"]}}
        _update_run(run_id, stage="saving the model")
        with tempfile.TemporaryDirectory() as folder:
            path = save_group_classifier(outcome.model, Path(folder) / "model.pt", metadata={
                "name": name, "threshold": 0.5, "training_data": summary, "metrics": metrics,
                "code_version": code_version(), "created": timezone.now().isoformat(),
                "seed": int(options["seed"]), "history": history})
            record = register_classifier_file(path, name=name, training_summary=summary,
                                              metrics=metrics)
        activated = False
        if run.auto_activate and gate["ok"]:
            activate_classifier(record, user=run.requested_by,
                                reason=f"auto-activated by run #{run_id}: at least as good as "
                                       f"{gate['reference']} on the held-out set")
            activated = True
        _update_run(run_id, status=TrainingRun.Status.SUCCEEDED, result=record,
                    activated=activated, finished_at=timezone.now(), stage="done")
    except Exception as exc:
        _record_failure(run_id, exc, what="group training run")
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------- IEF constant

def refit_ief_constant(*, min_responses: int = 1) -> Any:
    """Fit the edited-IEF constant c to the survey's mean choices (images with clean truth).

    Returns a :class:`training.labels.ConstantFit`; raises :class:`TrainingError` when no
    survey image has ground truth yet.
    """


    curves, targets = [], []
    for label in iter_survey_labels(min_responses=min_responses):
        if label.clean is None:
            continue
        k_max = len(label.eigenvalues)
        decomposition = decompose(label.noisy, patch_size=int(np.shape(label.eigenpatches)[-1]),
                                  n_components=k_max, seed=0)
        reconstructions = decomposition.reconstructions(range(1, decomposition.n_components + 1))
        curves.append(ief_curve(label.noisy, label.clean, reconstructions))
        targets.append(float(label.mean_k))
    if not curves:
        raise TrainingError("no survey image with a ground truth has been answered yet")
    return fit_ief_constant(curves, targets)
