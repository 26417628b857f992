"""Statistics of the chosen k (pure numpy/scipy, no Django).

The paper labels an image's eigenpatches 1..round(mean k) as useful, the mean taken over
all respondents; the expert/non-expert split is reported alongside.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

GROUPS = ("expert", "non_expert", "all")


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
        from scipy.stats import mannwhitneyu

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
