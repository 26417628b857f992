"""The RAM estimate gives the number of stacks."""
from __future__ import annotations

import pytest

from denoiser.reucid.paper.memory import estimate_n_stacks, patch_matrix_bytes


def test_memory_estimate_splits_only_what_does_not_fit():
    needed = patch_matrix_bytes((512, 512), 15)
    assert estimate_n_stacks((512, 512), 15, memory_budget=needed) == 1
    assert estimate_n_stacks((512, 512), 15, memory_budget=(2 * needed) // 5) == 3
    assert estimate_n_stacks((512, 512), 15) >= 1
    with pytest.raises(ValueError):
        estimate_n_stacks((512, 512), 15, memory_budget=0)
