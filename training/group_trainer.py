"""Training loop of the default method's group classifier (pure torch/numpy; no Django).

Examples are :class:`training.group_examples.GroupExamples`: per group component, the
resized eigenpatch, six numbers (noise-edge ratio, group size, index, gap, centred, the
group's leading ratio) and the oracle's (or the survey's) keep/drop label. The split
keeps every scene's images on one side; the network with the lowest validation loss is
kept. The network is tiny (a few hundred weights), so an epoch over tens of thousands of
components takes seconds on a CPU.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from denoiser.reucid.selection.group_cnn import GroupArchitecture, GroupEigenpatchNet

from .group_examples import GroupExamples
from .early_stopping import EarlyStopping
from .splitting import group_split

__all__ = ["GroupTrainingConfig", "GroupTrainingOutcome", "train_group_network"]


@dataclass(frozen=True)
class GroupTrainingConfig:
    """Optimiser settings of the group network.

    ``sample_weights`` (optional, per example) lets labels of unequal confidence count
    unequally, e.g. survey labels from many respondents more than from one.
    """

    architecture: GroupArchitecture = field(default_factory=GroupArchitecture)
    epochs: int = 12
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    test_fraction: float = 0.2
    patience: int = 4
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["architecture"] = self.architecture.to_dict()
        return data


@dataclass
class GroupTrainingOutcome:
    """A trained group network, its per-epoch history and its validation metrics."""

    model: GroupEigenpatchNet
    config: GroupTrainingConfig
    history: list[dict[str, float]]
    metrics: dict[str, float]


def _image_keys(examples: GroupExamples) -> np.ndarray:
    """Split key per example: the scene of its image (all doses of a scene together)."""
    keys = [str(p.get("key", i)) for i, p in enumerate(examples.provenance)]
    if not keys:
        return examples.groups.astype(str)
    return np.asarray(keys)[examples.groups]


def _batches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i:i + size] for i in range(0, n, size)]


def _evaluate(model: GroupEigenpatchNet, x: torch.Tensor, s: torch.Tensor, y: torch.Tensor,
              w: torch.Tensor) -> tuple[float, float, float]:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 4096].float(), s[i:i + 4096])
                            for i in range(0, len(y), 4096)]) if len(y) else torch.zeros(0)
        loss = float((nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none") * w).sum() / w.sum().clamp_min(1e-12)) if len(y) else 0.0
    predicted = (logits >= 0).numpy()
    truth = y.numpy() >= 0.5
    accuracy = float(np.mean(predicted == truth)) if len(truth) else 0.0
    recalls = [float(np.mean(predicted[truth == v] == v)) for v in (True, False)
               if (truth == v).any()]
    return loss, accuracy, float(np.mean(recalls)) if recalls else 0.0


def train_group_network(examples: GroupExamples, *, config: GroupTrainingConfig | None = None,
                        sample_weights: np.ndarray | None = None,
                        progress: Callable[[dict[str, float], int], None] | None = None,
                        initial: GroupEigenpatchNet | None = None,
                        ) -> GroupTrainingOutcome:
    """Train a :class:`GroupEigenpatchNet` on labelled group components.

    Parameters
    ----------
    examples : GroupExamples
        Features and labels (labels may be soft, in [0, 1]: a survey's mean choice).
    config : GroupTrainingConfig, optional
    sample_weights : numpy.ndarray, optional
        ``(M,)`` non-negative weight per example in the loss.
    progress : callable, optional
        Called after each epoch with the epoch's record and the planned epochs.
    initial : GroupEigenpatchNet, optional
        Continue from this network's weights (same architecture; not modified) instead
        of a fresh start. Its validation loss counts as the first best, so when no
        epoch improves on it, the result has its weights: new labels change a model
        only as far as they lower the loss on every label, old and new.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> from training.group_examples import GroupExamples
    >>> s = rng.normal(size=(400, 6)).astype(np.float32)
    >>> ex = GroupExamples(np.zeros((400, 1, 25, 25), np.float16), s, s[:, 0] > 0,
    ...                    np.arange(400) % 8, [{"key": str(i)} for i in range(8)])
    >>> out = train_group_network(ex, config=GroupTrainingConfig(epochs=30, batch_size=64))
    >>> out.metrics["accuracy"] > 0.9
    True
    """
    config = config or GroupTrainingConfig()
    n = len(examples)
    if n == 0:
        raise ValueError("no labelled components to train on")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    keys = _image_keys(examples)
    if len(np.unique(keys)) >= 2:
        train, test = group_split(keys, test_fraction=config.test_fraction, seed=config.seed)
    else:
        train, test = np.ones(n, bool), np.zeros(n, bool)
    x = torch.from_numpy(np.asarray(examples.x, dtype=np.float16))
    s = torch.from_numpy(np.asarray(examples.scalars, dtype=np.float32))
    y = torch.from_numpy(np.asarray(examples.labels, dtype=np.float32))
    w = torch.from_numpy(np.ones(n, np.float32) if sample_weights is None
                         else np.asarray(sample_weights, dtype=np.float32))
    model = GroupEigenpatchNet(config.architecture)
    if initial is not None:
        try:
            model.load_state_dict(initial.state_dict())
        except RuntimeError as error:
            raise ValueError("the initial network's architecture differs from the "
                             f"configuration's: {error}") from error
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    train_index = np.flatnonzero(train)
    test_index = np.flatnonzero(test) if test.any() else train_index
    stopper = EarlyStopping(model, patience=config.patience)
    history: list[dict[str, float]] = []
    if initial is not None:
        rows = torch.from_numpy(test_index)
        stopper.update(model, _evaluate(model, x[rows], s[rows], y[rows], w[rows])[0])
    for epoch in range(1, config.epochs + 1):
        tick = time.perf_counter()
        model.train()
        total, count = 0.0, 0.0
        for batch in _batches(len(train_index), config.batch_size, rng):
            rows = torch.from_numpy(train_index[batch])
            logits = model(x[rows].float(), s[rows])
            weight = w[rows]
            loss = (nn.functional.binary_cross_entropy_with_logits(
                logits, y[rows], reduction="none") * weight).sum() / weight.sum().clamp_min(1e-12)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * float(weight.sum())
            count += float(weight.sum())
        rows = torch.from_numpy(test_index)
        val_loss, accuracy, balanced = _evaluate(model, x[rows], s[rows], y[rows], w[rows])
        record = {"epoch": epoch, "train_loss": total / max(count, 1e-12), "val_loss": val_loss,
                  "val_accuracy": accuracy, "val_balanced_accuracy": balanced,
                  "seconds": time.perf_counter() - tick}
        history.append(record)
        if progress is not None:
            progress(record, config.epochs)
        if stopper.update(model, val_loss):
            break
    stopper.restore(model)
    rows = torch.from_numpy(test_index)
    val_loss, accuracy, balanced = _evaluate(model, x[rows], s[rows], y[rows], w[rows])
    model.eval()
    return GroupTrainingOutcome(model, config, history, {
        "val_loss": val_loss, "accuracy": accuracy, "balanced_accuracy": balanced,
        "n_train": int(len(train_index)), "n_validation": int(test.sum()),
        "positive_fraction": float(np.mean(examples.labels))})
