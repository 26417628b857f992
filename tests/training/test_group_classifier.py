"""The group classifier's training: labels from the oracle, the trainer, the evaluation gate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from denoiser.reucid.grouped import denoise_grouped
from denoiser.reucid.grouped import pipeline as grouped_pipeline
from denoiser.reucid.selection import NoiseEdge, SelectionContext
from denoiser.reucid.selection.group_cnn import GroupClassifier
from training import selectors as training_selectors
from training.group_evaluation import TOLERANCES, compare_rows
from training.group_examples import (
    GroupComponents,
    GroupExamples,
    components_to_examples,
    label_case,
    recorded_group_passes,
)
from training.group_trainer import GroupTrainingConfig, train_group_network


def _synthetic_groups(n_groups: int, seed: int) -> list[GroupComponents]:
    """Groups of every size and patch size, spectra on both sides of the noise edge."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(n_groups):
        p = int(rng.choice([5, 7, 9, 11]))
        n = int(rng.integers(3 * p * p, 4000))
        edge = (1 + np.sqrt(p * p / n)) ** 2
        values = np.sort(edge * n * np.exp(rng.normal(-0.3, 1.2, 25)))[::-1]
        context = SelectionContext(patch_size=p, n_patches=n, noise_variance=1.0, centred=True)
        eigenpatches = rng.normal(size=(25, p, p)).astype(np.float32)
        labels = NoiseEdge().select(eigenpatches, values, context)
        groups.append(GroupComponents(eigenpatches, values, context, labels, 1))
    return groups


def _examples(groups, per_image: int = 10) -> GroupExamples:
    parts = [components_to_examples(groups[i:i + per_image], provenance={"key": f"img{i}"})
             for i in range(0, len(groups), per_image)]
    return GroupExamples.concatenate(parts)


def test_the_network_learns_the_noise_edge_rule_it_replaces():
    train = _examples(_synthetic_groups(160, seed=0))
    outcome = train_group_network(train, config=GroupTrainingConfig(
        epochs=6, seed=0, learning_rate=1e-2, batch_size=256))
    classifier = GroupClassifier(outcome.model)
    held_out = _synthetic_groups(60, seed=1)
    agree = [np.mean(classifier.select(g.eigenpatches, g.eigenvalues, g.context) == g.labels)
             for g in held_out]
    assert np.mean(agree) >= 0.97


def test_different_labels_train_different_networks():
    groups = _synthetic_groups(60, seed=2)
    a = _examples(groups)
    b = GroupExamples(a.x, a.scalars, ~a.labels, a.groups, a.provenance)
    config = GroupTrainingConfig(epochs=4, seed=0)
    first = GroupClassifier(train_group_network(a, config=config).model)
    second = GroupClassifier(train_group_network(b, config=config).model)
    differ = [np.mean(first.select(g.eigenpatches, g.eigenvalues, g.context)
                      != second.select(g.eigenpatches, g.eigenvalues, g.context))
              for g in groups]
    assert np.mean(differ) > 0.5


def test_continuing_from_a_model_keeps_it_unless_the_labels_lower_the_loss():
    groups = _synthetic_groups(60, seed=4)
    examples = _examples(groups)
    config = GroupTrainingConfig(epochs=4, seed=0, learning_rate=1e-2)
    start = train_group_network(examples, config=config).model
    before = {k: v.clone() for k, v in start.state_dict().items()}
    # a step far too large makes every epoch worse: the result is the starting model
    wild = train_group_network(examples, initial=start, config=GroupTrainingConfig(
        epochs=2, seed=0, learning_rate=1e3, patience=1)).model
    assert all(torch.equal(wild.state_dict()[k], before[k]) for k in before)
    # opposite labels move it, and the starting model itself is left as it was
    flipped = GroupExamples(examples.x, examples.scalars, ~examples.labels, examples.groups,
                            examples.provenance)
    moved = train_group_network(flipped, initial=start, config=config).model
    assert any(not torch.equal(moved.state_dict()[k], before[k]) for k in before)
    assert all(torch.equal(start.state_dict()[k], before[k]) for k in before)


def test_continuing_needs_the_same_architecture():
    from denoiser.reucid.selection.group_cnn import GroupArchitecture, GroupEigenpatchNet

    examples = _examples(_synthetic_groups(20, seed=5))
    other = GroupEigenpatchNet(GroupArchitecture(channels=(2, 3), dense_width=4))
    with pytest.raises(ValueError, match="architecture"):
        train_group_network(examples, initial=other, config=GroupTrainingConfig(epochs=1))


def _lattice_case(seed: int = 0, dose: float = 30.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:56, :56]
    clean = dose * (1.2 + np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8))
    return rng.poisson(clean).astype(float), clean


def test_recording_a_run_leaves_the_method_as_it_was():
    noisy, _ = _lattice_case()
    original = grouped_pipeline.iter_group_pass
    with recorded_group_passes() as records:
        recorded = denoise_grouped(noisy, seed=0)
    assert grouped_pipeline.iter_group_pass is original
    assert len(records) == recorded.passes
    np.testing.assert_array_equal(recorded.image, denoise_grouped(noisy, seed=0).image)


def test_the_oracle_labels_each_group_with_the_k_closest_to_the_clean_image():
    noisy, clean = _lattice_case(seed=1)
    run = label_case(noisy, clean, ks=(0, 1, 2, 4, 8))
    assert set(run.oracle_ks) <= {0, 1, 2, 4, 8}
    assert len(run.components) == len(run.result.last_pass)
    for group, k in zip(run.components, run.oracle_ks):
        assert group.labels.tolist() == [j < k for j in range(len(group.labels))]
    error = lambda image: float(np.mean((image - clean) ** 2))
    # coordinate descent starts from the run's own choice, so it can only do better
    assert error(run.oracle_image) <= error(run.result.image) * (1 + 1e-6)


def test_the_gate_wants_every_measure_at_every_dose():
    reference = [{"kind": "scene:x", "dose": 100.0, "psnr": 30.0, "n_kept": 2.0,
                  "defect_contrast": 0.8, "intensity_slope": 0.97,
                  "intensity_rel_rmse": 0.02, "position_error_pm": 3.0,
                  "residual_correlation": 0.02}]
    better_psnr_worse_defects = [{**reference[0], "psnr": 31.0, "defect_contrast": 0.7}]
    verdict = compare_rows(better_psnr_worse_defects, reference)
    assert not verdict["ok"] and verdict["failures"] == ["defect_contrast at 100 (scenes)"]
    slope_further_from_one = [{**reference[0], "intensity_slope": 1.05}]
    assert not compare_rows(slope_further_from_one, reference)["ok"]
    assert compare_rows(reference, reference)["ok"]
    assert not compare_rows(reference, reference, min_psnr_gain=0.3)["ok"]


@pytest.mark.parametrize("bad", [GroupExamples.empty()])
def test_training_without_labels_is_refused(bad):
    with pytest.raises(ValueError):
        train_group_network(bad)


def test_gate_tolerances_are_the_gates_and_a_copy():
    tolerances = training_selectors.gate_tolerances()
    assert tolerances == TOLERANCES and set(tolerances) >= {"psnr", "defect_contrast"}
    tolerances["psnr"] = (1, 99.0)
    assert training_selectors.gate_tolerances()["psnr"] == TOLERANCES["psnr"] != (1, 99.0)
