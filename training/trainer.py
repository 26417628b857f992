"""Training loop for the eigenpatch CNN (pure torch/numpy; no Django).

Inputs are CNN features (see :func:`denoiser.reucid.selection.cnn.eigenpatch_features`), labels and
one group key per example (the image it came from). The examples are split 80/20 by
group, the training side is augmented eightfold (dihedral group), and the network with
the lowest validation loss is kept.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from denoiser.reucid.selection.cnn import CNNArchitecture, EigenpatchCNN

from .augmentation import augment_dihedral
from .early_stopping import EarlyStopping
from .splitting import group_split


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser and schedule settings (architecture included).

    Attributes
    ----------
    epochs, batch_size, learning_rate, weight_decay
        Adam settings and the number of passes over the augmented training set.
    test_fraction
        Share of examples (whole images) held out for validation.
    augment
        Eightfold dihedral augmentation of the training side.
    balance_classes
        Weight positives by negatives/positives in the loss (useful eigenpatches are
        the minority).
    patience
        Stop after this many epochs without a lower validation loss.
    seed
        Seeds the split, the initialisation and the batch order.
    """

    architecture: CNNArchitecture = field(default_factory=CNNArchitecture)
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    test_fraction: float = 0.2
    augment: bool = True
    balance_classes: bool = False
    patience: int = 6
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["architecture"] = self.architecture.to_dict()
        return data


@dataclass(frozen=True)
class EpochRecord:
    """Progress of one epoch (what the training page shows)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_balanced_accuracy: float
    seconds: float


@dataclass
class TrainingOutcome:
    """A trained network, its history and its validation metrics."""

    model: EigenpatchCNN
    history: list[EpochRecord]
    metrics: dict[str, float]
    config: TrainingConfig
    train_groups: list[str]
    val_groups: list[str]


ProgressCallback = Callable[[EpochRecord, int], None]


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray,
                           *, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean of the per-class recalls).

    Examples
    --------
    >>> classification_metrics(np.array([.9, .2, .1, .8]), np.array([1, 1, 0, 0]))
    {'accuracy': 0.5, 'balanced_accuracy': 0.5, 'n': 4, 'positive_fraction': 0.5}
    """
    predicted = np.asarray(probabilities) >= threshold
    truth = np.asarray(labels).astype(bool)
    recalls = [float(np.mean(predicted[truth == cls] == cls))
               for cls in (False, True) if np.any(truth == cls)]
    return {
        "accuracy": float(np.mean(predicted == truth)) if truth.size else float("nan"),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else float("nan"),
        "n": int(truth.size),
        "positive_fraction": float(np.mean(truth)) if truth.size else float("nan"),
    }


def _predict(model: EigenpatchCNN, x: torch.Tensor, lam: torch.Tensor,
             batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size], lam[i:i + batch_size])
                          for i in range(0, len(x), batch_size)]) if len(x) else torch.zeros(0)


def train_network(
    x: np.ndarray,
    lam: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    config: TrainingConfig | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingOutcome:
    """Train an :class:`EigenpatchCNN` on labelled eigenpatch features.

    Parameters
    ----------
    x
        ``(N, 1, 25, 25)`` float32 features.
    lam
        ``(N,)`` normalised eigenvalues.
    labels
        ``(N,)`` bool/0-1 usefulness labels.
    groups
        ``(N,)`` image key per example; the validation split never cuts an image.
    config
        Settings; :class:`TrainingConfig` defaults if omitted.
    progress
        Called after each epoch with the epoch's record and the planned epoch count.

    Returns
    -------
    TrainingOutcome

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(64) < 0.5
    >>> x = rng.normal(size=(64, 1, 25, 25)).astype(np.float32) + y[:, None, None, None]
    >>> out = train_network(x, y.astype(np.float32), y, np.arange(64) % 8,
    ...                     config=TrainingConfig(epochs=2, augment=False))
    >>> len(out.history)
    2
    """
    settings = config or TrainingConfig()
    features = np.asarray(x, dtype=np.float32)
    values = np.asarray(lam, dtype=np.float32)
    truth = np.asarray(labels).astype(np.float32)
    keys = np.asarray(groups).astype(str)
    n = len(features)
    if features.ndim != 4 or features.shape[1:] != (1, 25, 25):
        raise ValueError(f"features must have shape (N, 1, 25, 25), got {features.shape}")
    if not (len(values) == len(truth) == len(keys) == n) or n == 0:
        raise ValueError("features, eigenvalues, labels and groups must have the same length")
    if truth.min() == truth.max():
        raise ValueError("the labels are all the same; a classifier cannot learn from that")

    train_mask, val_mask = group_split(keys, test_fraction=settings.test_fraction,
                                       seed=settings.seed)
    x_train, lam_train, y_train = features[train_mask], values[train_mask], truth[train_mask]
    if settings.augment:
        x_train, lam_train, y_train = augment_dihedral(x_train, lam_train, y_train)

    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = EigenpatchCNN(settings.architecture)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate,
                                 weight_decay=settings.weight_decay)
    positives = float(y_train.sum())
    pos_weight = None
    if settings.balance_classes and positives > 0:
        pos_weight = torch.tensor((len(y_train) - positives) / positives)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings.epochs)

    xt, lt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, lam_train, y_train))
    xv, lv, yv = (torch.from_numpy(np.ascontiguousarray(a))
                  for a in (features[val_mask], values[val_mask], truth[val_mask]))
    history: list[EpochRecord] = []
    stopper = EarlyStopping(model, patience=settings.patience, min_delta=1e-5)
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(model(xt[batch], lt[batch]), yt[batch])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        scheduler.step()
        logits = _predict(model, xv, lv)
        val_loss = float(nn.functional.binary_cross_entropy_with_logits(logits, yv)) \
            if len(yv) else math.nan
        metrics = classification_metrics(torch.sigmoid(logits).numpy(), yv.numpy())
        record = EpochRecord(epoch, total / max(len(xt), 1), val_loss, metrics["accuracy"],
                             metrics["balanced_accuracy"], time.perf_counter() - started)
        history.append(record)
        if progress is not None:
            progress(record, settings.epochs)
        if stopper.update(model, val_loss):
            break
    stopper.restore(model)
    model.eval()
    final = classification_metrics(torch.sigmoid(_predict(model, xv, lv)).numpy(), yv.numpy())
    final["val_loss"] = stopper.best_loss
    final["train_examples"] = len(xt)
    final["val_examples"] = len(xv)
    return TrainingOutcome(model, history, final, settings,
                           sorted(set(keys[train_mask])), sorted(set(keys[val_mask])))


def tune_architecture(
    x: np.ndarray,
    lam: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    n_trials: int,
    config: TrainingConfig | None = None,
    trial_epochs: int = 6,
) -> tuple[TrainingConfig, list[dict[str, Any]]]:
    """Optuna search over channels, kernel sizes, dense width and learning rate.

    Each trial trains for ``trial_epochs`` and is scored by its validation loss; the
    best settings are returned (with the original epoch count) plus every trial's
    parameters and score. Needs the optional ``optuna`` package.
    """
    try:
        # optuna is optional: the except branch handles its absence
        import optuna
    except ImportError as exc:  # optional extra
        raise RuntimeError("tuning needs optuna: pip install 'reucid[tune]'") from exc
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    base = config or TrainingConfig()

    def settings_for(params: dict[str, Any]) -> TrainingConfig:
        return replace(
            base,
            architecture=CNNArchitecture(
                channels=(params["channels_1"], params["channels_2"]),
                kernel_sizes=(params["kernel_1"], params["kernel_2"]),
                dense_width=params["dense_width"],
            ),
            learning_rate=params["learning_rate"],
        )

    def objective(trial: optuna.Trial) -> float:
        params = {
            "channels_1": trial.suggest_int("channels_1", 4, 32),
            "channels_2": trial.suggest_int("channels_2", 4, 32),
            "kernel_1": trial.suggest_categorical("kernel_1", [3, 5, 7]),
            "kernel_2": trial.suggest_categorical("kernel_2", [3, 5]),
            "dense_width": trial.suggest_int("dense_width", 8, 64, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 5e-4, 1e-2, log=True),
        }
        outcome = train_network(x, lam, labels, groups,
                                config=replace(settings_for(params), epochs=trial_epochs))
        return float(outcome.metrics["val_loss"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=base.seed))
    study.optimize(objective, n_trials=n_trials)
    trials = [{"number": t.number, "params": t.params, "val_loss": t.value}
              for t in study.trials]
    return settings_for(study.best_params), trials
