"""Classifier specs, objective rank rules and model-file errors."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import (
    FixedRank,
    GavishDonoho,
    MarchenkoPastur,
    ModelLoadError,
    SelectionContext,
    denoise,
    resolve_classifier,
)
from denoiser.reucid.selection import cnn
from denoiser.reucid.selection.cnn import EigenpatchCNN, load_classifier, save_classifier
from denoiser.reucid.selection.rules import marchenko_pastur_rank

from .._images import noisy_lattice


def _low_rank_plus_noise(rank: int, n: int = 2000, dim: int = 81, seed: int = 0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, rank)) @ (rng.normal(size=(rank, dim)) * 4.0)
    sample = signal + rng.normal(size=(n, dim))
    spectrum = np.linalg.svd(sample, compute_uv=False) ** 2
    return spectrum, SelectionContext(patch_size=9, n_patches=n, spectrum=spectrum)


@pytest.mark.parametrize("rank", [1, 3, 8])
@pytest.mark.parametrize("rule", [MarchenkoPastur(), GavishDonoho()])
def test_objective_rules_find_the_planted_rank(rank, rule):
    spectrum, context = _low_rank_plus_noise(rank, seed=rank)
    kept = rule.select(np.zeros((25, 9, 9)), spectrum[:25], context)
    assert kept.dtype == bool and kept.shape == (25,)
    assert int(kept.sum()) == rank
    assert kept[:rank].all()


def test_pure_noise_keeps_nothing_under_mp():
    rng = np.random.default_rng(1)
    spectrum = np.linalg.svd(rng.normal(size=(4000, 64)), compute_uv=False) ** 2
    assert marchenko_pastur_rank(spectrum, 4000) == 0


@pytest.mark.parametrize(("spec", "expected"), [
    ("mp", MarchenkoPastur), ("MP", MarchenkoPastur), ("gd", GavishDonoho),
    ("k=3", FixedRank), ("k=all", FixedRank), (" k = 7 ", FixedRank),
])
def test_string_specs(spec, expected):
    assert isinstance(resolve_classifier(spec), expected)


@pytest.mark.parametrize("spec", ["k=-1", "k=abc", "nonsense", 42])
def test_bad_specs_are_refused(spec):
    with pytest.raises((ValueError, TypeError)):
        resolve_classifier(spec)


def test_missing_model_file_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError):
        resolve_classifier(tmp_path / "missing.pt")
    with pytest.raises(ModelLoadError):
        resolve_classifier(str(tmp_path / "missing.pt"))


def test_corrupt_model_file_is_a_model_load_error(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(ModelLoadError):
        denoise(np.ones((20, 20)), classifier=corrupt, patch_size=5, variant="paper")


def test_wrong_shape_model_file_is_a_model_load_error(tmp_path):
    torch = pytest.importorskip("torch")
    wrong = tmp_path / "wrong.pt"
    torch.save({"weights": {"conv1.weight": torch.zeros(3, 3)}, "metadata": {}}, wrong)
    with pytest.raises(ModelLoadError):
        resolve_classifier(wrong)


def test_papers_default_classifier_is_the_shipped_model_or_a_clear_error():
    image, _ = noisy_lattice((40, 40))
    if cnn.SHIPPED_MODEL_PATH.is_file():
        result = denoise(image, patch_size=5, variant="paper")
        assert result.classifier and result.classifier != "noise-edge"
    else:
        with pytest.raises(ModelLoadError, match="'mp', 'gd', 'k=N'"):
            denoise(image, patch_size=5, variant="paper")


def test_default_classifier_of_the_default_variant_is_the_noise_edge_rule():
    image, _ = noisy_lattice((40, 40))
    assert denoise(image, patch_size=5).classifier == "noise-edge"


def test_k_all_computes_a_full_basis():
    image, _ = noisy_lattice((40, 40))
    result = denoise(image, "k=all", patch_size=7, variant="paper")
    assert result.stacks[0].eigenpatches.shape == (49, 7, 7)
    assert result.n_components == 49


def test_large_fixed_k_raises_the_component_count():
    image, _ = noisy_lattice((40, 40))
    result = denoise(image, "k=30", patch_size=7, variant="paper")
    assert len(result.stacks[0].eigenvalues) == 30 and result.stacks[0].n_kept == 30


def test_objective_rules_run_end_to_end_and_denoise():
    noisy, clean = noisy_lattice((96, 96), dose=20.0, seed=2)
    error = np.sqrt(np.mean((noisy - clean) ** 2))
    for rule in ("mp", "gd"):
        result = denoise(noisy, rule, patch_size=9, variant="paper")
        assert 0 < result.stacks[0].n_kept < 25
        assert np.sqrt(np.mean((result.image - clean) ** 2)) < 0.8 * error


def test_a_saved_cnn_model_file_drives_the_selection(tmp_path):
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    path = save_classifier(EigenpatchCNN(), tmp_path / "model.pt", metadata={"name": "test"})
    image, _ = noisy_lattice((40, 44))
    by_path = denoise(image, classifier=path, patch_size=7, variant="paper")
    by_string = denoise(image, classifier=str(path), patch_size=7, variant="paper")
    loaded = load_classifier(path)
    expected = loaded.select(by_path.stacks[0].eigenpatches, by_path.stacks[0].eigenvalues)
    np.testing.assert_array_equal(by_path.stacks[0].kept, expected)
    np.testing.assert_array_equal(by_path.image, by_string.image)
    assert len(by_path.stacks[0].eigenvalues) == 25


def test_model_files_are_read_once_and_again_when_replaced(tmp_path):
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    path = save_classifier(EigenpatchCNN(), tmp_path / "model.pt")
    first = resolve_classifier(path)
    assert resolve_classifier(str(path)) is first
    torch.manual_seed(1)
    save_classifier(EigenpatchCNN(), path, metadata={"retrained": True})
    assert resolve_classifier(path) is not first
