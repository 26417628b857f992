"""The default method's group classifier: its inputs, its model files, its place in the method."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from denoiser.reucid import denoise
from denoiser.reucid.errors import ModelLoadError
from denoiser.reucid.grouped.group_pca import run_group_pass
from denoiser.reucid.patches.patch_set import PatchSet
from denoiser.reucid.patches.similarity import group_positions
from denoiser.reucid.selection import NoiseEdge, SelectionContext, resolve_classifier
from denoiser.reucid.selection.cnn import EigenpatchCNN, load_classifier, save_classifier
from denoiser.reucid.selection.group_cnn import (
    GroupClassifier,
    GroupEigenpatchNet,
    group_features,
    load_group_classifier,
    model_kind,
    noise_edge_ratio,
    save_group_classifier,
)

from tests.recording_classifier import RecordingClassifier

from .._images import gaussian_lattice


def _context(n=400, p=7, sigma2=1.0, centred=True):
    return SelectionContext(patch_size=p, n_patches=n, noise_variance=sigma2, centred=centred)


def _paper_context():
    return SelectionContext(patch_size=5, n_patches=400)


def test_the_first_input_is_the_log_of_the_eigenvalue_over_the_noise_edge():
    context = _context(n=400, p=7)
    edge = (1 + np.sqrt(49 / 400)) ** 2
    values = np.array([10.0, 1.0, 0.5]) * edge * 400
    _, scalars = group_features(np.ones((3, 7, 7)), values, context)
    np.testing.assert_allclose(scalars[:, 0], np.log([10.0, 1.0, 0.5]), rtol=1e-5)
    np.testing.assert_allclose(scalars[:, 1], np.log(400) / 10, rtol=1e-6)
    np.testing.assert_allclose(scalars[:, 2], [0, 0.04, 0.08], atol=1e-7)
    np.testing.assert_array_equal(scalars[:, 4], 1.0)
    _, uncentred = group_features(np.ones((3, 7, 7)), values, _context(n=400, p=7,
                                                                       centred=False))
    np.testing.assert_array_equal(uncentred[:, 4], 0.0)
    # the known noise variance moves the edge
    _, doubled = group_features(np.ones((3, 7, 7)), values, _context(n=400, p=7, sigma2=2.0))
    np.testing.assert_allclose(doubled[:, 0], scalars[:, 0] - np.log(2.0), rtol=1e-5)


def test_a_network_with_only_the_linear_path_is_the_noise_edge_rule():
    net = GroupEigenpatchNet()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        net.linear.weight[0, 0] = 50.0  # sigmoid(50 log ratio) >= 0.5 <=> ratio >= 1
    classifier = GroupClassifier(net)
    rng = np.random.default_rng(0)
    for n in (150, 600, 4000):
        context = _context(n=n, p=9)
        values = np.sort(rng.uniform(0.2, 6.0, 25))[::-1] * n
        expected = NoiseEdge().select(np.zeros((25, 9, 9)),
                                      values, SelectionContext(patch_size=9, n_patches=n))
        got = classifier.select(rng.normal(size=(25, 9, 9)), values, context)
        np.testing.assert_array_equal(got, expected)
    assert noise_edge_ratio(np.array([4.0 * 100]), 100, 100).tolist() == [1.0]


def test_a_group_model_refuses_the_papers_stacks_of_unknown_noise():
    classifier = GroupClassifier(GroupEigenpatchNet())
    with pytest.raises(ValueError, match="paper"):
        classifier.select(np.zeros((3, 5, 5)), np.ones(3), _paper_context())
    with pytest.raises(ValueError, match="paper"):
        classifier.select(np.zeros((3, 5, 5)), np.ones(3), None)


def test_model_files_carry_their_kind_and_load_as_the_right_class(tmp_path):
    torch.manual_seed(1)
    group_file = save_group_classifier(GroupEigenpatchNet(), tmp_path / "g.pt",
                                       metadata={"name": "test", "threshold": 0.3})
    paper_file = save_classifier(EigenpatchCNN(), tmp_path / "c.pt", metadata={"name": "p"})
    assert (model_kind(group_file), model_kind(paper_file)) == ("group", "paper")
    loaded = resolve_classifier(group_file)
    assert isinstance(loaded, GroupClassifier)
    assert loaded.threshold == 0.3 and loaded.name == "group:test"
    assert loaded.metadata["kind"] == "group"
    assert not isinstance(resolve_classifier(paper_file), GroupClassifier)
    with pytest.raises(ModelLoadError, match="group classifier"):
        load_classifier(group_file)
    with pytest.raises(ModelLoadError, match="paper-method CNN"):
        load_group_classifier(paper_file)


def test_corrupt_or_mismatched_group_files_are_a_model_load_error(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        load_group_classifier(broken)
    path = save_group_classifier(GroupEigenpatchNet(), tmp_path / "g.pt")
    payload = torch.load(path, weights_only=True)
    payload["architecture"] = {"channels": [2, 3], "dense_width": 5}
    torch.save(payload, path)
    with pytest.raises(ModelLoadError, match="architecture"):
        load_group_classifier(path)
    with pytest.raises(ModelLoadError):
        load_group_classifier(tmp_path / "missing.pt")


def test_whatever_a_group_model_answers_the_output_is_the_datas_own_decomposition():
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    image = 5 * gaussian_lattice((30, 30), 6.0, 1.2) + rng.normal(size=(30, 30))
    patches = PatchSet(image, 5)
    labels = rng.integers(0, 4, patches.n_patches)
    recorder = RecordingClassifier(GroupClassifier(GroupEigenpatchNet(), threshold=0.4))
    out, groups = run_group_pass(patches, labels, selector=recorder, aggregation="flat")
    # by hand: group mean + projection on the group's own selected eigenpatches
    total, count = np.zeros(image.shape), np.zeros(image.shape)
    for positions, mask in zip(group_positions(labels), recorder.masks):
        rows = patches.gather(positions)
        centre = rows.mean(axis=0)
        _, _, vt = np.linalg.svd(rows - centre, full_matrices=True)
        basis = vt[mask].T
        for position, estimate in zip(positions, centre + (rows - centre) @ basis @ basis.T):
            r, c = divmod(int(position), patches.grid_shape[1])
            total[r:r + 5, c:c + 5] += estimate.reshape(5, 5)
            count[r:r + 5, c:c + 5] += 1
    np.testing.assert_allclose(out, total / count, atol=1e-9)
    assert [g.n_kept for g in groups] == [int(m.sum()) for m in recorder.masks]


def test_the_default_method_runs_with_a_group_model_file(tmp_path):
    torch.manual_seed(0)
    path = save_group_classifier(GroupEigenpatchNet(), tmp_path / "g.pt",
                                 metadata={"name": "v7"})
    rng = np.random.default_rng(0)
    clean = 30 * (0.1 + gaussian_lattice((48, 48), 8.0, 1.5))
    result = denoise(rng.poisson(clean).astype(float), classifier=str(path), patch_size=5,
                     n_groups=4)
    assert result.classifier == "group:v7"
    for group in result.last_pass:
        assert np.all(group.mean_weight >= 0) and np.all(group.mean_weight <= group.kept + 1e-12)


def test_with_a_margin_the_rule_decides_where_the_model_is_unsure():
    net = GroupEigenpatchNet()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()  # probability 0.5 everywhere: never confident
    rng = np.random.default_rng(5)
    context = _context(n=500, p=9)
    values = np.sort(rng.uniform(0.2, 6.0, 25))[::-1] * 500
    rule = NoiseEdge().select(np.zeros((25, 9, 9)), values,
                              SelectionContext(patch_size=9, n_patches=500))
    unsure = GroupClassifier(net, margin=0.2)
    np.testing.assert_array_equal(unsure.select(np.zeros((25, 9, 9)), values, context), rule)
    with torch.no_grad():
        net.linear.bias.fill_(5.0)  # confident everywhere: the model's answer stands
    assert GroupClassifier(net, margin=0.2).select(np.zeros((25, 9, 9)), values, context).all()
    with pytest.raises(ValueError):
        GroupClassifier(net, margin=0.5)
