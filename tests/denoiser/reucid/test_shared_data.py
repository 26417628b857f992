"""Sanity on the shared real and simulated images (skipped where ../shared/data is absent)."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import decompose, denoise, read_image


def _psnr(image: np.ndarray, reference: np.ndarray) -> float:
    span = reference.max() - reference.min()
    return float(10 * np.log10(span**2 / np.mean((image - reference) ** 2)))


@pytest.mark.parametrize("dose", [100, 1000])
def test_objective_rules_improve_simulated_srtio3(shared_data, dose):
    path = shared_data / "sim" / "SrTiO3_001_256.npz"
    if not path.is_file():
        pytest.skip("SrTiO3_001_256.npz not present")
    with np.load(path) as data:
        noisy, clean = data[f"noisy_{dose}"], data[f"clean_{dose}"]
    before = _psnr(noisy, clean)
    for rule in ("gd", "mp"):
        result = denoise(noisy, rule, variant="paper")
        assert _psnr(result.image, clean) > before + 4.0, rule
    # the best truncation of one decomposition is at least as good as a fixed k=25
    dec = decompose(noisy, patch_size=13, n_components=60)
    scores = [_psnr(image, clean) for image in dec.reconstructions([5, 25, 45, 60])]
    assert max(scores) > before + 4.0


@pytest.mark.parametrize("name", [
    "statstem_CsPbBr3_HAADF_241x246.npy",
    "remworkflows_SrTiO3-100_Osiris-200kV_HAADF_512x512.tif",
])
def test_real_images_denoise_cleanly(shared_data, name):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} not present")
    data = read_image(path)
    result = denoise(data.array, "gd", variant="paper")
    assert result.image.shape == data.array.shape and np.isfinite(result.image).all()
    assert 3 <= result.patch_size <= 63 and result.patch_size % 2 == 1
    # denoising removes mostly pixel-to-pixel noise: the result stays close to the data
    correlation = np.corrcoef(result.image.ravel(), data.array.ravel())[0, 1]
    assert correlation > 0.8
    roughness = np.std(np.diff(result.image, axis=1)) / np.std(np.diff(data.array, axis=1))
    assert roughness < 0.9
