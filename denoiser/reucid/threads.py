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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["map_in_threads", "single_threaded", "single_threaded_blas", "worker_count",
           "worker_pool"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


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


def worker_pool(max_workers: int | None = None) -> ThreadPoolExecutor:
    """A thread pool for independent small problems, each worker on one OpenMP thread.

    OpenMP's thread count is a per-thread setting: :func:`single_threaded` lowers it on
    the calling thread only, and a new worker starts at the machine's default. torch's
    LAPACK (:func:`denoiser.reucid.linalg.symmetric_eigh`) then spreads each small
    eigenproblem over every core from every worker at once (measured on 2 cores: two
    workers solving 81 x 81 problems ran 1.25 times faster than one instead of 1.8).

    Parameters
    ----------
    max_workers : int, optional
        Threads (default :func:`worker_count`).

    Examples
    --------
    >>> with worker_pool(2) as pool:
    ...     list(pool.map(abs, [-1, -2]))
    [1, 2]
    """
    return ThreadPoolExecutor(max_workers=max_workers or worker_count(),
                              initializer=_one_openmp_thread_here)


def _one_openmp_thread_here() -> None:
    """Limit OpenMP to one thread on the calling (worker) thread, for its lifetime."""
    controller = _controller()
    if controller is not None:
        # not restored: the setting belongs to this worker thread and ends with it
        controller.limit(limits=1, user_api="openmp")


def map_in_threads(function: Callable[[_Item], _Result], items: Iterable[_Item]
                   ) -> list[_Result]:
    """``[function(item) for item in items]``, the items side by side on :func:`worker_count`
    threads (numpy releases the GIL in its large loops); one item runs here, without a pool.

    Examples
    --------
    >>> map_in_threads(lambda x: x * x, range(4)), map_in_threads(abs, [-2])
    ([0, 1, 4, 9], [2])
    """
    work = list(items)
    if len(work) <= 1:
        return [function(item) for item in work]
    with worker_pool() as pool:
        return list(pool.map(function, work))


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
