"""Robust aggregation of survey answers: who counts how much in an image's label."""
from __future__ import annotations

import numpy as np
import pytest

from survey.statistics import (
    WEIGHT_FLOOR,
    consensus_distances,
    respondent_weights,
    weighted_label,
)

N_IMAGES = 8
CANDIDATE_KS = (1, 12)  # the default method's survey candidates keep 1..12 per group


def honest_crowd(seed: int, n_respondents: int = 30) -> list[tuple[str, int, int]]:
    """Answers scattered around each image's best k, as the simulated crowd's are."""
    rng = np.random.default_rng(seed)
    best = rng.integers(4, 9, N_IMAGES)
    answers = []
    for respondent in range(n_respondents):
        spread = 1.7 if respondent < n_respondents // 3 else 2.2
        for image, k in enumerate(best):
            chosen = int(np.clip(round(k + rng.normal(0.0, spread)), *CANDIDATE_KS))
            answers.append((f"h{respondent}", image, chosen))
    return answers


def labels(answers):
    weights = respondent_weights(answers)
    out = {}
    for image in sorted({a[1] for a in answers}):
        rows = [(r, k) for r, i, k in answers if i == image]
        out[image] = weighted_label([k for _, k in rows], [weights[r] for r, _ in rows])["mean"]
    return out, weights


@pytest.mark.parametrize("seed", range(4))
def test_a_fifth_who_always_pick_the_largest_k_move_no_label_by_more_than_one(seed):
    honest = honest_crowd(seed)
    stuffers = [(f"a{r}", image, CANDIDATE_KS[1]) for r in range(8) for image in range(N_IMAGES)]
    before, _ = labels(honest)
    after, weights = labels(honest + stuffers)
    assert max(abs(after[i] - before[i]) for i in before) <= 1.0
    assert all(weights[f"a{r}"] == WEIGHT_FLOOR for r in range(8))


@pytest.mark.parametrize("seed", range(4))
def test_honest_respondents_keep_nearly_all_their_weight(seed):
    _, weights = labels(honest_crowd(seed))
    assert np.mean([w for w in weights.values()]) > 0.95
    assert min(weights.values()) > 0.5


def test_answers_off_to_one_side_every_time_count_as_far_even_within_the_spread():
    # x's answers lie inside the honest range (4..8) on every image, but always two steps
    # above the consensus; the honest respondents scatter to both sides
    offsets = (-2, -1, 0, 0, 1, 2)
    answers = []
    for image in range(12):
        answers += [(f"h{i}", image, 6 + offsets[(i + image) % 6]) for i in range(6)]
        answers.append(("x", image, 8))
    distances = consensus_distances(answers)
    assert distances["x"] >= 3.0
    assert max(distances[f"h{i}"] for i in range(6)) < 2.0


def test_a_single_answer_is_judged_by_its_distance_alone():
    distances = consensus_distances([("a", 1, 5), ("b", 1, 6), ("c", 1, 6), ("x", 1, 25)])
    assert (distances["a"], distances["b"], distances["x"]) == (1.0, 0.0, 19.0)
