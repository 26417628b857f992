"""The ``reucid denoise`` command line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
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
                   "--patch-size", "7", "--seed", "3", "--stacks", "2", "--paper"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["patch_size"] == 7 and summary["n_stacks"] == 2
    assert summary["kept_per_stack"] == [4, 4]
    written = read_image(target)
    assert written.metadata["reucid"]["classifier"] == "k=4"
    assert written.metadata["reucid"]["seed"] == 3
    assert written.metadata["reucid"]["options"] == {}  # the paper's Algorithm 1
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].dtype == np.float32


def _run(tmp_path, capsys, *options):
    """Denoise a small lattice with ``options``; the written TIFF's REUCID metadata."""
    source = tmp_path / "in.npy"
    np.save(source, noisy_lattice((48, 50))[0])
    target = tmp_path / "out.tif"
    assert main(["denoise", str(source), "-o", str(target), "--patch-size", "5",
                 "--quiet", *options]) == 0
    assert capsys.readouterr().out == ""
    return read_image(target).metadata["reucid"]


def test_the_default_is_the_best_variant_like_the_python_api(tmp_path, capsys):
    from denoiser.reucid import denoise
    from denoiser.reucid.variants import BEST

    meta = _run(tmp_path, capsys)
    assert meta["options"]["variant"] == BEST.to_metadata()
    assert meta["options"]["pilot"]["kind"] == "coarse"
    assert meta["classifier"] == "noise-edge" and meta["mode"] == "grouped"
    expected = denoise(noisy_lattice((48, 50))[0], patch_size=5).image
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").array, expected)
    assert _run(tmp_path, capsys, "--best")["options"] == meta["options"]


def test_single_options_override_the_chosen_variant(tmp_path, capsys):
    no_pilot = _run(tmp_path, capsys, "--pilot", "none")["options"]
    assert no_pilot["variant"]["pilot"] is None and "pilot" not in no_pilot
    assert no_pilot["variant"]["passes"] == 2 and no_pilot["variant"]["grouping"] == "similar"
    one_pass = _run(tmp_path, capsys, "--passes", "1", "--stabilize", "none")["options"]
    assert one_pass["variant"] == {"stabilize": None, "grouping": "similar", "passes": 1,
                                   "aggregation": "weighted", "pilot": "coarse"}
    paper_grouped = _run(tmp_path, capsys, "--paper", "--grouping", "similar",
                         "--classifier", "noise-edge")["options"]
    assert paper_grouped["variant"] == {"stabilize": None, "grouping": "similar", "passes": 1,
                                        "aggregation": "flat", "pilot": None}


def test_impossible_combinations_exit_with_status_2(tmp_path, capsys):
    source = tmp_path / "in.npy"
    np.save(source, noisy_lattice((40, 40))[0])
    for options in (["--paper", "--pilot", "coarse"], ["--paper", "--aggregation", "weighted"]):
        assert main(["denoise", str(source), "-o", str(tmp_path / "o.tif"), *options]) == 2
        assert "grouping='similar'" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_help_names_the_default_and_the_paper_switch(capsys):
    with pytest.raises(SystemExit):
        main(["denoise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--paper" in text and "--pilot {coarse,none}" in text
    assert "default: the best variant" in text and "the default; kept for scripts" in text
    with pytest.raises(SystemExit):
        main(["denoise", "x.tif", "-o", "y.tif", "--paper", "--best"])


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
         str(tmp_path / "out.tif"), "--classifier", "gd", "--patch-size", "5", "--quiet",
         "--paper"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert read_image(tmp_path / "out.tif").array.shape == (40, 40)
