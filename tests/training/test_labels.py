"""The edited-IEF label rule and its alternatives, on constructed cases."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid.metrics import psnr

from training.labels import (
    auto_label,
    edited_ief_k,
    fit_ief_constant,
    ief_curve,
    labels_from_k,
)


def _constructed(errors):
    """Reconstructions whose error energy relative to clean is exactly ``errors[k-1]``."""
    rng = np.random.default_rng(0)
    clean = rng.random((16, 16))
    direction = rng.normal(size=(16, 16))
    direction /= np.sqrt(np.sum(direction**2))
    noisy = clean + 10.0 * direction  # noise energy 100
    recon = np.stack([clean + np.sqrt(e) * direction for e in errors])
    return noisy, clean, recon


def test_ief_is_noise_energy_over_error_energy():
    noisy, clean, recon = _constructed([50.0, 20.0, 25.0])
    np.testing.assert_allclose(ief_curve(noisy, clean, recon), [2.0, 5.0, 4.0])


def test_edited_ief_picks_the_expected_k_on_a_constructed_case():
    # IEF = 2, 5, 5.5, 5.6: the penalty c must trade the small late gains against k.
    noisy, clean, recon = _constructed([50.0, 20.0, 100 / 5.5, 100 / 5.6])
    ief = ief_curve(noisy, clean, recon)
    # paper's rule: IEF(k)/0.64^k rewards every extra component -> largest k
    assert auto_label(noisy, clean, recon, rule="edited-ief", c=0.64).k_star == 4
    # a penalising constant stops at the knee: 5/1.5^2=2.22 > 2/1.5=1.33 > 5.5/1.5^3=1.63
    assert edited_ief_k(ief, c=1.5) == 2
    # c = 1 is the IEF-best, i.e. PSNR-best, k
    assert edited_ief_k(ief, c=1.0) == 4
    assert auto_label(noisy, clean, recon, rule="psnr-best").k_star == 4


def test_psnr_best_rule_labels_the_leading_eigenpatches():
    noisy, clean, recon = _constructed([50.0, 20.0, 10.0, 30.0, 60.0])
    result = auto_label(noisy, clean, recon, rule="psnr-best")
    assert result.k_star == 3
    assert result.labels.tolist() == [True, True, True, False, False]
    assert result.psnr[2] == pytest.approx(psnr(clean, recon[2]))
    assert auto_label(noisy, clean, recon, rule="ssim-best").k_star in (2, 3, 4)


def test_labels_and_rules_reject_bad_input():
    with pytest.raises(ValueError):
        labels_from_k(5, 3)
    with pytest.raises(ValueError):
        edited_ief_k(np.array([1.0, -1.0]))
    noisy, clean, recon = _constructed([1.0])
    with pytest.raises(ValueError, match="unknown label rule"):
        auto_label(noisy, clean, recon, rule="vibes")
    with pytest.raises(ValueError):
        auto_label(noisy, clean[:8], recon)


def test_fitting_c_recovers_the_constant_that_generated_the_choices():
    rng = np.random.default_rng(1)
    curves = [np.cumsum(rng.random(25) * np.exp(-np.arange(25) / rng.uniform(2, 6))) + 1
              for _ in range(30)]
    true_c = 1.08
    choices = [edited_ief_k(curve, c=true_c) for curve in curves]
    fit = fit_ief_constant(curves, choices)
    assert fit.rmse == 0.0
    assert [edited_ief_k(curve, c=fit.c) for curve in curves] == choices
    assert fit.rmse_at_paper_c > 0
