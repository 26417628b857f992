"""The selection ceiling: the clean-image oracle is never below the rule it starts from."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import group_ceiling
from training.group_examples import crystal_cases


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
    assert f"+{written['summary'][-1]['gain_db']:.2f}" in capsys.readouterr().out
