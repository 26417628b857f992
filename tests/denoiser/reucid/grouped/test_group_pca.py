"""A pass over groups of similar patches only selects and weighs the data's own decomposition."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.grouped.group_pca import run_group_pass
from denoiser.reucid.patches.patch_set import PatchSet
from denoiser.reucid.patches.similarity import group_positions
from denoiser.reucid.selection import ClassifierOutputError, FixedRank, NoiseEdge

from .._images import gaussian_lattice


def _image_and_labels(seed: int = 0, shape=(24, 30), p: int = 4, n_groups: int = 5):
    rng = np.random.default_rng(seed)
    image = 3 * gaussian_lattice(shape, 6.0, 1.2) + rng.normal(size=shape)
    patches = PatchSet(image, p)
    labels = rng.integers(0, n_groups, patches.n_patches)
    return image, patches, labels


def _by_hand(patches: PatchSet, labels: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """Group mean + projection on the selected right singular vectors, flat average."""
    m, n = patches.image.shape
    p = patches.patch_size
    total, count = np.zeros((m, n)), np.zeros((m, n))
    for positions, mask in zip(group_positions(labels), masks):
        rows = patches.gather(positions)
        centre = rows.mean(axis=0)
        _, _, vt = np.linalg.svd(rows - centre, full_matrices=True)
        basis = vt[: len(mask)][mask[: len(vt)]].T
        estimates = centre + (rows - centre) @ basis @ basis.T
        for position, estimate in zip(positions, estimates):
            r, c = divmod(int(position), patches.grid_shape[1])
            total[r:r + p, c:c + p] += estimate.reshape(p, p)
            count[r:r + p, c:c + p] += 1
    return total / count


@pytest.mark.parametrize("aggregation", ["flat", "weighted"])
def test_keeping_every_eigenpatch_reproduces_the_input(aggregation):
    image, patches, labels = _image_and_labels()
    out, groups = run_group_pass(patches, labels, selector=FixedRank("all"),
                                 aggregation=aggregation)
    np.testing.assert_allclose(out, image, atol=1e-10)
    assert all(g.n_kept == 16 for g in groups)


class _Adversary:
    """Mutates what it is given and answers with a fixed mask per group."""

    def __init__(self, masks):
        self.masks = masks
        self.calls = 0

    def select(self, eigenpatches, eigenvalues, context=None):
        eigenpatches[:] = 1e6
        eigenvalues[:] = -1.0
        mask = self.masks[self.calls]
        self.calls += 1
        return mask


def test_output_is_the_group_mean_plus_the_selected_eigenpatches_whatever_the_classifier_does():
    _, patches, labels = _image_and_labels(seed=1)
    rng = np.random.default_rng(9)
    masks = [rng.random(16) < 0.4 for _ in range(5)]
    out, groups = run_group_pass(patches, labels, selector=_Adversary(masks),
                                 aggregation="flat")
    np.testing.assert_allclose(out, _by_hand(patches, labels, masks), atol=1e-9)
    # the diagnostics hold the data's eigenpatches, not the adversary's scribbles
    assert np.abs(groups[0].eigenpatches).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("answer", [np.ones(3, bool), np.full(16, 0.5), "all", None])
def test_malformed_selections_are_refused(answer):
    _, patches, labels = _image_and_labels()

    class Broken:
        def select(self, eigenpatches, eigenvalues, context=None):
            return answer

    with pytest.raises(ClassifierOutputError):
        run_group_pass(patches, labels, selector=Broken())


def test_pilot_weights_lie_between_zero_and_the_selection():
    _, patches, labels = _image_and_labels(seed=2)
    selector = NoiseEdge()
    first, _ = run_group_pass(patches, labels, selector=selector)
    second, groups = run_group_pass(patches, labels, selector=selector,
                                    pilot=PatchSet(first, patches.patch_size))
    for group in groups:
        assert np.all(group.mean_weight >= 0)
        assert np.all(group.mean_weight <= group.kept + 1e-12)
    assert np.isfinite(second).all()


def test_the_noise_edge_uses_the_known_noise_level():
    rng = np.random.default_rng(3)
    patches = PatchSet(rng.normal(size=(60, 60)), 5)
    labels = np.zeros(patches.n_patches, dtype=int)
    _, groups = run_group_pass(patches, labels, selector=NoiseEdge(1.0))
    assert groups[0].n_kept == 0  # pure unit noise: nothing rises above the edge
    _, groups = run_group_pass(patches, labels, selector=NoiseEdge(0.5))
    assert groups[0].n_kept == 25


def test_unknown_aggregation_is_refused():
    _, patches, labels = _image_and_labels()
    with pytest.raises(ValueError, match="aggregation"):
        run_group_pass(patches, labels, selector=NoiseEdge(), aggregation="median")


def test_the_outlier_test_looks_where_signal_lives():
    # A residual of energy 40 sigma² concentrated on 4 signal directions is far above
    # chi²(4) but well inside the noise of a whole 11x11 patch (121 ± 2·15.6).
    from denoiser.reucid.grouped.group_pca import _outliers

    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(121, 4)))[0]
    defect = basis @ np.full(4, np.sqrt(10.0))
    noise = rng.normal(size=(200, 121))
    patches = noise.copy()
    patches[0] += defect
    flagged_on_basis = _outliers(patches @ basis, 1.0)
    flagged_whole = _outliers(patches, 1.0)
    assert flagged_on_basis[0] and not flagged_whole[0]
    assert flagged_on_basis[1:].mean() < 0.1  # noise alone rarely passes


@pytest.mark.parametrize("pilot", [None, "coarse"])
def test_a_single_vacancy_survives_grouping_at_low_dose(pilot):
    # one missing column among 81: groups of similar patches and a pilot that averages
    # the lattice must not fill it in (1 = its full contrast kept, 0 = filled in)
    from denoiser.reucid.grouped.pipeline import denoise_grouped

    shape, dose = (96, 96), 10.0
    perfect = dose * (0.05 + gaussian_lattice(shape, 10.0, 2.0, offset=(5.0, 5.0)))
    y, x = np.mgrid[:shape[0], :shape[1]]
    vacancy = -dose * np.exp(-((x - 45.0) ** 2 + (y - 45.0) ** 2) / 8.0)
    noisy = np.random.default_rng(1).poisson(perfect + vacancy).astype(np.float64)
    out = denoise_grouped(noisy, patch_size=7, classifier=NoiseEdge(), n_groups=16, pilot=pilot)
    retained = float(np.sum((out.image - perfect) * vacancy) / np.sum(vacancy**2))
    assert retained > 0.8


@pytest.mark.parametrize("centre_groups", [False, True])
@pytest.mark.parametrize("with_pilot", [False, True])
def test_large_groups_summed_and_rebuilt_in_chunks_give_the_same_pass(monkeypatch, centre_groups,
                                                                      with_pilot):
    # a group above the chunk size is never held whole: its Gram matrix is summed and
    # its patches rebuilt chunk by chunk; the pass must not change (up to float32 sums)
    from denoiser.reucid.grouped import group_pca

    image, _, labels = _image_and_labels(seed=3)
    patches = PatchSet(image, 4, dtype=np.float32)
    pilot = PatchSet(image + 0.3, 4, dtype=np.float32) if with_pilot else None
    options = dict(selector=NoiseEdge(), pilot=pilot, centre_groups=centre_groups,
                   aggregation="weighted", outlier_basis=np.eye(16)[:, :3])
    whole, whole_groups = run_group_pass(patches, labels, **options)
    monkeypatch.setattr(group_pca, "_CHUNK_PATCHES", 7)
    assert max(len(g) for g in group_positions(labels)) > 7 * 10
    chunked, chunked_groups = run_group_pass(patches, labels, **options)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-4 * np.abs(image).max())
    for a, b in zip(whole_groups, chunked_groups):
        np.testing.assert_array_equal(a.kept, b.kept)
        np.testing.assert_allclose(a.mean_weight, b.mean_weight, atol=1e-5)
        assert a.n_patches == b.n_patches
