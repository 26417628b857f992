"""Threads: single-threaded BLAS around small dense computations, many of them at once.

The Gram matrices and sketches of the SVD step are a few hundred columns wide, and a
CNN classifier sees a few dozen 25x25 images; multithreaded OpenBLAS or OpenMP (torch)
gains nothing on them and, on a loaded machine, spinning threads make them ten times
slower. FFTs keep their own ``workers``. Many independent small problems (the groups
of the default method) instead run side by side, one BLAS thread each
(:func:`worker_count`; numpy releases the GIL inside BLAS and LAPACK).
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["single_threaded", "single_threaded_blas", "worker_count"]


def worker_count() -> int:
    """Threads for independent small problems: the cores this process may use.

    Examples
    --------
    >>> worker_count() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _controller() -> Any:
    """A threadpoolctl controller that knows the libraries loaded so far.

    A controller only sees the thread pools of libraries loaded before it was made
    (torch's OpenMP arrives with the CNN), so it is rebuilt whenever new modules load.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the pools keep their default threads
        return None
    fingerprint = len(sys.modules)
    cached = _CACHE.get("controller")
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, ThreadpoolController())
        _CACHE["controller"] = cached
    return cached[1]


_CACHE: dict[str, tuple[int, Any]] = {}


@contextlib.contextmanager
def single_threaded(user_api: str | None = None) -> Iterator[None]:
    """Context manager limiting BLAS and OpenMP pools (or one ``user_api``) to one thread.

    A no-op where threadpoolctl is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> with single_threaded():
    ...     float(np.ones(4).sum())
    4.0
    """
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api=user_api):
        yield


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
    with single_threaded("blas"):
        yield
