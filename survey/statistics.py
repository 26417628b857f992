"""Statistics of the chosen k (pure numpy/scipy, no Django).

The paper labels an image's eigenpatches 1..round(mean k) as useful, the mean taken over
all respondents; the expert/non-expert split is reported alongside.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import mannwhitneyu


@dataclass(frozen=True)
class KSummary:
    """Summary of the chosen k of one group; the statistics are None when count is 0."""

    count: int
    mean: float | None
    median: float | None
    std: float | None
    q1: float | None
    q3: float | None
    minimum: int | None
    maximum: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize_ks(ks: Sequence[int]) -> KSummary:
    """Count, mean, median, spread (std, quartiles, range) of chosen k values.

    Examples
    --------
    >>> s = summarize_ks([4, 6, 8])
    >>> (s.count, s.mean, s.median, round(s.std, 3), s.minimum, s.maximum)
    (3, 6.0, 6.0, 1.633, 4, 8)
    >>> summarize_ks([]).mean is None
    True
    """
    values = np.asarray(list(ks), dtype=np.float64)
    if values.size == 0:
        return KSummary(0, None, None, None, None, None, None, None)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return KSummary(
        count=int(values.size), mean=float(values.mean()), median=float(median),
        std=float(values.std()), q1=float(q1), q3=float(q3),
        minimum=int(values.min()), maximum=int(values.max()),
    )


def summarize_by_group(choices: Iterable[tuple[str, int]]) -> dict[str, KSummary]:
    """Summaries for experts, non-experts and all from ``(expertise, k)`` pairs.

    Examples
    --------
    >>> out = summarize_by_group([("expert", 5), ("expert", 7), ("non_expert", 12)])
    >>> out["expert"].mean, out["non_expert"].count, out["all"].mean
    (6.0, 1, 8.0)
    """
    grouped: dict[str, list[int]] = {"expert": [], "non_expert": [], "all": []}
    for expertise, k in choices:
        if expertise in grouped:
            grouped[expertise].append(int(k))
        grouped["all"].append(int(k))
    return {group: summarize_ks(values) for group, values in grouped.items()}


def agreement(ks_by_group: Mapping[str, Sequence[int]], *, tolerance: int = 2) -> dict:
    """How much respondents agree.

    Returns the fraction of all answers within ``±tolerance`` of the overall median, the
    difference of group means (experts − non-experts) and a two-sided Mann–Whitney U test
    of experts against non-experts (``p_value`` None with fewer than 2 answers per group).

    Examples
    --------
    >>> a = agreement({"expert": [5, 6, 7], "non_expert": [5, 6, 20]})
    >>> round(a["within_tolerance"], 3), a["mean_difference"]
    (0.833, -4.333333333333334)
    """
    experts = np.asarray(ks_by_group.get("expert", ()), dtype=np.float64)
    others = np.asarray(ks_by_group.get("non_expert", ()), dtype=np.float64)
    everyone = np.concatenate([experts, others])
    result: dict = {"tolerance": tolerance, "within_tolerance": None,
                    "mean_difference": None, "p_value": None}
    if everyone.size:
        median = float(np.median(everyone))
        result["within_tolerance"] = float(np.mean(np.abs(everyone - median) <= tolerance))
    if experts.size and others.size:
        result["mean_difference"] = float(experts.mean() - others.mean())
    if experts.size >= 2 and others.size >= 2:
        if np.ptp(everyone) > 0:
            result["p_value"] = float(mannwhitneyu(experts, others).pvalue)
        else:
            result["p_value"] = 1.0
    return result


def useful_mask(mean_k: float, n_components: int) -> np.ndarray:
    """The label: eigenpatches 1..round(mean k) are useful, the rest are not.

    Rounds half up (the paper's "round"), so a mean of 6.5 keeps 7 eigenpatches.

    Examples
    --------
    >>> useful_mask(2.5, 5).tolist()
    [True, True, True, False, False]
    """
    if n_components < 1:
        raise ValueError("n_components must be at least 1")
    keep = int(np.floor(float(mean_k) + 0.5))
    keep = min(max(keep, 1), n_components)
    mask = np.zeros(n_components, dtype=bool)
    mask[:keep] = True
    return mask


# ---- Robust aggregation: who counts how much (issue 16) ----

#: Distance from an image's consensus (in robust standard deviations) up to which an answer
#: counts fully; beyond it the weight falls smoothly (a biweight taper) ...
FULL_WEIGHT_UP_TO = 2.0
#: ... to its floor at this distance and beyond.
FLOOR_FROM = 6.0
#: Nobody's answers vanish by arithmetic alone (only staff exclusion or a failed attention
#: check leave them out): the far-from-consensus weight never drops below this.
WEIGHT_FLOOR = 0.05
#: Joined through a staff invitation: a verified expert's answers count double.
VERIFIED_WEIGHT = 2.0
#: Picked the raw noisy image in an attention check (when such answers are not left out).
FAILED_ATTENTION_WEIGHT = 0.25
#: An image needs this many answers before a consensus is taken from it.
MIN_ANSWERS_FOR_CONSENSUS = 3
#: Rounds of reweighting (the consensus is re-estimated with the new weights each round).
ROUNDS = 5


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def consensus_factor(distance: float) -> float:
    """The weight an answer keeps at this distance from the consensus.

    Examples
    --------
    >>> [round(consensus_factor(d), 3) for d in (0.0, 2.0, 4.0, 6.0, 20.0)]
    [1.0, 1.0, 0.562, 0.05, 0.05]
    """
    if distance <= FULL_WEIGHT_UP_TO:
        return 1.0
    if distance >= FLOOR_FROM:
        return WEIGHT_FLOOR
    taper = (1.0 - ((distance - FULL_WEIGHT_UP_TO) / (FLOOR_FROM - FULL_WEIGHT_UP_TO)) ** 2) ** 2
    return max(WEIGHT_FLOOR, taper)


def consensus_distances(answers: Iterable[tuple[object, object, int]],
                        weights: Mapping[object, float] | None = None) -> dict[object, float]:
    """How far each respondent sits from the consensus, in robust standard deviations.

    For every image with at least ``MIN_ANSWERS_FOR_CONSENSUS`` answers the consensus is the
    (weighted) median k and the spread 1.4826 × the (weighted) median absolute deviation,
    at least 1 (one step of k). With ``d = (k − consensus) / spread`` per answer, a
    respondent's distance is the larger of the median of ``|d|`` (answers far off) and
    ``|mean d| × sqrt(n)`` over their ``n`` answers (answers off *to one side*, every
    time: about 1 for an honest respondent whatever ``n``, growing with ``n`` for one who
    always picks the largest or the smallest k, even when each answer alone is within
    the honest spread). Respondents with no answer on such an image get 0.

    Parameters
    ----------
    answers : iterable of (respondent, image, k)
    weights : mapping respondent -> weight, optional
        Weights of the medians (default 1 each).

    Examples
    --------
    >>> d = consensus_distances([("a", 1, 5), ("b", 1, 6), ("c", 1, 6), ("x", 1, 25)])
    >>> d["a"], d["b"], d["x"]
    (1.0, 0.0, 19.0)
    """
    weights = weights or {}
    by_image: dict[object, list[tuple[object, int]]] = {}
    for respondent, image, k in answers:
        by_image.setdefault(image, []).append((respondent, int(k)))
    scores: dict[object, list[float]] = {}
    for rows in by_image.values():
        for respondent, _ in rows:
            scores.setdefault(respondent, [])
        if len(rows) < MIN_ANSWERS_FOR_CONSENSUS:
            continue
        ks = np.asarray([k for _, k in rows], dtype=np.float64)
        w = np.asarray([weights.get(respondent, 1.0) for respondent, _ in rows])
        if w.sum() <= 0:
            w = np.ones_like(ks)
        median = _weighted_median(ks, w)
        spread = max(1.4826 * _weighted_median(np.abs(ks - median), w), 1.0)
        for respondent, k in rows:
            scores[respondent].append((k - median) / spread)
    return {respondent: _distance(values) for respondent, values in scores.items()}


def _distance(deviations: list[float]) -> float:
    """Far off (median ``|d|``) or off to one side (``|mean d| sqrt(n)``), the larger."""
    if not deviations:
        return 0.0
    values = np.asarray(deviations, dtype=np.float64)
    one_sided = abs(float(values.mean())) * np.sqrt(len(values))
    return max(float(np.median(np.abs(values))), one_sided)


def respondent_weights(
    answers: Iterable[tuple[object, object, int]], *, verified: Iterable = (),
    failed_attention: Iterable = (),
) -> dict[object, float]:
    """The weight of each respondent's answers in the label.

    A prior of ``VERIFIED_WEIGHT`` for invited (verified) experts and
    ``FAILED_ATTENTION_WEIGHT`` for respondents who picked the raw noisy image (1 otherwise),
    times :func:`consensus_factor` of their distance from the consensus; the consensus is
    re-estimated with these weights for ``ROUNDS`` rounds, so a minority of stuffed votes
    cannot drag the median and spread it is judged by. Self-declared expertise changes
    nothing: anyone can declare it. A majority of stuffed votes *is* the consensus: the
    join throttle, invitations and staff exclusion are the defences there.

    Examples
    --------
    >>> honest = [(f"h{i}", 1, 5 + i % 3) for i in range(7)]
    >>> stuffed = [(f"s{i}", 1, 25) for i in range(6)]
    >>> w = respondent_weights(honest + stuffed, verified={"h0"})
    >>> w["h0"], w["h1"], w["s0"]
    (2.0, 1.0, 0.05)
    """
    answers = list(answers)
    verified, failed = set(verified), set(failed_attention)
    prior = {}
    for respondent, _, _ in answers:
        weight = VERIFIED_WEIGHT if respondent in verified else 1.0
        prior[respondent] = weight * (FAILED_ATTENTION_WEIGHT if respondent in failed else 1.0)
    weights = dict(prior)
    for _ in range(ROUNDS):
        distances = consensus_distances(answers, weights)
        updated = {r: prior[r] * consensus_factor(distances.get(r, 0.0)) for r in prior}
        if updated == weights:
            break
        weights = updated
    return weights


def weighted_label(ks: Sequence[int], weights: Sequence[float], *, tolerance: int = 2) -> dict:
    """The weighted mean k (the label's source) and how much the weighted answers agree.

    Returns ``mean`` (None without weight), ``unweighted_mean``, ``within_tolerance``
    (share of the weight within ±tolerance of the weighted median), ``n_effective``
    (Kish's effective number of respondents, (Σw)²/Σw²) and ``downweighted`` (answers
    counting less than half an ordinary one).

    Examples
    --------
    >>> out = weighted_label([6, 6, 25], [2.0, 1.0, 0.25])
    >>> round(out["mean"], 2), round(out["unweighted_mean"], 2), round(out["n_effective"], 2)
    (7.46, 12.33, 2.09)
    """
    values = np.asarray(list(ks), dtype=np.float64)
    w = np.asarray(list(weights), dtype=np.float64)
    result = {"mean": None, "unweighted_mean": None, "within_tolerance": None,
              "n_effective": 0.0, "downweighted": int(np.sum(w < 0.5)), "tolerance": tolerance}
    if values.size:
        result["unweighted_mean"] = float(values.mean())
    total = float(w.sum())
    if values.size == 0 or total <= 0:
        return result
    median = _weighted_median(values, w)
    result["mean"] = float(np.sum(w * values) / total)
    result["within_tolerance"] = float(w[np.abs(values - median) <= tolerance].sum() / total)
    result["n_effective"] = float(total ** 2 / float(np.sum(w ** 2)))
    return result
