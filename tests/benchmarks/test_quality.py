"""The quality benchmark harness, end to end on tiny inputs."""
from __future__ import annotations

import time

import numpy as np
import pytest

from benchmarks import quality
from benchmarks.data import builtin_simulated_cases, shared_simulated_cases
from benchmarks.methods import Method, default_methods


def test_run_and_render_on_a_tiny_case(tiny_case, tmp_path):
    methods = {k: v for k, v in default_methods().items()
               if k in ("Gaussian, sigma 1 px", "Gaussian, oracle sigma")}
    records = quality.run_quality([tiny_case], methods)
    assert [r.method for r in records] == ["noisy input", *methods]
    by_method = {r.method: r for r in records}
    assert by_method["noisy input"].metrics["ief"] == pytest.approx(1.0)
    assert (by_method["Gaussian, oracle sigma"].metrics["psnr"]
            >= by_method["Gaussian, sigma 1 px"].metrics["psnr"])
    plots = quality.plot_quality(records, tmp_path / "plots")
    assert all(p.is_file() and p.stat().st_size > 1000 for p in plots)
    text = quality.render_quality(records, methods=methods, classifier_note="test",
                                  seconds=1.0, plots=plots, report_dir=tmp_path)
    assert "| Gaussian, oracle sigma |" in text
    assert "plots/quality_psnr.png" in text
    assert "max(clean) − min(clean)" in text  # the PSNR convention is stated


def test_builtin_cases_follow_the_paper_noise_model():
    cases = builtin_simulated_cases(size=64, doses=[100, 10000])
    assert {c.dose_unit for c in cases} == {"e/Å²"}
    for case in cases:
        assert case.noise.sigma == pytest.approx(0.05 * case.clean.max())
        assert case.clean.shape == case.noisy.shape == (64, 64)
    low, high = cases[0], cases[1]
    # Ten times... a hundred times the dose, a hundred times the counts.
    assert high.clean.sum() == pytest.approx(100 * low.clean.sum(), rel=1e-5)


def test_command_writes_its_section_and_keeps_the_others(tmp_path):
    report = tmp_path / "benchmarks.md"
    report.write_text("# B\n\n<!-- BEGIN speed -->\nspeed table\n<!-- END speed -->\n")
    status = quality.main(["--quick", "--no-shared", "--size", "48", "--report", str(report),
                           "--plots", str(tmp_path / "img"),
                           "--methods", "Gaussian, sigma 1 px | NLM (scikit-image)"])
    assert status == 0
    text = report.read_text()
    assert "speed table" in text
    assert "<!-- BEGIN quality -->" in text and "NLM (scikit-image)" in text
    assert "SrTiO3_001 bulk (built-in)" in text
    assert (tmp_path / "img" / "quality_psnr.png").is_file()


def test_unknown_method_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exited:
        quality.main(["--methods", "nonsense", "--report", str(tmp_path / "r.md")])
    assert exited.value.code == 2


def test_shared_abtem_cases_are_read_when_present(shared_data):
    cases = shared_simulated_cases(shared_data, doses=[100])
    assert cases, "the shared sim set holds 256x256 images at 100 e/px"
    for case in cases:
        assert case.dose_unit == "e/px"
        assert np.isfinite(case.noisy).all()
        assert case.noise.sigma == pytest.approx(0.05 * case.clean.max(), rel=1e-5)


def test_a_row_over_its_time_budget_is_reported_not_run(tiny_case):
    def slow(noisy, *, context):
        time.sleep(0.05)
        return noisy

    methods = {"slow": Method("slow", slow)}
    records = quality.run_quality([tiny_case, tiny_case], methods, row_budget_s=0.01)
    statuses = [r.status for r in records if r.method == "slow"]
    assert statuses[0] == "ok"
    assert statuses[1].startswith("not run (time budget")
    text = quality.render_quality(records, methods=methods, classifier_note="-", seconds=0.1)
    assert "not run (time budget" in text
