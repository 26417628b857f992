"""The committed default model loads, matches its model card and selects sensibly."""
from __future__ import annotations

import json

import numpy as np
import pytest

from denoiser.reucid.paper.decomposition import decompose
from denoiser.reucid.selection.cnn import (
    SHIPPED_MODEL_CARD_PATH,
    SHIPPED_MODEL_PATH,
    load_classifier,
)
from training.examples import simulated_cases


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED_MODEL_PATH.is_file():
        pytest.skip("no shipped model yet (python manage.py train_classifier --from auto --ship)")
    return load_classifier(SHIPPED_MODEL_PATH)


def test_the_model_card_describes_the_shipped_file(shipped):
    card = json.loads(SHIPPED_MODEL_CARD_PATH.read_text())
    assert card["created"] == shipped.metadata["created"]
    assert card["threshold"] == shipped.threshold
    assert card["training_data"]["command"].startswith("python manage.py train_classifier")
    assert {"validation", "held_out", "headline"} <= set(card["metrics"])
    assert SHIPPED_MODEL_PATH.stat().st_size < 300_000


def test_the_shipped_model_keeps_signal_and_drops_noise_on_a_simulated_image(shipped):
    case = next(simulated_cases(materials=["SrTiO3_001"], n_scenes=1, doses=[10000],
                                shape=(96, 96), seed=3))
    decomposition = decompose(case.noisy, n_components=25, seed=0)
    kept = shipped.select(decomposition.eigenpatches, decomposition.eigenvalues)
    assert kept[0] and kept.sum() >= 3  # the mean and the lattice are signal

    rng = np.random.default_rng(0)
    noise = decompose(rng.normal(size=(96, 96)), patch_size=9, n_components=25, seed=0)
    assert shipped.select(noise.eigenpatches, noise.eigenvalues).sum() <= 3
