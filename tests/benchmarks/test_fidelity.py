"""The fidelity benchmark: grid runner, target check, report, real-image stripes (tiny)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from benchmarks import fidelity
from benchmarks.baselines import bm3d_gat
from benchmarks.data import RealImage
from denoiser.reucid.noise import PoissonGaussianNoise

TINY = {"scenes": ("vacancies_thick", "polar_domains"), "doses": (1000.0,), "seeds": (0,),
        "size": 64}


def _blur(noisy, noise):
    return gaussian_filter(noisy, 2.0)


@pytest.fixture(scope="module")
def rows():
    return fidelity.run_fidelity({fidelity.NOISY: None, "blur": _blur,
                                  fidelity.GROUND_TRUTH: None}, **TINY)


def test_one_record_per_point_and_method_with_every_metric(rows):
    assert len(rows) == 2 * 3
    assert {r["method"] for r in rows} == {fidelity.NOISY, "blur", fidelity.GROUND_TRUTH}
    for r in rows:
        assert r["status"] == "ok" and r["size"] == 64
        assert all(key in r for key, *_ in fidelity.METRICS)
    truth = [r for r in rows if r["method"] == fidelity.GROUND_TRUTH]
    for r in truth:  # a 64² crop may hold no scorable defect (NaN)
        assert np.isnan(r["defect_contrast"]) or r["defect_contrast"] == 1.0
        assert r["intensity_slope"] == pytest.approx(1.0) and r["position_error_pm"] < 5
    raw = [r for r in rows if r["method"] == fidelity.NOISY]
    assert all(r["residual_correlation"] == 0.0 for r in raw)


def test_a_failing_method_is_a_status_not_an_exception():
    def broken(noisy, noise):
        raise RuntimeError("boom")

    out = fidelity.evaluate(broken, scenes=["vacancies_thick"], doses=[100], seeds=[0],
                            size=48, name="broken")
    assert out[0]["status"].startswith("failed: RuntimeError") and np.isnan(out[0]["psnr"])


def test_targets_compare_seed_means_with_the_baseline(rows):
    baseline = [dict(r, method=fidelity.BM3D) for r in rows if r["method"] == fidelity.NOISY]
    blur = [r for r in rows if r["method"] == "blur"]
    check = fidelity.targets_met(blur, baseline_rows=baseline)
    assert check.points == 2 and check.checked >= 8
    assert not check and any("PSNR" not in f for f in check.failures)
    same = fidelity.targets_met(baseline, method=fidelity.BM3D, baseline_rows=baseline,
                                psnr_margin_db=0.0, min_intensity_slope=-1.0)
    assert same and "all" in str(same)
    with pytest.raises(ValueError, match="say which method"):
        fidelity.targets_met(rows + [dict(blur[0], method="other")], baseline_rows=baseline)


def test_reference_rows_come_from_the_stored_run(tmp_path, rows):
    stored = tmp_path / "fidelity.json"
    stored.write_text(json.dumps({"rows": [dict(r, method=fidelity.BM3D) for r in rows
                                           if r["method"] == fidelity.NOISY]}))
    blur = [r for r in rows if r["method"] == "blur"]
    found = fidelity.reference_rows(blur, path=stored, compute=False)
    assert len(found) == 2 and {r["method"] for r in found} == {fidelity.BM3D}


def test_markdown_report_puts_methods_side_by_side(rows):
    text = fidelity.markdown_report(rows, methods=(fidelity.NOISY, "blur"))
    assert "| scene | e/px | raw | blur |" in text
    assert "| vacancies_thick | 1000 |" in text and "Displacement slope" in text


def test_real_stripe_report_skips_cleanly_without_shared_data(tmp_path):
    assert fidelity.real_stripe_report({"blur": _blur}, root=tmp_path / "absent") == []


def test_real_stripe_report_on_a_stripy_image(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    clean = 20 + 80 * np.exp(-(((xx % 8) - 4.0) ** 2 + ((yy % 8) - 4.0) ** 2) / 4)
    image = rng.poisson(clean) + rng.normal(0, 4, size=(96, 1))
    monkeypatch.setattr(fidelity, "real_images", lambda root: iter(
        [RealImage(name="stripy", path=tmp_path, image=image, credit="test")]))
    out = fidelity.real_stripe_report({"blur": _blur, "identity": lambda x, n: x}, crop=None)
    assert [r["method"] for r in out] == ["blur", "identity"]
    assert out[0]["input_stripes"] > 3 and out[0]["residual_stripes"] > 3
    assert np.isnan(out[1].get("residual_stripes", np.nan)) or out[1]["status"] == "ok"


def test_command_line_on_one_tiny_point(tmp_path, capsys):
    report, stored = tmp_path / "b.md", tmp_path / "f.json"
    assert fidelity.main(["--scenes", "vacancies_thick", "--doses", "1000", "--seeds", "0",
                          "--size", "48", "--methods", fidelity.NOISY, "--real", "no",
                          "--report", str(report), "--json", str(stored),
                          "--plots", str(tmp_path)]) == 0
    assert "<!-- BEGIN fidelity -->" in report.read_text()
    assert (tmp_path / "fidelity.png").is_file() and "fidelity.png" in report.read_text()
    saved = json.loads(stored.read_text())
    assert {r["method"] for r in saved["rows"]} == {fidelity.NOISY, fidelity.GROUND_TRUTH}
    assert "| vacancies_thick | 1000 |" in capsys.readouterr().out
    # a later run on other rows keeps the stored ones (the reference of targets_met)
    assert fidelity.main(["--scenes", "vacancies_thick", "--doses", "1000", "--seeds", "0",
                          "--size", "48", "--methods", "Gaussian, sigma 1 px", "--real", "no",
                          "--report", str(report), "--json", str(stored),
                          "--plots", str(tmp_path)]) == 0
    methods = [r["method"] for r in json.loads(stored.read_text())["rows"]]
    report.unlink()
    assert fidelity.main(["--from-json", "--json", str(stored), "--report", str(report),
                          "--plots", str(tmp_path)]) == 0
    assert "Gaussian, sigma 1 px" in report.read_text()
    assert sorted(methods) == sorted([fidelity.NOISY, "Gaussian, sigma 1 px",
                                      fidelity.GROUND_TRUTH])


def test_the_one_bm3d_baseline_is_what_the_registry_runs():
    pytest.importorskip("bm3d")
    rng = np.random.default_rng(0)
    noisy = rng.poisson(np.full((32, 32), 40.0)).astype(float)
    noise = PoissonGaussianNoise(gain=1.0, sigma=1.0)
    direct = bm3d_gat(noisy, noise)
    via_registry = fidelity.registry_method(fidelity.BM3D)(noisy, noise)
    np.testing.assert_allclose(direct, via_registry, rtol=2e-3)  # bm3d is not bit-exact
