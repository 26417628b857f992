"""The optional abTEM multislice simulator (skipped where abTEM is not installed)."""
from __future__ import annotations

import numpy as np
import pytest

abtem = pytest.importorskip("abtem")
pytest.importorskip("ase")

from denoiser.reucid.simulation.multislice import build_structure, simulate_abtem_haadf


def test_structures_are_orthogonal_cells_of_the_right_chemistry():
    sto = build_structure("SrTiO3_001", thickness_A=8)
    assert set(sto.get_chemical_symbols()) == {"Sr", "Ti", "O"}
    assert np.allclose(sto.cell.angles(), 90)
    nd = build_structure("NdBaTiO3_001", thickness_A=80, rng=np.random.default_rng(3))
    assert "Nd" in nd.get_chemical_symbols()
    with pytest.raises(ValueError):
        build_structure("unobtainium")


@pytest.mark.slow
def test_a_thin_srtio3_cell_gives_a_periodic_z_contrast_image():
    image = simulate_abtem_haadf("SrTiO3_001", shape=(40, 40), pixel_size_A=0.39,
                                 thickness_A=4, potential_sampling_A=0.06)
    assert image.clean.shape == (40, 40)
    assert np.all(image.clean >= 0) and image.clean.max() < 1
    assert image.clean.max() > 2 * image.clean.min()
