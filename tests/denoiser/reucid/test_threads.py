"""Worker threads: one OpenMP thread each, and results that do not depend on the cores."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from denoiser.reucid import denoise
from denoiser.reucid.linalg import symmetric_eigh
from denoiser.reucid.threads import map_in_threads, single_threaded, worker_count, worker_pool

from benchmarks.speed import speed_input

ROOT = Path(__file__).resolve().parents[3]
needs_two_cores = pytest.mark.skipif(
    worker_count() < 2, reason="needs at least two cores to run workers side by side")


def _gram(seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(490, 81)).astype(np.float32)
    return (rows.T @ rows).astype(np.float64)


@needs_two_cores
def test_every_worker_of_a_pool_runs_openmp_on_one_thread() -> None:
    # both workers must take a task: each waits for the other at the barrier
    barrier = threading.Barrier(2, timeout=30)

    def openmp_threads(_: int) -> tuple[str, int]:
        barrier.wait()
        return threading.current_thread().name, torch.get_num_threads()

    with worker_pool(2) as pool:
        seen = dict(pool.map(openmp_threads, range(2)))
    assert len(seen) == 2
    assert set(seen.values()) == {1}


@needs_two_cores
def test_an_eigenproblem_solved_in_a_worker_equals_the_single_threaded_one() -> None:
    # torch's LAPACK rounds differently on more threads: a worker left at the machine's
    # default made the default method's output depend on the number of cores
    gram = _gram()
    with single_threaded():
        values, vectors = symmetric_eigh(gram)
        with worker_pool(2) as pool:
            solved = [future.result() for future in
                      [pool.submit(symmetric_eigh, gram) for _ in range(4)]]
    for worker_values, worker_vectors in solved:
        assert np.array_equal(worker_values, values)
        assert np.array_equal(worker_vectors, vectors)


def test_map_in_threads_keeps_the_order_of_the_items() -> None:
    assert map_in_threads(lambda x: x * x, range(10)) == [x * x for x in range(10)]


_ONE_CORE_RUN = """
import os, sys
import numpy as np
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from denoiser.reucid import denoise
image = np.load(sys.argv[1])
np.save(sys.argv[2], denoise(image, seed=3).image)
"""


@needs_two_cores
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_the_default_gives_the_same_bytes_on_one_core_and_on_all(tmp_path: Path) -> None:
    # the speed benchmark's 256² SrTiO3 (built-in simulator): on smaller or cleaner images
    # the cores' rounding did not reach the output
    noisy, _ = speed_input(256)
    np.save(tmp_path / "noisy.npy", noisy)
    # one core from the start: the process's thread pools are sized when they load
    subprocess.run([sys.executable, "-c", _ONE_CORE_RUN, str(tmp_path / "noisy.npy"),
                    str(tmp_path / "one_core.npy")], check=True, cwd=ROOT, timeout=300,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    on_all = denoise(noisy, seed=3).image
    assert worker_count() >= 2
    assert on_all.tobytes() == np.load(tmp_path / "one_core.npy").tobytes()
