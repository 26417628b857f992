"""The ``reucid denoise`` command line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from denoiser.reucid import denoise, read_image
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
    assert written.metadata["reucid"]["method"] == "paper"  # the paper's Algorithm 1
    assert written.metadata["reucid"]["options"]["n_stacks"] == 2
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


def test_the_default_is_the_default_method_like_the_python_api(tmp_path, capsys):
    meta = _run(tmp_path, capsys)
    assert meta["method"] == "best" and meta["options"]["pilot"] == "coarse"
    assert meta["pilot"]["kind"] == "coarse" and meta["classifier"] == "noise-edge"
    expected = denoise(noisy_lattice((48, 50))[0], patch_size=5).image
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").array, expected)
    assert _run(tmp_path, capsys, "--best")["options"] == meta["options"]


def test_options_of_the_default_method_reach_it(tmp_path, capsys):
    no_pilot = _run(tmp_path, capsys, "--pilot", "none")
    assert no_pilot["options"]["pilot"] is None and no_pilot["pilot"] is None
    one_pass = _run(tmp_path, capsys, "--passes", "1", "--no-stabilize", "--groups", "4",
                    "--aggregation", "flat", "--components", "9")["options"]
    assert one_pass == {**one_pass, "passes": 1, "stabilize": False, "n_groups": 4,
                        "aggregation": "flat", "n_components": 9}


def test_the_groups_own_coarse_scales_on_request(tmp_path, capsys):
    meta = _run(tmp_path, capsys, "--no-local-means")
    assert meta["options"]["local_means"] is False
    expected = denoise(noisy_lattice((48, 50))[0], patch_size=5, local_means=False).image
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").array, expected)
    assert _run(tmp_path, capsys)["options"]["local_means"] is True


def test_options_of_the_paper_method_reach_it(tmp_path, capsys):
    paper = _run(tmp_path, capsys, "--paper", "--classifier", "k=2", "--mode", "reference",
                 "--stacks", "2", "--components", "9")
    assert paper["mode"] == "reference" and paper["n_stacks"] == 2
    assert paper["n_components"] == 9


@pytest.mark.parametrize(("options", "named"), [
    (["--paper", "--pilot", "coarse"], "pilot"), (["--paper", "--aggregation", "weighted"],
                                                   "aggregation"),
    (["--paper", "--groups", "8"], "n_groups"), (["--mode", "reference"], "mode"),
    (["--device", "cuda"], "device='cuda'"), (["--stacks", "3"], "n_stacks"),
    (["--paper", "--no-local-means"], "local_means"),
])
def test_an_option_of_the_other_method_exits_with_status_2_naming_it(tmp_path, capsys,
                                                                     options, named):
    source = tmp_path / "in.npy"
    np.save(source, noisy_lattice((40, 40))[0])
    assert main(["denoise", str(source), "-o", str(tmp_path / "o.tif"), *options]) == 2
    error = capsys.readouterr().err
    assert f"option '{named}' is not used by" in error or named in error
    assert not (tmp_path / "o.tif").exists()


def test_help_names_the_default_and_the_paper_switch(capsys):
    with pytest.raises(SystemExit):
        main(["denoise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--paper" in text and "--pilot {coarse,none}" in text
    assert "options of the paper method" in text and "options of the default method" in text
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
