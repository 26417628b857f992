"""Keep BLAS single-threaded around the small dense linear algebra of the SVD step.

The Gram matrices and sketches here are a few hundred columns wide; multithreaded
OpenBLAS gains nothing on them and, on a loaded machine, spinning threads make them
ten times slower. FFTs keep their own ``workers``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

__all__ = ["single_threaded_blas"]


@lru_cache(maxsize=1)
def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it BLAS keeps its default threads
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Context manager limiting BLAS/LAPACK to one thread (no-op without threadpoolctl).

    Examples
    --------
    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float(np.linalg.eigvalsh(np.eye(3)).sum())
    3.0
    """
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
