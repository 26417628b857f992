"""Small dense linear algebra shared by the methods: the ``p² x p²`` eigenproblems.

The default method solves a few hundred symmetric eigenproblems of ``p² x p²``
(81 x 81 for 9-px patches) per image: one per group and pass, and one per group of
the noise model. numpy's LAPACK (OpenBLAS) solves them about 30 % slower than the
LAPACK that torch ships (MKL on x86), and on small images they are the largest single
cost, so they go through torch. Both are exact eigensolvers: the choice changes run
time and rounding, not the decomposition.
"""
from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

__all__ = ["symmetric_eigh"]


def symmetric_eigh(matrix: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric matrix.

    Like :func:`numpy.linalg.eigh` (float64, lower triangle used), solved by torch's LAPACK.
    A stack ``(..., d, d)`` gives ``(..., d)`` values and ``(..., d, d)`` vectors.

    Examples
    --------
    >>> values, vectors = symmetric_eigh([[2.0, 1.0], [1.0, 2.0]])
    >>> np.round(values, 12).tolist()
    [1.0, 3.0]
    >>> bool(np.allclose(vectors @ np.diag(values) @ vectors.T, [[2.0, 1.0], [1.0, 2.0]]))
    True
    """
    data = np.ascontiguousarray(matrix, dtype=np.float64)
    if data.ndim < 2 or data.shape[-1] != data.shape[-2]:
        raise ValueError(f"need a square matrix, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise np.linalg.LinAlgError("the matrix holds NaN or infinity")
    values, vectors = torch.linalg.eigh(torch.from_numpy(data))
    return values.numpy(), vectors.numpy()
