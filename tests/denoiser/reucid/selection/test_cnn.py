"""The paper's CNN, its features and its model-file format."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from denoiser.reucid import denoise
from denoiser.reucid.errors import ModelLoadError, ReucidError
from denoiser.reucid.selection.cnn import (
    MODEL_FORMAT,
    CNNArchitecture,
    CNNClassifier,
    EigenpatchCNN,
    count_parameters,
    eigenpatch_features,
    load_classifier,
    save_classifier,
)


def _stack(k: int = 6, p: int = 11, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(k, p, p)), np.sort(rng.random(k) + 0.1)[::-1] * 10


def test_network_has_the_papers_layers():
    net = EigenpatchCNN()
    assert net.conv1.out_channels == 14 and net.conv1.kernel_size == (5, 5)
    assert net.conv1.padding == (1, 1)
    assert net.conv2.out_channels == 15 and net.conv2.kernel_size == (3, 3)
    assert net.dense1.in_features == 15 + 1 and net.dense1.out_features == 16
    assert net.dense2.out_features == 1
    assert count_parameters(net) == (14 * 25 + 14) + (15 * 14 * 9 + 15) + (16 * 16 + 16) + 17


def test_features_resize_and_normalise_without_mutating_inputs():
    patches, values = _stack(p=9)
    patches_before, values_before = patches.copy(), values.copy()
    x, lam = eigenpatch_features(patches, values)
    assert x.shape == (6, 1, 25, 25) and x.dtype == np.float32
    assert lam.dtype == np.float32 and lam[0] == pytest.approx(1.0)
    np.testing.assert_allclose(lam, values / values.max(), rtol=1e-6)
    np.testing.assert_allclose(np.sqrt((x.reshape(6, -1) ** 2).mean(axis=1)), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(patches, patches_before)
    np.testing.assert_array_equal(values, values_before)


def test_features_ignore_the_arbitrary_eigenvector_sign():
    patches, values = _stack()
    x_plus, _ = eigenpatch_features(patches, values)
    x_minus, _ = eigenpatch_features(-patches, values)
    np.testing.assert_allclose(x_plus, x_minus)


@pytest.mark.parametrize("bad", [np.zeros((3, 4, 5)), np.zeros((4, 4))])
def test_features_reject_non_square_stacks(bad):
    with pytest.raises(ValueError):
        eigenpatch_features(bad, np.ones(len(bad)))


def test_select_is_deterministic_boolean_and_respects_threshold():
    torch.manual_seed(0)
    classifier = CNNClassifier(EigenpatchCNN())
    patches, values = _stack()
    first = classifier.select(patches, values)
    assert first.dtype == bool and first.shape == (6,)
    np.testing.assert_array_equal(first, classifier.select(patches, values))
    probabilities = classifier.probabilities(patches, values)
    strict = CNNClassifier(classifier.model, threshold=0.99)
    np.testing.assert_array_equal(strict.select(patches, values), probabilities >= 0.99)


def test_round_trip_keeps_weights_architecture_and_metadata(tmp_path):
    torch.manual_seed(1)
    net = EigenpatchCNN(CNNArchitecture(channels=(6, 7), kernel_sizes=(3, 3), dense_width=9))
    path = save_classifier(net, tmp_path / "sub" / "model.pt",
                           metadata={"metrics": {"accuracy": np.float64(0.9)}, "seed": 3})
    loaded = load_classifier(path)
    assert loaded.model.architecture == net.architecture
    assert loaded.metadata == {"metrics": {"accuracy": 0.9}, "seed": 3}
    for name, tensor in net.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == MODEL_FORMAT and raw["format_version"] == 1


def _write(path, payload):
    torch.save(payload, path)
    return path


def test_missing_file_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_classifier(tmp_path / "absent.pt")


def test_garbage_bytes_are_refused(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"\x80\x02not a torch file at all")
    with pytest.raises(ModelLoadError):
        load_classifier(path)


def test_truncated_file_is_refused(tmp_path):
    good = save_classifier(EigenpatchCNN(), tmp_path / "good.pt")
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelLoadError):
        load_classifier(bad)


def test_wrong_format_and_version_are_refused(tmp_path):
    state = EigenpatchCNN().state_dict()
    with pytest.raises(ModelLoadError, match="not a REUCID"):
        load_classifier(_write(tmp_path / "a.pt", {"format": "other", "state_dict": state}))
    with pytest.raises(ModelLoadError, match="version"):
        load_classifier(_write(tmp_path / "b.pt", {
            "format": MODEL_FORMAT, "format_version": 99, "architecture": {},
            "state_dict": state, "metadata": {}}))


def test_wrong_shapes_are_refused(tmp_path):
    small = EigenpatchCNN(CNNArchitecture(channels=(4, 4))).state_dict()
    payload = {"format": MODEL_FORMAT, "format_version": 1,
               "architecture": CNNArchitecture().to_dict(), "state_dict": small, "metadata": {}}
    with pytest.raises(ModelLoadError, match="do not match"):
        load_classifier(_write(tmp_path / "shape.pt", payload))


def test_non_finite_weights_are_refused(tmp_path):
    net = EigenpatchCNN()
    with torch.no_grad():
        net.dense2.bias.fill_(float("nan"))
    with pytest.raises(ModelLoadError, match="non-finite"):
        load_classifier(save_classifier(net, tmp_path / "nan.pt"))


def test_pickled_code_is_never_executed(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "sneaky.pt"
    torch.save({"format": MODEL_FORMAT, "payload": Sneaky()}, path)
    with pytest.raises(ModelLoadError):
        load_classifier(path)


def test_model_load_error_is_a_reucid_error():
    assert issubclass(ModelLoadError, ReucidError)


def test_the_calibrated_threshold_travels_with_the_model(tmp_path):
    path = save_classifier(EigenpatchCNN(), tmp_path / "t.pt", metadata={"threshold": 0.3})
    assert load_classifier(path).threshold == 0.3
    assert load_classifier(path, threshold=0.7).threshold == 0.7
    plain = save_classifier(EigenpatchCNN(), tmp_path / "p.pt")
    assert load_classifier(plain).threshold == 0.5


def test_leading_selection_keeps_a_rank_of_the_largest_eigenvalues(tmp_path):
    torch.manual_seed(0)
    patches, values = _stack(k=8)
    independent = CNNClassifier(EigenpatchCNN(), threshold=0.5)
    leading = CNNClassifier(independent.model, threshold=0.5, selection="leading")
    chosen = independent.select(patches, values)
    ranked = leading.select(patches, values)
    assert ranked.sum() == chosen.sum()
    assert ranked.tolist() == sorted(ranked.tolist(), reverse=True)  # values are descending
    path = save_classifier(leading, tmp_path / "l.pt", metadata={"selection": "leading"})
    assert load_classifier(path).selection == "leading"
    with pytest.raises(ValueError):
        CNNClassifier(EigenpatchCNN(), selection="vibes")


def test_the_number_of_components_travels_with_the_model(tmp_path):
    path = save_classifier(EigenpatchCNN(), tmp_path / "k.pt", metadata={"n_components": 40})
    assert load_classifier(path).n_components_required == 40
    assert load_classifier(path, n_components=30).n_components_required == 30
    plain = save_classifier(EigenpatchCNN(), tmp_path / "plain.pt")
    assert load_classifier(plain).n_components_required is None
    odd = save_classifier(EigenpatchCNN(), tmp_path / "odd.pt", metadata={"n_components": "x"})
    assert load_classifier(odd).n_components_required is None
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            CNNClassifier(EigenpatchCNN(), n_components=bad)


def test_the_denoiser_computes_the_components_the_model_was_trained_on(tmp_path):
    torch.manual_seed(0)
    path = save_classifier(EigenpatchCNN(), tmp_path / "k.pt", metadata={"n_components": 36})
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :48]
    image = np.cos(2 * np.pi * x / 8) * np.cos(2 * np.pi * y / 8) + rng.normal(size=x.shape)
    result = denoise(image, str(path), patch_size=7, n_stacks=2, variant="paper")
    assert result.n_components == 36
    assert all(len(stack.eigenvalues) == 36 for stack in result.stacks)
    older = save_classifier(EigenpatchCNN(), tmp_path / "old.pt")  # no n_components stored
    assert denoise(image, str(older), patch_size=7, n_stacks=2, variant="paper").n_components == 25


@pytest.mark.parametrize("shape", [(3, 14, 25, 25), (2, 15, 12, 12), (1, 1, 5, 7), (2, 3, 2, 4)])
def test_inference_pooling_gives_max_pool2d_values_and_training_keeps_max_pool2d(shape):
    from denoiser.reucid.selection.cnn import max_pool_2x2

    x = torch.randn(*shape)
    x[0, 0, 0, 0] = float("nan")  # a NaN propagates in both
    with torch.no_grad():
        fast = max_pool_2x2(x)
    reference = F.max_pool2d(x, 2)
    assert fast.shape == reference.shape
    assert torch.equal(torch.nan_to_num(fast, nan=-7.0), torch.nan_to_num(reference, nan=-7.0))
    assert torch.isnan(fast).sum() == torch.isnan(reference).sum()
    with torch.no_grad(), pytest.raises(RuntimeError):
        max_pool_2x2(torch.ones(1, 1, 1, 4))  # too small to pool, as max_pool2d says
    # with gradients it is max_pool2d itself (same gradient rule as before)
    y = torch.randn(2, 3, 6, 6, requires_grad=True)
    max_pool_2x2(y).sum().backward()
    expected = torch.autograd.grad(F.max_pool2d(y, 2).sum(), y)[0]
    assert torch.equal(y.grad, expected)


def test_a_networks_logits_do_not_depend_on_whether_gradients_are_on():
    torch.manual_seed(3)
    net = EigenpatchCNN().eval()
    x, lam = eigenpatch_features(np.random.default_rng(3).normal(size=(25, 11, 11)),
                                 np.linspace(9.0, 1.0, 25))
    with torch.no_grad():
        fast = net(torch.from_numpy(x), torch.from_numpy(lam))
    assert torch.equal(fast, net(torch.from_numpy(x), torch.from_numpy(lam)).detach())


def test_feature_sign_and_scale_follow_the_third_and_second_moments():
    rng = np.random.default_rng(8)
    patches = rng.normal(size=(40, 25, 25)).astype(np.float32)
    x, _ = eigenpatch_features(patches, np.ones(40))
    flat = patches.reshape(40, -1).astype(np.float64)
    sign = np.where(np.sum(flat**3, axis=1) < 0, -1.0, 1.0)
    expected = flat * (sign / np.sqrt(np.mean(flat**2, axis=1)))[:, None]
    np.testing.assert_allclose(x.reshape(40, -1), expected, rtol=1e-6, atol=1e-6)
