"""The speed benchmark harness: subprocess workers, skip rules, report."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

import denoiser.reucid
from benchmarks import speed
from benchmarks.methods import default_methods


def test_speed_input_is_deterministic_and_sized():
    a, noise = speed.speed_input(96, shared_root=Path("/nonexistent"), seed=1)
    b, _ = speed.speed_input(96, shared_root=Path("/nonexistent"), seed=1)
    assert a.shape == (96, 96)
    np.testing.assert_array_equal(a, b)
    assert noise.gain == 1.0 and noise.sigma > 0


def test_command_times_measures_memory_and_skips_what_would_not_fit(tmp_path):
    report = tmp_path / "benchmarks.md"
    status = speed.main([
        "--sizes", "64,128,4096", "--repeats", "2", "--budget-s", "1",
        "--max-run-s", "0.05", "--memory-limit-gb", "4", "--no-shared",
        "--methods", "Gaussian, sigma 1 px", "--report", str(report),
        "--plots", str(tmp_path / "img"),
    ])
    assert status == 0
    text = report.read_text()
    assert "<!-- BEGIN speed -->" in text
    time_table = text.split("### Median time per call (s)")[1].split("###")[0]
    row = next(line for line in time_table.splitlines() if line.startswith("| Gaussian"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # 64² and 128² are timed; 4096² (1000x the pixels of 128²) is predicted too slow
    # for the 0.05 s limit and says so instead of disappearing.
    assert float(cells[1]) > 0 and float(cells[2]) > 0
    assert cells[3] == "not run (time)"
    assert (tmp_path / "img" / "speed.png").is_file()
    assert "no GPU on this machine" in text or "GPU rows below" in text


def test_worker_reports_time_and_peak_memory(tmp_path):
    options = speed._fill_defaults(speed.build_parser().parse_args([
        "--sizes", "64,256", "--repeats", "3", "--no-shared", "--budget-s", "5",
    ]))
    results = speed._run_worker("Gaussian, sigma 1 px", [64, 256], options=options,
                                classifier="gd", timeout_s=120)
    assert [r.size for r in results] == [64, 256]
    for cell in results:
        assert cell.status == "ok"
        assert cell.median_s is not None and cell.median_s > 0
        assert 1 <= cell.n <= 3
        assert cell.peak_increment_bytes is not None and cell.peak_rss_bytes > 0


def test_skip_rules_name_their_reason(tmp_path):
    options = speed._fill_defaults(speed.build_parser().parse_args([
        "--sizes", "64,2048", "--repeats", "1", "--no-shared", "--max-run-s", "0.0001",
    ]))
    results = speed._run_worker("Gaussian, sigma 1 px", [64, 2048], options=options,
                                classifier="gd", timeout_s=120)
    assert results[0].status == "ok"
    assert results[1].status.startswith("not run (time")


def test_paper_rows_run_the_paper_pipeline_and_the_default_row_the_default(monkeypatch):
    calls = []

    def recording(image, classifier=None, **options):
        calls.append({"classifier": classifier, **options})
        return SimpleNamespace(image=image, timings={"total": 0.5}, patch_size=7, n_stacks=3)

    monkeypatch.setattr(denoiser.reucid, "denoise", recording)
    image, noise = speed.speed_input(64, shared_root=Path("/nonexistent"))
    fast = speed._method_runner(speed.REUCID_PAPER, noise, None)(image)
    speed._method_runner(speed.REUCID_REFERENCE, noise, None)(image)
    speed._method_runner(speed.REUCID_BEST, noise, None)(image)
    assert calls[0]["variant"] == "paper" and calls[1]["variant"] == "paper"
    assert calls[1]["mode"] == "reference"
    # denoise(image) as a user calls it: its own selector, no variant or options
    assert calls[2] == {"classifier": None, "seed": 0}
    assert speed._describe(fast) == "p=7, d=3; total 0.5 s"


def test_every_speed_row_is_a_registry_row():
    methods = default_methods()
    assert set(speed.ROWS) | {speed.REUCID_GPU} <= set(methods)
    assert {methods[name].family for name in (speed.REUCID_PAPER, speed.REUCID_REFERENCE,
                                              speed.REUCID_GPU)} == {"speed"}


def test_targets_are_the_paper_path_and_the_default_is_compared_with_bm3d():
    results = [
        speed.SpeedResult(speed.REUCID_PAPER, 256, "ok", median_s=0.04, n=3,
                          peak_increment_bytes=10**7),
        speed.SpeedResult(speed.REUCID_BEST, 256, "ok", median_s=1.5, n=3,
                          peak_increment_bytes=10**8),
        speed.SpeedResult("BM3D + GAT", 256, "ok", median_s=3.0, n=3,
                          peak_increment_bytes=10**8),
    ]
    options = speed._fill_defaults(speed.build_parser().parse_args(["--sizes", "256"]))
    text = speed.render_speed(results, sizes=[256], classifier_note="test", gpu=False,
                              seconds=1.0, options=options)
    targets = text.split("### Targets")[1].split("###")[0]
    assert "| 256x256 CPU time, paper path | ≤ 0.05 s | 0.04 s | yes |" in targets
    assert "| 256x256 time of the default (best) / BM3D + GAT | < 1 | 0.50 | yes |" in targets
    assert "| BM3D + GAT / REUCID default (best) | 2× |" in text


def test_issue_17_seconds_are_scaled_by_bm3d_time_against_its_machine():
    results = [
        speed.SpeedResult(speed.REUCID_BEST, 1024, "ok", median_s=2.6, n=3,
                          peak_increment_bytes=10**8),
        # BM3D ran 1.3x slower here than on the issue's machine, at both sizes
        speed.SpeedResult("BM3D + GAT", 256, "ok", median_s=1.3 * 1.85, n=3,
                          peak_increment_bytes=10**8),
        speed.SpeedResult("BM3D + GAT", 512, "ok", median_s=1.3 * 6.42, n=3,
                          peak_increment_bytes=10**8),
    ]
    assert abs(speed.machine_slowness(results) - 1.3) < 1e-9
    assert speed.machine_slowness(results[:1]) is None
    options = speed._fill_defaults(speed.build_parser().parse_args(["--sizes", "1024"]))
    text = speed.render_speed(results, sizes=[1024], classifier_note="test", gpu=False,
                              seconds=1.0, options=options)
    targets = text.split("### Targets")[1].split("###")[0]
    # 2.6 s here is 2.0 s there: met in the issue's units, not in this machine's
    assert "| 1024x1024 CPU time, default | ≤ 2 s | 2.6 s | **no** |" in targets
    assert ("| 1024x1024 time, default, in issue 17's machine's seconds (÷ BM3D's time here"
            " / there = 1.30) | ≤ 2 s | 2 s | yes |") in targets


def test_the_paired_ratio_is_reported_beside_the_cells_ratio():
    results = [
        speed.SpeedResult(speed.REUCID_BEST, 256, "ok", median_s=0.7, n=3,
                          peak_increment_bytes=10**8),
        speed.SpeedResult("BM3D + GAT", 256, "ok", median_s=2.8, n=3,
                          peak_increment_bytes=10**8),
    ]
    paired = speed.PairedRatio(speed.REUCID_BEST, "BM3D + GAT", 256, (0.21, 0.19, 0.18))
    options = speed._fill_defaults(speed.build_parser().parse_args(["--sizes", "256"]))
    text = speed.render_speed(results, sizes=[256], classifier_note="test", gpu=False,
                              seconds=1.0, options=options, paired=paired)
    targets = text.split("### Targets")[1].split("###")[0]
    assert "| 256x256 time of the default (best) / BM3D + GAT (issue 17) | ≤ 0.2 | 0.25 | **no** |" \
        in targets
    assert ("| 256x256 default / BM3D + GAT, paired (issue 17): median of 3 alternating rounds "
            "(range 0.18–0.21) | ≤ 0.2 | 0.19 | yes |") in targets
    without = speed.render_speed(results, sizes=[256], classifier_note="test", gpu=False,
                                 seconds=1.0, options=options)
    assert "paired" not in without.split("### Targets")[1]


def test_the_paired_ratio_alternates_the_two_workers(monkeypatch):
    order = []

    def fake_worker(method, sizes, *, options, classifier, timeout_s):
        order.append(method)
        seconds = 0.5 if method == speed.REUCID_BEST else 2.0 + len(order)
        return [speed.SpeedResult(method, sizes[0], "ok", median_s=seconds, n=3)]

    monkeypatch.setattr(speed, "_run_worker", fake_worker)
    options = speed._fill_defaults(speed.build_parser().parse_args(["--paired-rounds", "2"]))
    paired = speed._run_paired(options, "shipped")
    assert order == [speed.REUCID_BEST, "BM3D + GAT"] * 2
    assert paired.ratios == (0.5 / 4.0, 0.5 / 6.0) and paired.size == 256
    monkeypatch.setattr(speed, "_run_worker", lambda method, sizes, **_: [
        speed.SpeedResult(method, sizes[0], "failed (worker exit 1)")])
    assert speed._run_paired(options, "shipped") is None
