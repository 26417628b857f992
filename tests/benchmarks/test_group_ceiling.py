"""The selection ceiling: the clean-image oracle is never below the rule it starts from;
the best survey candidate is the best of what a survey shows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import group_ceiling
from denoiser.reucid.metrics import psnr
from training.group_examples import crystal_cases, group_candidates


@pytest.fixture(scope="module")
def rows():
    cases = crystal_cases(materials=["SrTiO3_001"], n_scenes=1, size=96,
                          doses=(100.0, 10000.0), seed=5)
    return group_ceiling.ceiling_rows(cases)


def test_the_oracle_is_at_least_the_rule_on_every_image(rows):
    assert len(rows) == 2
    for row in rows:
        assert row["oracle_psnr"] >= row["rule_psnr"] - 1e-9
        assert row["gain_db"] == pytest.approx(row["oracle_psnr"] - row["rule_psnr"])


def test_the_best_survey_candidate_is_the_best_of_the_shown_counts(rows):
    cases = crystal_cases(materials=["SrTiO3_001"], n_scenes=1, size=96,
                          doses=(100.0, 10000.0), seed=5)
    for case, row in zip(cases, rows):
        made = group_candidates(case.noisy, max_level=group_ceiling.K_MAX, seed=0)
        shown = [psnr(case.clean, made.reconstruct(k)) for k in made.levels]
        assert row["candidate_psnr"] == pytest.approx(max(shown))
        assert row["candidate_k"] == made.levels[int(np.argmax(shown))]
        assert row["candidate_gain_db"] == pytest.approx(row["candidate_psnr"] - row["rule_psnr"])


def test_showing_fewer_counts_never_finds_a_better_candidate(rows):
    cases = crystal_cases(materials=["SrTiO3_001"], n_scenes=1, size=96,
                          doses=(100.0, 10000.0), seed=5)
    fewer = group_ceiling.ceiling_rows(cases, k_max=2)
    for few, many in zip(fewer, rows):
        assert few["candidate_k"] <= 2
        assert few["candidate_psnr"] <= many["candidate_psnr"] + 1e-9
        # the rule's and the oracle's figures do not depend on what the survey shows
        assert few["rule_psnr"] == pytest.approx(many["rule_psnr"])


def test_families_split_materials_and_scenes():
    base = {"rule_psnr": 30.0, "oracle_psnr": 30.3, "gain_db": 0.3}
    families = group_ceiling.by_material([
        {**base, "kind": "crystal", "material": "Au_110", "candidate_psnr": 30.1,
         "candidate_gain_db": 0.1},
        {**base, "kind": "scene:interface", "material": "Au_110", "candidate_psnr": 29.9,
         "candidate_gain_db": -0.1},
        {**base, "kind": "scene:steps", "material": "Au_110", "candidate_psnr": 30.0,
         "candidate_gain_db": 0.0}])
    assert [(f["family"], f["n_images"]) for f in families] == [
        ("Au_110 crystals", 1), ("Au_110 scenes", 2)]
    assert families[1]["candidate_gain_db"] == pytest.approx(-0.05)
    assert "-0.050" in group_ceiling.markdown_by_material(families)


def test_summary_means_per_dose_and_overall(rows):
    summary = group_ceiling.summarise(rows)
    assert [s["set"] for s in summary] == ["crystals", "crystals", "all"]
    assert summary[-1]["gain_db"] == pytest.approx(np.mean([r["gain_db"] for r in rows]))
    assert summary[-1]["min_gain_db"] == pytest.approx(min(r["gain_db"] for r in rows))


def test_main_writes_the_rows_it_prints(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(group_ceiling, "held_out_group_cases", lambda **_: crystal_cases(
        materials=["SrTiO3_001"], n_scenes=1, size=96, doses=(1000.0,), seed=2))
    target = tmp_path / "ceiling.json"
    assert group_ceiling.main(["--quick", "--json", str(target)]) == 0
    written = json.loads(target.read_text())
    assert len(written["rows"]) == 1
    assert written["families"][0]["family"] == "SrTiO3_001 crystals"
    assert f"+{written['summary'][-1]['gain_db']:.2f}" in capsys.readouterr().out
