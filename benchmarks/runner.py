"""Run registered methods on one input, catching what a benchmark must survive."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.methods import Method, MethodContext, MethodUnavailable

__all__ = ["MethodOutcome", "RowBudget", "cpu_timed", "run_method"]


@dataclass(frozen=True)
class MethodOutcome:
    """What one method did on one image.

    Attributes
    ----------
    estimate : numpy.ndarray or None
        The output, ``None`` when the method did not run.
    seconds : float
        Wall time of the call.
    status : str
        ``"ok"``, ``"not available: ..."`` or ``"failed: ..."``.
    note : str
        What the method chose, when it says (e.g. the oracle's parameter).
    """

    estimate: NDArray[np.float64] | None
    seconds: float
    status: str
    note: str = ""

    @property
    def ok(self) -> bool:
        """Whether the method produced an estimate."""
        return self.estimate is not None


class RowBudget:
    """Seconds each row may spend over a whole benchmark run.

    A row past its budget is reported "not run (time budget)" on the remaining
    images, so one slow method cannot push the run past its time limit.

    Examples
    --------
    >>> budget = RowBudget(1.0)
    >>> budget.spend("slow", 2.0)
    >>> budget.exhausted("slow"), budget.exhausted("fast")
    (True, False)
    """

    def __init__(self, seconds_per_row: float | None) -> None:
        self.seconds_per_row = seconds_per_row
        self.spent: dict[str, float] = {}

    def spend(self, name: str, seconds: float) -> None:
        """Charge ``seconds`` to row ``name``."""
        self.spent[name] = self.spent.get(name, 0.0) + seconds

    def exhausted(self, name: str) -> bool:
        """Whether row ``name`` has used up its budget."""
        if self.seconds_per_row is None:
            return False
        return self.spent.get(name, 0.0) >= self.seconds_per_row

    def run(self, method: Method, noisy: NDArray[np.float64], context: MethodContext
            ) -> MethodOutcome:
        """:func:`run_method` within the budget."""
        if self.exhausted(method.name):
            spent = self.spent[method.name]
            return MethodOutcome(None, 0.0, f"not run (time budget: the row spent {spent:.0f} s "
                                 f"of {self.seconds_per_row:.0f} s)")
        outcome = run_method(method, noisy, context)
        self.spend(method.name, outcome.seconds)
        return outcome


def cpu_timed(estimate: Callable[[NDArray[np.float64], Any], NDArray[np.float64]],
              noisy: NDArray[np.float64], case: Any) -> tuple[NDArray[np.float64], float]:
    """``estimate(copy of noisy, case)`` and the CPU seconds it took (``process_time``).

    CPU time rather than wall time, so tables made on a shared machine stay comparable.

    Examples
    --------
    >>> image = np.ones((4, 4))
    >>> out, seconds = cpu_timed(lambda x, c: x * 2, image, None)
    >>> float(out.sum()), image.sum() == 16, seconds >= 0
    (32.0, np.True_, True)
    """
    tick = time.process_time()
    result = estimate(np.array(noisy, dtype=np.float64), case)
    return result, time.process_time() - tick


def run_method(method: Method, noisy: NDArray[np.float64], context: MethodContext) -> MethodOutcome:
    """Run ``method`` on a copy of ``noisy``; a failure becomes a status, not an exception.

    A method returns the estimate, or ``(estimate, note)`` to report what it chose.

    Parameters
    ----------
    method : Method
    noisy : numpy.ndarray
    context : MethodContext

    Returns
    -------
    MethodOutcome

    Examples
    --------
    >>> from benchmarks.methods import Method
    >>> from denoiser.reucid.noise import PoissonGaussianNoise
    >>> broken = Method("broken", lambda noisy, *, context: 1 / 0)
    >>> run_method(broken, np.ones((2, 2)), MethodContext(noise=PoissonGaussianNoise())).status
    'failed: ZeroDivisionError: division by zero'
    """
    reason = method.available()
    if reason:
        return MethodOutcome(None, 0.0, f"not available: {reason}")
    if method.needs_ground_truth and context.clean is None:
        return MethodOutcome(None, 0.0, "not available: needs ground truth")
    original = np.array(noisy, dtype=np.float64, copy=True)
    start = time.perf_counter()
    try:
        estimate = method.run(original.copy(), context=context)
    except MethodUnavailable as error:
        return MethodOutcome(None, time.perf_counter() - start, f"not available: {error}")
    except Exception as error:  # noqa: BLE001 - one broken row must not stop the benchmark
        return MethodOutcome(
            None, time.perf_counter() - start, f"failed: {type(error).__name__}: {error}"
        )
    seconds = time.perf_counter() - start
    note = ""
    if isinstance(estimate, tuple):
        estimate, note = estimate
    estimate = np.asarray(estimate, dtype=np.float64)
    if estimate.shape != original.shape:
        return MethodOutcome(
            None, seconds, f"failed: output shape {estimate.shape} != input {original.shape}"
        )
    if not np.all(np.isfinite(estimate)):
        return MethodOutcome(None, seconds, "failed: output has NaN or infinite values")
    return MethodOutcome(estimate, seconds, "ok", str(note))
