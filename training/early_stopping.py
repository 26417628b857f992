"""Early stopping on the validation loss, shared by the paper's and the group trainers."""
from __future__ import annotations

import copy
import math
from typing import Any

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Keep the weights of the best validation loss; say when to stop.

    Parameters
    ----------
    model : torch.nn.Module
        The network being trained; its weights at the start count as the first best.
    patience : int
        Epochs without an improvement larger than ``min_delta`` before stopping.
    min_delta : float, optional
        What counts as an improvement of the validation loss.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(1, 1)
    >>> stopper = EarlyStopping(net, patience=2)
    >>> [stopper.update(net, loss) for loss in (1.0, 0.5, 0.6, 0.7)]
    [False, False, False, True]
    >>> stopper.best_loss
    0.5
    """

    def __init__(self, model: Any, *, patience: int, min_delta: float = 1e-6) -> None:
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best_state = copy.deepcopy(model.state_dict())
        self.best_loss = math.inf
        self._stale = 0

    def update(self, model: Any, val_loss: float) -> bool:
        """Record an epoch's validation loss; True when training should stop."""
        if val_loss < self.best_loss - self.min_delta:
            self.best_state = copy.deepcopy(model.state_dict())
            self.best_loss, self._stale = float(val_loss), 0
            return False
        self._stale += 1
        return self._stale >= self.patience

    def restore(self, model: Any) -> None:
        """Load the best weights back into ``model``."""
        model.load_state_dict(self.best_state)
