"""The training loop learns, quickly, and the example pipeline round-trips."""
from __future__ import annotations

import time

import numpy as np
import pytest

from denoiser.reucid.selection import FixedRank
from denoiser.reucid.selection.cnn import eigenpatch_features
from training.evaluation import calibrate_threshold, components_for, evaluate_case
from training.examples import simulated_cases
from training.tasks import train_classifier_task
from training.trainer import (
    TrainingConfig,
    classification_metrics,
    train_network,
    tune_architecture,
)


def test_tiny_training_run_learns_in_seconds(lattice_vs_noise):
    patches, values, useful, groups = lattice_vs_noise
    # Eigenvalues alone would separate the toy classes; scramble them so the network
    # has to learn from the patches' shapes.
    x, _ = eigenpatch_features(patches, values)
    lam = np.random.default_rng(1).random(len(x)).astype(np.float32)
    started = time.perf_counter()
    outcome = train_network(x, lam, useful, groups,
                            config=TrainingConfig(epochs=6, batch_size=32, patience=10,
                                                  augment=False, seed=0))
    assert time.perf_counter() - started < 30
    losses = [record.train_loss for record in outcome.history]
    assert losses[-1] < 0.7 * losses[0]
    assert outcome.metrics["balanced_accuracy"] > 0.8  # chance is 0.5
    assert not set(outcome.train_groups) & set(outcome.val_groups)


def test_training_is_reproducible_with_a_seed(lattice_vs_noise):
    patches, values, useful, groups = lattice_vs_noise
    x, lam = eigenpatch_features(patches, values)
    config = TrainingConfig(epochs=1, augment=False, seed=3)
    first = train_network(x, lam, useful, groups, config=config)
    second = train_network(x, lam, useful, groups, config=config)
    assert first.history[0].train_loss == second.history[0].train_loss


def test_training_refuses_single_class_labels(lattice_vs_noise):
    patches, values, useful, groups = lattice_vs_noise
    x, lam = eigenpatch_features(patches, values)
    with pytest.raises(ValueError, match="all the same"):
        train_network(x, lam, np.ones(len(x)), groups)


def test_classification_metrics_balanced_accuracy_counts_both_classes():
    metrics = classification_metrics(np.array([0.9, 0.9, 0.9, 0.1]), np.array([1, 1, 1, 0]))
    assert metrics["accuracy"] == 1.0 and metrics["balanced_accuracy"] == 1.0
    skewed = classification_metrics(np.array([0.9, 0.9, 0.9, 0.9]), np.array([1, 1, 1, 0]))
    assert skewed["accuracy"] == 0.75 and skewed["balanced_accuracy"] == 0.5


class _RankedByIndex:
    """A fake classifier: probability falls linearly with the component index."""

    def probabilities(self, eigenpatches, eigenvalues, context=None):
        k = len(eigenvalues)
        return 1.0 - (np.arange(k) + 0.5) / k


def test_threshold_calibration_picks_the_best_mean_psnr():
    cases = list(simulated_cases(materials=["SrTiO3_001"], n_scenes=1, doses=[100, 10000],
                                 shape=(64, 64), seed=2))
    best, mode, means = calibrate_threshold(_RankedByIndex(), cases,
                                            thresholds=(0.9, 0.5, 0.1))
    assert len(means) == 6 and mode in ("independent", "leading")
    assert means[f"{mode}@{best:g}"] == max(means.values())


def test_optuna_tuning_returns_a_valid_architecture(lattice_vs_noise):
    pytest.importorskip("optuna")

    patches, values, useful, groups = lattice_vs_noise
    x, lam = eigenpatch_features(patches, values)
    config, trials = tune_architecture(x, lam, useful, groups, n_trials=2, trial_epochs=1,
                                       config=TrainingConfig(augment=False, seed=0))
    assert len(trials) == 2 and all(t["val_loss"] is not None for t in trials)
    best = min(trials, key=lambda t: t["val_loss"])["params"]
    assert config.architecture.channels == (best["channels_1"], best["channels_2"])


def test_the_retraining_task_is_named_and_routed_to_the_training_queue(settings):
    assert train_classifier_task.name == "training.train_classifier"
    assert settings.CELERY_TASK_ROUTES["training.*"]["queue"] == "training"


def test_evaluation_decomposes_as_many_components_as_the_classifier_ranks():
    case = next(simulated_cases(materials=["SrTiO3_001"], n_scenes=1, doses=[10000],
                                shape=(64, 64), seed=2))

    class KeepAll(FixedRank):
        n_components_required = 40

    assert components_for(KeepAll("all")) == 40
    assert components_for(FixedRank(3)) == components_for(FixedRank("all")) == 25
    wide = evaluate_case(KeepAll("all"), case)
    narrow = evaluate_case(KeepAll("all"), case, n_components=10)
    assert wide is not None and narrow is not None
    assert wide.k_cnn == 40 and narrow.k_cnn == 10  # keeps the whole decomposition
    assert narrow.k_oracle <= 10 and wide.psnr_oracle >= narrow.psnr_oracle
