"""The pure helpers: which ks to show, statistics, rendering, charts."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pytest

from survey.candidate_ks import adaptive_window, choose_ks, spread_ks
from survey.charts import histogram_svg, timeline_svg, violin_svg
from survey.rendering import display_range, encode_png, to_uint8
from survey.statistics import agreement, summarize_by_group, summarize_ks, useful_mask


def test_all_strategy_shows_every_k():
    assert choose_ks(range(1, 26), strategy="all", count=6,
                     rng=np.random.default_rng(0)) == list(range(1, 26))


@pytest.mark.parametrize("seed", range(20))
def test_spread_covers_the_range_with_distinct_ks(seed):
    ks = spread_ks(range(1, 26), count=6, low=1, high=25, rng=np.random.default_rng(seed))
    assert len(ks) == len(set(ks)) == 6
    assert ks == sorted(ks)
    assert ks[0] <= 5 and ks[-1] >= 21  # first and last strata reach the ends


def test_spread_differs_between_respondents_but_is_reproducible():
    draws = {tuple(spread_ks(range(1, 26), count=6, low=1, high=25,
                             rng=np.random.default_rng(seed))) for seed in range(10)}
    assert len(draws) > 1
    again = spread_ks(range(1, 26), count=6, low=1, high=25, rng=np.random.default_rng(3))
    assert again == spread_ks(range(1, 26), count=6, low=1, high=25,
                              rng=np.random.default_rng(3))


def test_adaptive_narrows_only_after_enough_answers():
    few = choose_ks(range(1, 26), strategy="adaptive", count=5, consensus_ks=[10, 11],
                    adaptive_after=5, rng=np.random.default_rng(0))
    assert few[0] <= 5 and few[-1] >= 21
    many = choose_ks(range(1, 26), strategy="adaptive", count=5, consensus_ks=[10, 11] * 5,
                     adaptive_after=5, rng=np.random.default_rng(0))
    assert min(many) >= 8 and max(many) <= 13 and len(many) == 5


def test_adaptive_window_widens_when_too_narrow_for_count():
    ks = choose_ks(range(1, 26), strategy="adaptive", count=8, consensus_ks=[1] * 10,
                   rng=np.random.default_rng(0))
    assert len(ks) == 8 and ks[0] == 1
    assert adaptive_window([], k_min=1, k_max=25) == (1, 25)


def test_unknown_strategy_and_empty_candidates_are_errors():
    with pytest.raises(ValueError, match="unknown candidate strategy"):
        choose_ks([1, 2], strategy="best", count=2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="no candidates"):
        choose_ks([], strategy="all", count=2, rng=np.random.default_rng(0))


def test_summaries_per_group_and_agreement():
    summaries = summarize_by_group([("expert", 4), ("expert", 6), ("non_expert", 10),
                                    ("non_expert", 12), ("", 8)])
    assert summaries["expert"].mean == 5 and summaries["non_expert"].median == 11
    assert summaries["all"].count == 5 and summaries["all"].mean == 8
    result = agreement({"expert": [4, 5, 6, 5], "non_expert": [12, 13, 14, 12]})
    assert result["mean_difference"] == pytest.approx(-7.75)
    assert result["p_value"] < 0.05
    assert summarize_ks([7]).std == 0.0


def test_useful_mask_rounds_half_up_and_clips():
    assert useful_mask(6.5, 25).sum() == 7
    assert useful_mask(6.49, 25).sum() == 6
    assert useful_mask(40, 10).sum() == 10
    assert useful_mask(0.2, 10).sum() == 1


def test_display_range_and_png_share_one_scale():
    image = np.linspace(0, 100, 64 * 64).reshape(64, 64)
    low, high = display_range(image)
    assert low == pytest.approx(0.5, rel=1e-2) and high == pytest.approx(99.5, rel=1e-2)
    assert to_uint8(np.array([[low, high]]), low=low, high=high).tolist() == [[0, 255]]
    assert encode_png(image, low=low, high=high).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="NaN"):
        display_range(np.full((4, 4), np.nan))
    assert display_range(np.ones((4, 4)))[1] > 1.0


def test_charts_are_self_contained_svg_and_escape_labels():
    violin = violin_svg({"expert": [3, 4, 5], "non_expert": [9, 10], "all": [3, 4, 5, 9, 10]},
                        k_max=25)
    # n = 3 and n = 2: no violin, one point per answer; n = 5: a violin and its mean marker
    assert violin.count('class="violin-body"') == 1
    assert violin.count('class="answer-point"') == 5
    assert "<script" not in violin and "http://www.w3.org/2000/svg" in violin
    assert "rect" in histogram_svg({"expert": [1, 1, 2], "non_expert": []}, k_max=5)
    assert "polyline" not in timeline_svg([])


def test_equal_answers_are_drawn_side_by_side():
    svg = violin_svg({"all": [4, 4, 4]}, k_max=10)
    xs = re.findall(r'class="answer-point" cx="([0-9.]+)"', svg)
    assert len(set(xs)) == 3


def test_one_day_of_answers_spreads_over_its_hours():
    morning = datetime(2026, 3, 2, 9, 0)
    times = [morning + timedelta(minutes=m) for m in (0, 5, 60, 240, 480)]
    svg = timeline_svg(times)
    xs = [float(x) for x in re.findall(r'<circle cx="([0-9.]+)"', svg)]
    assert len(xs) == 5 and xs == sorted(xs) and len(set(xs)) == 5
    # the spacing follows the clock: 9:00 -> 9:05 is 1/96 of the span, 9:00 -> 13:00 half
    assert (xs[3] - xs[0]) / (xs[4] - xs[0]) == pytest.approx(0.5, abs=0.01)
    assert "09:00" in svg and "17:00" in svg and "2026-03-02" in svg
    ys = [float(y) for y in re.findall(r'<circle cx="[0-9.]+" cy="([0-9.]+)"', svg)]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == 5  # rises with every answer
