"""The real-image benchmark harness on an image file the test makes itself."""
from __future__ import annotations

import numpy as np

from benchmarks import real
from benchmarks.data import real_images
from tests.benchmarks.images import lattice


def _write_fake_real_set(root):
    folder = root / "real"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = 3.0 * rng.poisson(lattice((96, 96), spacing=10.0, width=2.0)) + 100.0
    np.save(folder / "test_lattice_96x96.npy", image.astype(np.float32))
    (folder / "SOURCES.md").write_text("made by the test\n")
    return root


def test_command_writes_residual_tables_and_picture_grids(tmp_path):
    root = _write_fake_real_set(tmp_path / "shared")
    report = tmp_path / "benchmarks.md"
    status = real.main(["--shared-data", str(root), "--report", str(report),
                        "--plots", str(tmp_path / "img"),
                        "--methods", "Gaussian, sigma 1 px | Gaussian, oracle sigma"])
    assert status == 0
    text = report.read_text()
    assert "### test_lattice_96x96" in text
    assert "Var / expected" in text
    # Oracle rows need ground truth and are left out on real images.
    assert "Gaussian, oracle sigma" not in text.split("### test_lattice_96x96")[1]
    grid = tmp_path / "img" / "real_test_lattice_96x96.png"
    assert grid.is_file() and "img/real_test_lattice_96x96.png" in text


def test_missing_real_folder_gives_a_section_without_rows(tmp_path):
    report = tmp_path / "benchmarks.md"
    assert real.main(["--shared-data", str(tmp_path), "--report", str(report),
                      "--methods", "Gaussian, sigma 1 px"]) == 0
    assert "not present on this machine" in report.read_text()


def test_shared_real_images_all_load(shared_data):
    images = list(real_images(shared_data))
    assert len(images) >= 8
    for image in images:
        assert image.image.ndim == 2 and np.isfinite(image.image).all()
        assert "see shared" not in image.credit  # every file has a credit line
