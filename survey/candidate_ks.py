"""Which k values a question shows (pure numpy, no Django).

The paper showed all 25 truncations. A survey can instead show a few candidates spread
over the range; the adaptive strategy narrows the range around the image's current
consensus once it has enough answers, so later respondents refine it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def spread_ks(available: Sequence[int], *, count: int, low: int, high: int,
              rng: np.random.Generator) -> list[int]:
    """`count` distinct values of `available` spread evenly over ``[low, high]``.

    Each value is drawn from its own stratum of the range, so different respondents see
    different but always well-spread candidates.

    Parameters
    ----------
    available : sequence of int
        The k values that have candidates.
    count : int
        How many to return (fewer if `available` has fewer values).
    low, high : int
        The range to spread over; widened to cover `count` available values if too narrow.
    rng : np.random.Generator
        Source of the per-respondent jitter.

    Returns
    -------
    list of int
        Sorted, distinct k values.

    Examples
    --------
    >>> spread_ks(range(1, 26), count=25, low=1, high=25, rng=np.random.default_rng(0))[:3]
    [1, 2, 3]
    >>> len(spread_ks(range(1, 26), count=6, low=1, high=25, rng=np.random.default_rng(0)))
    6
    """
    values = np.array(sorted(set(int(k) for k in available)))
    if values.size == 0:
        raise ValueError("no candidates are available")
    if count < 1:
        raise ValueError("count must be at least 1")
    count = min(count, values.size)
    low, high = min(low, high), max(low, high)
    window = values[(values >= low) & (values <= high)]
    # Widen a too-narrow window symmetrically so the question still has `count` choices.
    while window.size < count:
        low, high = low - 1, high + 1
        window = values[(values >= low) & (values <= high)]
    edges = np.linspace(0, window.size, count + 1)
    chosen = []
    for start, stop in zip(edges[:-1], edges[1:]):
        first, last = int(np.floor(start)), max(int(np.floor(start)) + 1, int(np.ceil(stop)))
        stratum = [int(k) for k in window[first:last] if int(k) not in chosen]
        if not stratum:
            stratum = [int(k) for k in window if int(k) not in chosen]
        chosen.append(int(rng.choice(stratum)))
    return sorted(chosen)


def adaptive_window(chosen_ks: Sequence[int], *, k_min: int, k_max: int) -> tuple[int, int]:
    """The range to refine: the consensus mean ± 2 standard deviations (at least ± 2).

    Examples
    --------
    >>> adaptive_window([8, 9, 10, 9], k_min=1, k_max=25)
    (7, 11)
    """
    values = np.asarray(chosen_ks, dtype=np.float64)
    if values.size == 0:
        return k_min, k_max
    centre = float(values.mean())
    half_width = max(2.0, 2.0 * float(values.std()))
    low = max(k_min, int(np.floor(centre - half_width)))
    high = min(k_max, int(np.ceil(centre + half_width)))
    return low, high


def choose_ks(available: Sequence[int], *, strategy: str, count: int,
              consensus_ks: Sequence[int] = (), adaptive_after: int = 5,
              rng: np.random.Generator) -> list[int]:
    """The k values one question shows, by survey strategy.

    Parameters
    ----------
    available : sequence of int
        k values that have candidates.
    strategy : {"all", "spread", "adaptive"}
    count : int
        Candidates per question for "spread" and "adaptive".
    consensus_ks : sequence of int
        The k chosen so far for this image (used by "adaptive").
    adaptive_after : int
        "adaptive" narrows the range only once the image has this many answers.
    rng : np.random.Generator

    Examples
    --------
    >>> choose_ks(range(1, 26), strategy="all", count=6, rng=np.random.default_rng(1))[-1]
    25
    >>> ks = choose_ks(range(1, 26), strategy="adaptive", count=4, consensus_ks=[10] * 6,
    ...                rng=np.random.default_rng(1))
    >>> min(ks) >= 8 and max(ks) <= 12
    True
    """
    ks = sorted(set(int(k) for k in available))
    if not ks:
        raise ValueError("no candidates are available")
    if strategy == "all":
        return ks
    if strategy == "spread":
        return spread_ks(ks, count=count, low=ks[0], high=ks[-1], rng=rng)
    if strategy == "adaptive":
        if len(consensus_ks) < adaptive_after:
            return spread_ks(ks, count=count, low=ks[0], high=ks[-1], rng=rng)
        low, high = adaptive_window(consensus_ks, k_min=ks[0], k_max=ks[-1])
        return spread_ks(ks, count=count, low=low, high=high, rng=rng)
    raise ValueError(f"unknown candidate strategy {strategy!r}")
