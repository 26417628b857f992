"""Train/validation split that keeps every image's eigenpatches on one side."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_split(
    groups: Sequence[str] | np.ndarray,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split examples by group (image) so no group lands in both halves.

    Whole groups are shuffled and assigned to the test side until it holds about
    ``test_fraction`` of the examples; with two or more groups both sides get at least
    one group.

    Parameters
    ----------
    groups
        Group key (image id) per example.
    test_fraction
        Target share of examples on the test side (0 < f < 1).
    seed
        Seed of the shuffle.

    Returns
    -------
    train, test
        Boolean masks over the examples; they are disjoint and cover everything.

    Examples
    --------
    >>> train, test = group_split(["a", "a", "b", "b", "c", "d", "e"], seed=0)
    >>> bool((train ^ test).all()), int(test.sum()) >= 1
    (True, True)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must lie strictly between 0 and 1")
    keys = np.asarray(groups).astype(str)
    if keys.ndim != 1 or keys.size == 0:
        raise ValueError("need a non-empty 1D sequence of group keys")
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    if unique.size < 2:
        raise ValueError("a grouped split needs at least two images")
    order = np.random.default_rng(seed).permutation(unique.size)
    target = test_fraction * keys.size
    test_groups = np.zeros(unique.size, bool)
    taken = 0
    for index in order:
        if taken >= target or test_groups.sum() == unique.size - 1:
            break
        test_groups[index] = True
        taken += counts[index]
    if not test_groups.any():
        test_groups[order[0]] = True
    test = test_groups[inverse]
    return ~test, test
