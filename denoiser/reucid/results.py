"""What both methods return: a result with the image and its explanation, and progress.

Each method has its own result type, with what that method did
(:class:`~denoiser.reucid.paper.PaperResult`: stacks;
:class:`~denoiser.reucid.grouped.GroupedResult`: groups and passes); both share the
fields here, so a caller that only wants the image and the timings needs no branch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DenoiseResult", "Progress"]


@dataclass
class DenoiseResult:
    """The denoised image and what every method records about it.

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float32 denoised image.
    method : str
        ``"paper"`` (Algorithm 1) or ``"best"`` (the default grouped method).
    patch_size : int
        Patch side ``p``.
    patch_size_method : str
        How ``p`` was chosen (``"given"``, ``"first-minimum"``, ``"first-inflexion"``...).
    classifier : str
        Name of the selection rule or model that chose the eigenpatches.
    seed : int or None
        Seed of every random choice of the run.
    timings : dict
        Seconds per phase, and ``total``.
    options : dict
        The method's options as run (JSON-able).
    """

    image: NDArray[np.float32]
    method: str
    patch_size: int
    patch_size_method: str
    classifier: str
    seed: int | None
    timings: dict[str, float]
    options: dict[str, Any] = field(default_factory=dict)

    def common_metadata(self) -> dict[str, Any]:
        """JSON-able fields every method has."""
        return {
            "algorithm": "REUCID",
            "method": self.method,
            "patch_size": self.patch_size,
            "patch_size_method": self.patch_size_method,
            "classifier": self.classifier,
            "seed": self.seed,
            "shape": [int(v) for v in self.image.shape],
            "options": self.options,
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
        }


@dataclass
class Progress:
    """The estimate so far, after one unit of work (a stack, or a group of a pass).

    Attributes
    ----------
    image : numpy.ndarray
        ``(m, n)`` float32 estimate so far; pixels not reached yet show the input (or
        the previous pass).
    step, n_steps : int
        Units of work done (1-based) and in all.
    stage : str
        Where the run is, in words (``"stack 2 of 8"``, ``"pass 1 of 2, group 40 of 101"``).
    final : DenoiseResult or None
        The result, on the last progress report only.
    """

    image: NDArray[np.float32]
    step: int
    n_steps: int
    stage: str
    final: DenoiseResult | None = None

    @property
    def fraction_done(self) -> float:
        """Share of the work done."""
        return self.step / max(self.n_steps, 1)
