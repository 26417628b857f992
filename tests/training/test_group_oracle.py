"""The oracle behind the automatic labels judges a per-group choice on the image a user
would get: the default method's way out, its local means (step 7) included."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.grouped import denoise_grouped
from denoiser.reucid.grouped.pipeline import output_step
from training.group_examples import (
    group_contributions,
    label_case,
    oracle_ks,
    recorded_group_passes,
)

from ..denoiser.reucid._images import gaussian_lattice
from ._selectors import PassTwoCounts

KS = (0, 1, 2, 3, 5, 8)


def _case(seed: int, dose: float = 20.0):
    rng = np.random.default_rng(seed)
    clean = dose * (0.3 + gaussian_lattice((72, 72), 9.0, 1.7, offset=(2.0, 5.0)))
    clean[28:44, 30:46] *= 1.4  # a region the lattice does not repeat
    return rng.poisson(clean).astype(np.float64), clean


def _error(image, clean):
    return float(np.sum((np.asarray(image, np.float64) - clean) ** 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_oracles_image_is_what_a_user_gets_from_its_choice(seed):
    noisy, clean = _case(seed)
    run = label_case(noisy, clean, ks=KS)
    user = denoise_grouped(noisy, classifier=PassTwoCounts(run.oracle_ks), seed=0)
    np.testing.assert_allclose(run.oracle_image, user.image, rtol=0,
                               atol=1e-4 * float(noisy.max()))
    # coordinate descent starts from the run's own choice: never worse than the run
    assert _error(run.oracle_image, clean) <= _error(run.result.image, clean) * (1 + 1e-6)


@pytest.mark.parametrize("seed", [2, 3])
def test_the_oracle_beats_every_common_count_on_the_users_image(seed):
    noisy, clean = _case(seed)
    with recorded_group_passes() as records:
        result = denoise_grouped(noisy, seed=0)
    step = output_step(noisy, result)
    contributions = group_contributions(records[-1], KS)
    _, image = oracle_ks(contributions, KS, clean=clean, back=step,
                              start=[g.n_kept for g in result.last_pass])
    oracle_error = _error(step(image), clean)
    for index, k in enumerate(KS):
        uniform, _ = oracle_ks(contributions, KS, clean=clean, back=step,
                               start=[k] * len(contributions), sweeps=0)
        assert uniform == [k] * len(contributions)
        everywhere = denoise_grouped(noisy, classifier=PassTwoCounts(uniform), seed=0)
        assert oracle_error <= _error(everywhere.image, clean) * (1 + 1e-6)


@pytest.mark.parametrize("seed", [5, 6])
def test_judged_without_the_local_means_the_choice_is_worse_for_the_user(seed):
    """Judged on the groups' estimate alone (an image nobody sees), the oracle chooses
    differently, and its choice gives the user a worse image."""
    noisy, clean = _case(seed, dose=20.0)
    with recorded_group_passes() as records:
        result = denoise_grouped(noisy, seed=0)
    step = output_step(noisy, result)
    contributions = group_contributions(records[-1], KS)
    start = [g.n_kept for g in result.last_pass]
    with_means, image = oracle_ks(contributions, KS, clean=clean, back=step, start=start)
    groups_only, other = oracle_ks(
        contributions, KS, clean=clean, start=start,
        back=step.inverse)
    assert with_means != groups_only
    assert _error(step(image), clean) < _error(step(other), clean)
