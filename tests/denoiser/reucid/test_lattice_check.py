"""The no-lattice warning: crystals pass, gradients, blurred noise and vacuum do not."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from denoiser.reucid import read_image
from denoiser.reucid.lattice_check import LATTICE_THRESHOLD, check_lattice
from tests.denoiser.conftest import lattice_image


@pytest.mark.parametrize("dose", [3.0, 20.0])
def test_a_noisy_lattice_is_a_lattice(dose):
    check = check_lattice(lattice_image(192, dose=dose))
    assert check.ok and check.message == ""
    assert check.repeat_strength >= LATTICE_THRESHOLD


def test_a_gradient_photo_is_not_a_lattice():
    y, x = np.mgrid[:256, :256]
    photo = np.random.default_rng(1).poisson((x + y) / 4.0 + 10).astype(float)
    check = check_lattice(photo)
    assert not check.ok and "No lattice found" in check.message


def test_blurred_noise_has_a_psf_but_no_lattice():
    blobs = gaussian_filter(np.random.default_rng(2).random((384, 384)), 4) * 1000
    check = check_lattice(blobs)
    assert check.psf_found and not check.lattice_found
    assert check.repeat_strength < LATTICE_THRESHOLD


def test_vacuum_has_no_psf():
    check = check_lattice(np.random.default_rng(3).poisson(50, (128, 128)).astype(float))
    assert not check.psf_found and "no point-spread function" in check.message
    assert check.to_dict()["ok"] is False


@pytest.mark.parametrize("name", [
    "tkrem_unknown-crystal_STEM-ADF_lowdose_1024x1024.ser",
    "ncempy_SrTiO3_TEAM05-200kV_STEM-ADF_1024x1024.emd",
    "statstem_PtIr-nanoparticle_HAADF_normalized_512x512.npy",
    "temul_PbTiO3-SrRuO3_Titan-300kV_HAADF_224x1312.hspy",
])
def test_real_crystals_pass(shared_data, name):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} not present")
    assert check_lattice(read_image(path).array).ok
