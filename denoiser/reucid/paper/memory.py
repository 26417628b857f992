"""How many workload divisions (stacks) the patch matrix needs (Algorithm 1, step 2)."""
from __future__ import annotations

import math

__all__ = ["DEFAULT_MEMORY_FRACTION", "DEFAULT_MIN_BUDGET_BYTES", "available_memory_bytes",
           "estimate_n_stacks", "patch_matrix_bytes"]

#: Share of the currently available memory the patch matrix may use by default.
DEFAULT_MEMORY_FRACTION = 0.25
#: Floor of the default budget: the fast path never builds the patch matrix, so a busy
#: server should not split a 1024 x 1024 image into stacks (slower, different result).
DEFAULT_MIN_BUDGET_BYTES = 1024**3
_FALLBACK_AVAILABLE_BYTES = 2 * 1024**3


def patch_matrix_bytes(shape: tuple[int, int], patch_size: int, *, itemsize: int = 4) -> int:
    """Bytes of the full patch matrix: ``(m-p+1)(n-p+1) p^2`` values of ``itemsize`` bytes.

    Examples
    --------
    >>> patch_matrix_bytes((256, 256), 15)
    52707600
    """
    m, n = shape
    p = int(patch_size)
    return (m - p + 1) * (n - p + 1) * p * p * int(itemsize)


def available_memory_bytes() -> int:
    """Memory available right now (psutil), or 2 GiB where that cannot be measured.

    Examples
    --------
    >>> available_memory_bytes() > 0
    True
    """
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        return _FALLBACK_AVAILABLE_BYTES


def estimate_n_stacks(
    shape: tuple[int, int],
    patch_size: int,
    *,
    memory_budget: int | None = None,
    itemsize: int = 4,
) -> int:
    """Number ``d`` of stacks so that one stack's patch matrix fits the memory budget.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(m, n)``.
    patch_size : int
        Patch side ``p``.
    memory_budget : int, optional
        Bytes one stack's patch matrix may take; default: a quarter of the memory
        available now, but at least 1 GiB.
    itemsize : int, optional
        Bytes per value at the working precision (4 for float32).

    Returns
    -------
    int
        ``d >= 1``, never more than the number of patch positions.

    Examples
    --------
    >>> estimate_n_stacks((1024, 1024), 15, memory_budget=256 * 1024**2)
    4
    """
    if memory_budget is None:
        memory_budget = max(int(available_memory_bytes() * DEFAULT_MEMORY_FRACTION),
                            DEFAULT_MIN_BUDGET_BYTES)
    if memory_budget <= 0:
        raise ValueError(f"memory_budget must be positive, got {memory_budget}")
    m, n = shape
    n_positions = (m - patch_size + 1) * (n - patch_size + 1)
    needed = patch_matrix_bytes(shape, patch_size, itemsize=itemsize)
    return int(min(max(1, math.ceil(needed / memory_budget)), max(1, n_positions)))
