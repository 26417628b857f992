"""The speed and quality runs write the figures the site quotes through one writer."""
from __future__ import annotations

import json
from dataclasses import replace

from benchmarks import quality, speed
from benchmarks.report import write_figures


def test_speed_and_quality_each_update_their_part_of_one_file(tmp_path, tiny_case):
    path = tmp_path / "figures.json"
    cells = [speed.SpeedResult(row, size, "ok", median_s=seconds,
                               peak_increment_bytes=300 * 1024**2)
             for row, size, seconds in ((speed.REUCID_BEST, 256, 1.4812),
                                        (speed.REUCID_BEST, 1024, 13.33),
                                        (speed.REUCID_PAPER, 256, 0.04213),
                                        ("BM3D + GAT", 256, 1.78))]
    write_figures(speed.speed_figures(cells), path=path)

    shared = [replace(tiny_case, source=quality.FIGURE_SOURCE, dose=dose, dose_unit="e/px",
                      name="SrTiO3_001 (abTEM)") for dose in (100.0, 1000.0)]
    records = [quality.QualityRecord(case=c.name, source=c.source, dose=c.dose,
                                     dose_unit=c.dose_unit, dose_e_per_A2=c.dose, method=row,
                                     family="REUCID", status="ok", seconds=1.0,
                                     metrics={"psnr": psnr})
               for c in shared for row, psnr in ((quality.FIGURE_ROWS["best"], 30.0 + c.dose / 100),
                                                 (quality.FIGURE_ROWS["paper"], 25.0))]
    write_figures(quality.quality_figures(records, shared), path=path)

    figures = json.loads(path.read_text())
    best = figures["methods"]["best"]
    assert best["seconds"] == {"256": 1.48, "1024": 13.3} and best["peak_memory_mb_1024"] == 300
    assert best["psnr_db"] == {"100": 31.0, "1000": 40.0}
    assert figures["methods"]["paper"] == {"seconds": {"256": 0.0421},
                                           "psnr_db": {"100": 25.0, "1000": 25.0}}
    # BM3D did not run in this quality run: its speed figure stays, no PSNR is invented
    assert figures["methods"]["bm3d"] == {"seconds": {"256": 1.78}}
    assert set(figures["noisy_psnr_db"]) == {"100", "1000"} and figures["dose_unit"] == "e/px"
    assert "write_figures" in figures["about"] and figures["speed_run"]


def test_quality_figures_need_the_shared_set():
    assert quality.quality_figures([], []) == {}
