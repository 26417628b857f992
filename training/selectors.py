"""Read side of the training app (other apps call these; see docs/architecture.md)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db.models import QuerySet

from denoiser.reucid.errors import ModelLoadError

# modules, not names: the shipped paths are read when asked (tests point them elsewhere)
from denoiser.reucid.selection import cnn, group_cnn

from .group_evaluation import TOLERANCES
from .models import ClassifierModel, LabelledDataset, TrainingRun


def gate_tolerances() -> dict[str, tuple[int, float]]:
    """The retraining gate's measures: name -> (direction, tolerance).

    Direction ``+1``: higher is better, ``-1``: lower is better, ``0``: closer to 1 is
    better; the tolerance is what a mean may lose and still count as not worse.
    """
    return dict(TOLERANCES)


def active_classifier_record(kind: str = "paper") -> ClassifierModel | None:
    """The active :class:`ClassifierModel` of a kind ("paper" or "group"), or None."""
    return ClassifierModel.objects.filter(is_active=True, kind=kind).first()


def shipped_model_path(kind: str = "paper") -> Path:
    """Where the package's default model of a kind lives (it may not exist)."""
    return Path(group_cnn.GROUP_SHIPPED_MODEL_PATH if kind == "group"
                else cnn.SHIPPED_MODEL_PATH)


def active_classifier_path(kind: str = "paper") -> Path:
    """File of the active classifier of a kind, else the shipped model of that kind.

    Raises
    ------
    denoiser.reucid.errors.ModelLoadError
        If neither the active record's file nor the shipped model exists.
    """
    record = active_classifier_record(kind)
    if record is not None and record.file:
        try:
            path = Path(record.file.path)
        except NotImplementedError:  # remote storage: fall back to the shipped model
            path = None
        if path is not None and path.is_file():
            return path
    shipped = shipped_model_path(kind)
    if shipped.is_file():
        return shipped
    command = "train_classifier --kind group --ship" if kind == "group" else \
        "train_classifier --ship"
    raise ModelLoadError(
        f"no {kind} classifier is available: neither an active model file nor the shipped "
        f"model {shipped} exists (run `python manage.py {command}`)"
    )


def classifier_models() -> QuerySet[ClassifierModel]:
    return ClassifierModel.objects.all()


def recent_training_runs(limit: int = 20) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("result", "requested_by")[:limit]


def run_progress(run: TrainingRun) -> dict:
    """JSON-ready progress of a run (what the training page polls)."""
    return {
        "id": run.pk,
        "status": run.status,
        "stage": run.stage,
        "epoch": run.epoch,
        "n_epochs": run.n_epochs,
        "history": run.history,
        "error": run.error,
        "result": None if run.result_id is None else {
            "id": run.result_id, "name": run.result.name,
            "headline": run.result.headline_metrics,
            "is_active": run.result.is_active,
        },
        "activated": run.activated,
        "source": run.source,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


@dataclass(frozen=True)
class EigenpatchLabel:
    """One labelled eigenpatch, wherever it came from."""

    dataset_id: int
    image_key: str
    source: str
    component: int
    eigenvalue: float
    useful: bool
    eigenpatch: np.ndarray


def iter_eigenpatch_labels(dataset: LabelledDataset) -> Iterator[EigenpatchLabel]:
    """Every labelled eigenpatch of a dataset, in file order."""
    # training.services reads these selectors; the dataset reader lives there
    from .services import load_dataset_stacks

    for stack in load_dataset_stacks(dataset):
        for component, (patch, value, useful) in enumerate(
                zip(stack.eigenpatches, stack.eigenvalues, stack.labels)):
            yield EigenpatchLabel(dataset.pk, stack.key, stack.source, component,
                                  float(value), bool(useful), patch)


def group_utility_table(groups: dict, chosen_ks: list[int]) -> list[dict]:
    """Per component of a default-method survey image: the share of votes that keep it
    beside the share of its groups the active group classifier keeps (and its mean
    probability); the model columns are None when no group classifier is available.

    ``groups``: the image's stored group arrays (``survey.arrays.load_group_decomposition``).
    """
    from .group_labels import utility_table  # torch: only the staff page's table needs it

    try:
        classifier = group_cnn.load_group_classifier(active_classifier_path("group"))
    except ModelLoadError:
        classifier = None  # no group model yet: the votes alone are shown
    return utility_table(groups, chosen_ks, classifier)
