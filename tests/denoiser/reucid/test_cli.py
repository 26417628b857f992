"""The ``reucid denoise`` command line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import tifffile

from denoiser.reucid import read_image
from denoiser.reucid.cli import main

from ._images import noisy_lattice


def test_cli_denoises_and_writes_a_float32_tiff_with_diagnostics(tmp_path, capsys):
    noisy, _ = noisy_lattice((48, 50))
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, noisy.astype(np.uint16))
    target = tmp_path / "out.tif"
    status = main(["denoise", str(source), "-o", str(target), "--classifier", "k=4",
                   "--patch-size", "7", "--seed", "3", "--stacks", "2"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patch_size"] == 7 and summary["n_stacks"] == 2
    assert summary["kept_per_stack"] == [4, 4]
    written = read_image(target)
    assert written.metadata["reucid"]["classifier"] == "k=4"
    assert written.metadata["reucid"]["seed"] == 3
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].dtype == np.float32


def test_cli_reports_bad_input_with_exit_status_2(tmp_path, capsys):
    (tmp_path / "bad.tif").write_text("not an image")
    status = main(["denoise", str(tmp_path / "bad.tif"), "-o", str(tmp_path / "o.tif"),
                   "--classifier", "mp"])
    assert status == 2
    assert "reucid: error:" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_python_dash_m_entry_point(tmp_path):
    noisy, _ = noisy_lattice((40, 40))
    np.save(tmp_path / "in.npy", noisy)
    completed = subprocess.run(
        [sys.executable, "-m", "denoiser.reucid", "denoise", str(tmp_path / "in.npy"), "-o",
         str(tmp_path / "out.tif"), "--classifier", "gd", "--patch-size", "5", "--quiet"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert read_image(tmp_path / "out.tif").array.shape == (40, 40)
