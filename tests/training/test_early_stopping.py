"""Early stopping keeps the best epoch's weights and stops after ``patience`` bad epochs."""
from __future__ import annotations

import torch

from training.early_stopping import EarlyStopping


def _set(net: torch.nn.Linear, value: float) -> None:
    with torch.no_grad():
        net.weight.fill_(value)


def test_restores_the_weights_of_the_best_epoch_not_the_last():
    net = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(net, patience=3)
    for value, loss in ((1.0, 0.9), (2.0, 0.3), (3.0, 0.5)):
        _set(net, value)
        assert not stopper.update(net, loss)
    stopper.restore(net)
    assert float(net.weight) == 2.0
    assert stopper.best_loss == 0.3


def test_stops_after_patience_epochs_without_an_improvement_larger_than_min_delta():
    net = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(net, patience=2, min_delta=0.1)
    assert not stopper.update(net, 1.0)
    assert not stopper.update(net, 0.95)  # better, but by less than min_delta
    assert stopper.update(net, 0.93)
    assert stopper.best_loss == 1.0


def test_the_best_state_is_a_copy_later_training_does_not_change_it():
    net = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(net, patience=5)
    _set(net, 7.0)
    stopper.update(net, 0.1)
    _set(net, -1.0)
    stopper.restore(net)
    assert float(net.weight) == 7.0
