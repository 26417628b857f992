"""The method registry, the baselines and the failure-tolerant runner."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from benchmarks import methods as registry
from benchmarks.baselines import FIXED_GAUSSIAN_SIGMA_PX, oracle_gaussian_sigma
from benchmarks.methods import (
    MethodContext,
    MethodUnavailable,
    default_methods,
    method_names,
    register_method,
    select_methods,
)
from benchmarks.reucid_methods import _denoise, oracle_rank, reucid_available
from benchmarks.runner import run_method


@pytest.fixture
def clean_registry():
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_default_rows_cover_the_issue():
    names = set(default_methods())
    assert {"REUCID paper, CNN classifier", "REUCID paper, oracle k",
            "REUCID paper, MP-PCA rank", "REUCID paper, Gavish–Donoho rank",
            "REUCID default (best: coarse pilot + groups, noise-edge)",
            "BEST without coarse pilot", "Gaussian, sigma 1 px", "Gaussian, oracle sigma",
            "NLM (scikit-image)", "BM3D + GAT"} <= names


def test_a_registered_row_is_picked_up(clean_registry):
    register_method("halve", lambda noisy, *, context: noisy / 2, family="test")
    methods = default_methods()
    assert "halve" in methods and methods["halve"].family == "test"
    assert list(select_methods(["halve"])) == ["halve"]
    with pytest.raises(ValueError, match="unknown method"):
        select_methods(["no such method"])


def test_method_names_option_splits_on_bars():
    assert method_names(" a, b | c ") == ("a, b", "c")


@pytest.mark.parametrize("name", ["Gaussian, sigma 1 px", "Gaussian, oracle sigma",
                                  "NLM (scikit-image)", "BM3D + GAT"])
def test_baselines_improve_a_noisy_lattice_and_leave_the_input_alone(name, tiny_case):
    method = default_methods()[name]
    noisy = tiny_case.noisy.copy()
    outcome = run_method(method, noisy, MethodContext(noise=tiny_case.noise,
                                                      clean=tiny_case.clean))
    assert outcome.status == "ok"
    np.testing.assert_array_equal(noisy, tiny_case.noisy)
    error_in = np.mean((tiny_case.noisy - tiny_case.clean) ** 2)
    error_out = np.mean((outcome.estimate - tiny_case.clean) ** 2)
    assert error_out < error_in


def test_oracle_sigma_is_at_least_as_good_as_the_fixed_rule(tiny_case):
    sigma = oracle_gaussian_sigma(tiny_case.noisy, tiny_case.clean)
    oracle = np.mean((gaussian_filter(tiny_case.noisy, sigma) - tiny_case.clean) ** 2)
    fixed = np.mean((gaussian_filter(tiny_case.noisy, FIXED_GAUSSIAN_SIGMA_PX)
                     - tiny_case.clean) ** 2)
    assert oracle <= fixed


def test_runner_turns_problems_into_statuses(tiny_case):
    context = MethodContext(noise=tiny_case.noise)  # no ground truth, as on real images

    def missing_model(noisy, *, context):
        raise MethodUnavailable("no model file")

    cases = {
        "raises": (registry.Method("raises", lambda noisy, *, context: 1 / 0), "failed: "),
        "nan": (registry.Method("nan", lambda noisy, *, context: noisy * np.nan), "failed: output"),
        "shape": (registry.Method("shape", lambda noisy, *, context: noisy[:-1]), "failed: output"),
        "unavailable": (registry.Method("u", missing_model), "not available: no model file"),
        "absent": (registry.Method("a", lambda noisy, *, context: noisy,
                                   available=lambda: "package missing"), "not available"),
        "oracle": (registry.Method("o", lambda noisy, *, context: noisy,
                                   needs_ground_truth=True), "not available: needs ground"),
    }
    for method, prefix in cases.values():
        outcome = run_method(method, tiny_case.noisy, context)
        assert outcome.status.startswith(prefix), outcome.status
        assert outcome.estimate is None


@pytest.fixture
def reucid():
    reason = reucid_available()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("name", ["REUCID paper, MP-PCA rank", "REUCID paper, oracle k"])
def test_reucid_rows_denoise_through_the_core(name, tiny_case, reucid):
    method = default_methods()[name]
    outcome = run_method(method, tiny_case.noisy,
                         MethodContext(noise=tiny_case.noise, clean=tiny_case.clean))
    assert outcome.status == "ok", outcome.status
    error_in = np.mean((tiny_case.noisy - tiny_case.clean) ** 2)
    assert np.mean((outcome.estimate - tiny_case.clean) ** 2) < error_in
    if name == "REUCID paper, oracle k":
        assert outcome.note.startswith("k=")


def test_oracle_rank_is_no_worse_than_any_fixed_rank_it_tried(tiny_case, reucid):
    rank, image = oracle_rank(tiny_case.noisy, tiny_case.clean, max_rank=12)
    assert 1 <= rank <= 12
    best = np.mean((image - tiny_case.clean) ** 2)
    for other in (1, 4, 8, 12):
        other_image = _denoise(tiny_case.noisy, f"k={other}", seed=0)
        # the shortlist comes from one decomposition; allow for the stacks' difference
        assert best <= np.mean((other_image - tiny_case.clean) ** 2) * 1.05


def test_classifier_row_uses_the_model_file_it_is_given(tiny_case, reucid, tmp_path):
    cnn = pytest.importorskip("denoiser.reucid.selection.cnn")
    # torch (heavy) only when this runs
    import torch

    torch.manual_seed(0)
    model_path = cnn.save_classifier(cnn.EigenpatchCNN(), tmp_path / "untrained.pt",
                                     metadata={"name": "untrained"})
    method = default_methods()["REUCID paper, CNN classifier"]
    context = MethodContext(noise=tiny_case.noise, classifier=model_path)
    outcome = run_method(method, tiny_case.noisy, context)
    assert outcome.status == "ok", outcome.status
    assert outcome.estimate.shape == tiny_case.noisy.shape
    missing = run_method(method, tiny_case.noisy,
                         MethodContext(noise=tiny_case.noise, classifier=tmp_path / "none.pt"))
    assert missing.status.startswith("not available")
