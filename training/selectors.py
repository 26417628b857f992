"""Read side of the training app (other apps call these; see docs/architecture.md)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db.models import QuerySet

from .models import ClassifierModel, LabelledDataset, TrainingRun


def active_classifier_record() -> ClassifierModel | None:
    """The active :class:`ClassifierModel`, or None when none has been activated."""
    return ClassifierModel.objects.filter(is_active=True).first()


def active_classifier_path() -> Path:
    """File of the active classifier, else the shipped model.

    Raises
    ------
    denoiser.reucid.errors.ModelLoadError
        If neither the active record's file nor the shipped model exists.
    """
    from denoiser.reucid.selection.cnn import SHIPPED_MODEL_PATH
    from denoiser.reucid.errors import ModelLoadError

    record = active_classifier_record()
    if record is not None and record.file:
        try:
            path = Path(record.file.path)
        except NotImplementedError:  # remote storage: fall back to the shipped model
            path = None
        if path is not None and path.is_file():
            return path
    shipped = Path(SHIPPED_MODEL_PATH)
    if shipped.is_file():
        return shipped
    raise ModelLoadError(
        "no classifier is available: neither an active model file nor the shipped "
        f"model {shipped} exists (run `python manage.py train_classifier --ship`)"
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
    from .services import load_dataset_stacks

    for stack in load_dataset_stacks(dataset):
        for component, (patch, value, useful) in enumerate(
                zip(stack.eigenpatches, stack.eigenvalues, stack.labels)):
            yield EigenpatchLabel(dataset.pk, stack.key, stack.source, component,
                                  float(value), bool(useful), patch)
