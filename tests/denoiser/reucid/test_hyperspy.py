"""denoise_signal: a HyperSpy Signal2D in, a calibrated Signal2D out (skipped without HyperSpy)."""
from __future__ import annotations

import numpy as np
import pytest

from denoiser.reucid import denoise
from denoiser.reucid.hyperspy import denoise_signal
from tests.denoiser.conftest import lattice_image

hs = pytest.importorskip("hyperspy.api")


@pytest.fixture
def signal():
    image = hs.signals.Signal2D(lattice_image(64))
    for axis, name in zip(image.axes_manager.signal_axes, ("x", "y")):
        axis.name, axis.scale, axis.offset, axis.units = name, 0.0125, 0.5, "nm"
    image.metadata.General.title = "STO frame"
    image.original_metadata.set_item("Microscope.voltage_kV", 300)
    return image


def test_returns_a_calibrated_signal_with_the_reconstruction(signal):
    out = denoise_signal(signal, "mp", variant="paper", seed=3)
    assert isinstance(out, hs.signals.Signal2D) and out is not signal
    expected = denoise(signal.data, "mp", variant="paper", seed=3)
    np.testing.assert_array_equal(out.data, expected.image)
    for before, after in zip(signal.axes_manager.signal_axes, out.axes_manager.signal_axes):
        assert (after.name, after.scale, after.offset, after.units) == (
            before.name, before.scale, before.offset, before.units)
    assert out.original_metadata.Microscope.voltage_kV == 300
    assert out.metadata.General.title == "STO frame, denoised by REUCID"
    assert out.metadata.Processing.REUCID.patch_size == expected.patch_size
    assert out.metadata.Processing.REUCID.variant == "paper"
    assert signal.metadata.General.title == "STO frame"  # the input is untouched


def test_refuses_stacks_and_non_signals(signal):
    stack = hs.signals.Signal2D(np.stack([signal.data] * 2))
    with pytest.raises(TypeError, match="navigation"):
        denoise_signal(stack)
    with pytest.raises(TypeError, match="Signal2D"):
        denoise_signal(signal.data)


def test_round_trip_through_an_hspy_file(signal, tmp_path):
    out = denoise_signal(signal, "gd", variant="paper")
    out.save(tmp_path / "out.hspy")
    back = hs.load(tmp_path / "out.hspy")
    assert back.axes_manager.signal_axes[0].units == "nm"
    np.testing.assert_array_equal(back.data, out.data)
