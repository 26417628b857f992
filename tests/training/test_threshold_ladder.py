"""The survey's candidate ladder for the default method: one threshold on the components'
noise-edge ratio per level; labels from a mean choice follow the same threshold; every
candidate is the image a user would get."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.grouped import denoise_grouped
from denoiser.reucid.selection.base import SelectionContext
from training.group_examples import (
    GroupComponents,
    component_ratios,
    group_candidates,
    label_threshold,
    threshold_ladder,
)
from training.group_labels import labelled_groups, utility_table

from ..denoiser.reucid._images import gaussian_lattice
from ._selectors import PassTwoCounts


def _groups(seed: int, n_groups: int = 12, n: int = 20) -> list[GroupComponents]:
    rng = np.random.default_rng(seed)
    groups = []
    for index in range(n_groups):
        # descending spectra of different strength and sizes
        values = np.sort(rng.lognormal(mean=rng.uniform(3, 9), sigma=1.5, size=n))[::-1]
        context = SelectionContext(patch_size=5, n_patches=int(rng.integers(60, 400)),
                                   stack_index=index, n_stacks=n_groups, noise_variance=1.0)
        groups.append(GroupComponents(np.zeros((n, 5, 5), np.float32), values, context,
                                      np.zeros(n, bool), 1))
    return groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_level_l_keeps_the_l_times_g_components_furthest_above_the_noise(seed):
    groups = _groups(seed)
    levels = tuple(range(1, 13))
    thresholds, kept = threshold_ladder(groups, levels)
    ratios = [component_ratios(g) for g in groups]
    pooled = np.sort(np.concatenate(ratios))[::-1]
    for index, level in enumerate(levels):
        assert kept[index].sum() == level * len(groups)
        # exactly the strongest ones, whichever group they are in
        smallest_kept = min(r[k - 1] for r, k in zip(ratios, kept[index]) if k)
        assert smallest_kept == pooled[level * len(groups) - 1]
        for r, k in zip(ratios, kept[index]):
            assert np.all(r[:k] >= thresholds[index]) and np.all(r[k:] < thresholds[index])
    assert np.all(np.diff(thresholds) < 0) and np.all(np.diff(kept, axis=0) >= 0)
    # not the leading l of every group: strong groups keep more than weak ones
    assert kept[2].max() > 3 > kept[2].min()


def test_a_level_beyond_every_component_keeps_them_all():
    groups = _groups(3, n_groups=2, n=4)
    thresholds, kept = threshold_ladder(groups, (1, 2, 4, 6))
    assert thresholds[-1] == 0 and thresholds[-2] == 0
    assert kept[-1].tolist() == [4, 4] and kept[-2].tolist() == [4, 4]


def _as_arrays(groups, levels, thresholds, kept):
    return {"eigenpatches": np.stack([g.eigenpatches for g in groups]),
            "eigenvalues": np.stack([g.eigenvalues for g in groups]),
            "n_patches": np.array([g.context.n_patches for g in groups]),
            "noise_variance": np.ones(len(groups)),
            "centred": np.zeros(len(groups), bool),
            "levels": np.array(levels), "thresholds": thresholds, "kept": kept}


@pytest.mark.parametrize("seed", [0, 4])
def test_a_mean_choice_labels_what_its_level_keeps_and_between_levels_in_between(seed):
    groups = _groups(seed)
    levels = tuple(range(1, 9))
    thresholds, kept = threshold_ladder(groups, levels)
    arrays = _as_arrays(groups, levels, thresholds, kept)
    for index, level in enumerate(levels):
        labels = labelled_groups(arrays, float(level))
        assert [int(g.labels.sum()) for g in labels] == kept[index].tolist()
        # a group's useful components are its leading ones
        assert all(not np.any(g.labels[np.argmin(g.labels):]) for g in labels
                   if not g.labels.all())
    between = np.array([g.labels.sum() for g in labelled_groups(arrays, 3.5)])
    assert np.all(kept[2] <= between) and np.all(between <= kept[3])
    assert kept[2].sum() < between.sum() < kept[3].sum()
    # clamped outside the ladder
    assert [g.labels.sum() for g in labelled_groups(arrays, 0.2)] == kept[0].tolist()


def test_label_threshold_interpolates_in_log_and_clamps():
    assert label_threshold((1, 2), (8.0, 2.0), 1.5) == pytest.approx(4.0)
    assert label_threshold((1, 2), (8.0, 2.0), 7.0) == pytest.approx(2.0)
    assert label_threshold((1, 2), (8.0, 0.0), 2.0) == 0.0


def test_vote_utilities_count_what_each_voted_level_keeps_per_group():
    groups = _groups(5, n_groups=4, n=6)
    levels = (1, 2, 3)
    thresholds, kept = threshold_ladder(groups, levels)
    arrays = _as_arrays(groups, levels, thresholds, kept)
    rows = utility_table(arrays, [1, 3, 3])
    counts = np.concatenate([kept[0], kept[2], kept[2]])
    # a strong group keeps more than the top level's average: its components are listed
    assert kept.max() > levels[-1] and len(rows) == kept.max()
    assert [row["votes"] for row in rows] == [float(np.mean(counts > j))
                                              for j in range(len(rows))]


@pytest.mark.parametrize("seed", [0, 1])
def test_every_candidate_is_the_image_a_user_gets_from_those_counts(seed):
    rng = np.random.default_rng(seed)
    clean = 25.0 * (0.3 + gaussian_lattice((72, 72), 9.0, 1.7, offset=(2.0, 5.0)))
    clean[30:42, 30:42] *= 1.3  # something the lattice does not repeat
    noisy = rng.poisson(clean).astype(np.float64)
    made = group_candidates(noisy, max_level=5, seed=0)
    assert made.kept.shape == (5, len(made.groups))
    for level in (2, 4):
        counts = made.kept[made.levels.index(level)].tolist()
        user = denoise_grouped(noisy, classifier=PassTwoCounts(counts), seed=0)
        np.testing.assert_allclose(made.reconstruct(level), user.image, rtol=0,
                                   atol=1e-4 * float(noisy.max()))
        assert [g.n_kept for g in user.last_pass] == counts
