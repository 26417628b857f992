"""The defect benchmark: a defective lattice, its defect-free twin, and the metrics."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import defects


def test_the_twin_is_the_same_lattice_without_its_defects():
    case = defects.defect_case("SrTiO3_001", 1000, size=96)
    again = defects.defect_case("SrTiO3_001", 1000, size=96)
    np.testing.assert_array_equal(case.noisy, again.noisy)
    np.testing.assert_array_equal(case.perfect, again.perfect)
    # a 3 % + 3 % defect population changes few pixels noticeably; another lattice
    # (a shifted or differently drawn twin) would change most of them
    visible = np.abs(case.defect) >= defects.DEFECT_PIXEL_FRACTION * np.ptp(case.clean)
    assert 0 < visible.mean() < 0.15
    assert case.noise.sigma == pytest.approx(0.05 * case.clean.max())
    assert case.parameters["rotation_deg"] == defects.ROTATION_DEG


def test_metrics_of_the_two_ground_truths_and_of_the_input():
    case = defects.defect_case("Si_110", 1000, size=64)
    kept = defects.defect_metrics(case.clean, case.perfect, case.noisy, case.clean)
    lost = defects.defect_metrics(case.clean, case.perfect, case.noisy, case.perfect)
    assert kept["retained"] == pytest.approx(1.0) and kept["psnr_defects"] == np.inf
    assert lost["retained"] == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(lost["psnr_defects"]) and lost["psnr_defects"] < lost["psnr"]
    noisy = defects.defect_metrics(case.clean, case.perfect, case.noisy, case.noisy)
    assert noisy["r"] == pytest.approx(0.0, abs=1e-12)
    assert 0.8 < noisy["retained"] < 1.2  # noise is not correlated with the defects
    with pytest.raises(ValueError, match="no defect"):
        defects.defect_metrics(case.clean, case.clean, case.noisy, case.clean)


def test_run_leaves_the_input_alone_and_tabulates(capsys):
    case = defects.defect_case("SrTiO3_001", 10000, size=64)
    before = case.noisy.copy()
    rows = ("paper, MP, p = 11", "default (BEST: coarse pilot, noise-edge)")
    records = defects.run_defects([case], rows)
    np.testing.assert_array_equal(case.noisy, before)
    assert [r["row"] for r in records] == list(rows)
    noisy_psnr = defects.defect_metrics(case.clean, case.perfect, case.noisy,
                                        case.noisy)["psnr"]
    assert all(r["psnr"] > noisy_psnr and r["cpu_s"] >= 0 for r in records)
    table = defects.markdown_table(records)
    assert "| SrTiO3_001 | 10000 | paper, MP, p = 11 |" in table
    with pytest.raises(ValueError, match="unknown row"):
        defects.run_defects([case], ["nonsense"])


def test_command_prints_the_table(capsys):
    assert defects.main(["--quick", "--size", "64", "--rows", "paper, MP, p = 11"]) == 0
    assert "| SrTiO3_001 | 1000 | paper, MP, p = 11 |" in capsys.readouterr().out
