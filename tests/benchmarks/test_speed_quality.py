"""The speed-quality benchmark: an earlier revision's default against this code's."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from benchmarks import speed_quality
from benchmarks.data import REPO_ROOT, builtin_simulated_cases


def _row(name: str, before: float, now: float, other: float = 0.0):
    return speed_quality.QualityRow(name=name, before_db=before, before_other_seed_db=before
                                    + other, now_db=now, before_s=1.0, now_s=0.5)


def test_the_verdict_follows_the_mean_difference_not_the_largest():
    kept = [_row("a", 30.0, 29.9), _row("b", 30.0, 30.08)]  # mean -0.01
    lost = [_row("a", 30.0, 29.93), _row("b", 30.0, 29.95)]  # mean -0.06
    assert "(target: no worse than −0.05 dB: met)" in speed_quality.render(
        kept, before="abc", seconds=1.0, quick=True)
    text = speed_quality.render(lost, before="abc", seconds=1.0, quick=True)
    assert "NOT met" in text and "Mean difference -0.060 dB" in text
    assert "| a | 30.00 | 29.93 | -0.070 |" in text


def test_without_shared_data_the_project_simulates_its_own_images(tmp_path):
    cases = speed_quality.quality_cases(shared_root=tmp_path, quick=True)
    assert len(cases) == 4 and all("built-in" in name for name, _ in cases)


def _is_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _is_git_checkout(), reason="needs the project's git history")
def test_one_revision_against_itself_differs_by_nothing(tmp_path):
    # the committed code on both sides: each side's image comes from its own export
    # and subprocess, so any difference would be the harness's, not the code's
    speed_quality._export("HEAD", tmp_path)
    case = builtin_simulated_cases(size=64, doses=[1000])[0]
    rows = speed_quality.compare([("scene", case)], before="HEAD", now_root=tmp_path,
                                 now_options={})
    assert len(rows) == 1
    assert rows[0].difference_db == 0.0
    assert 10.0 < rows[0].now_db < 60.0 and rows[0].now_s > 0


def test_this_code_runs_without_the_fidelity_steps_by_default():
    # the comparison is of the speed work: the local means (issue 14) are turned off
    assert speed_quality.NOW_OPTIONS == {"local_means": False}
    text = speed_quality.render([_row("a", 30.0, 30.0)], before="abc", seconds=1.0,
                                quick=True)
    assert "`denoise(image, local_means=False)`" in text
    assert "(`denoise(image)`)," in speed_quality.render(
        [_row("a", 30.0, 30.0)], before="abc", seconds=1.0, quick=True, now_options={})
