"""Quality measures against a known clean image: the one metrics module of the project.

Training labels, benchmarks, the survey's simulated crowd and scripts all score with
these functions, so one measure has one definition and one argument order
(``clean`` first, then the estimate).

* :mod:`.image_quality`: PSNR, SSIM, IEF, Pearson and residual correlation;
* :mod:`.fidelity`: what microscopists measure per atomic column (defect contrast,
  integrated intensities, fitted positions, displacements) and residual stripes.
"""
from __future__ import annotations

from .fidelity import fidelity_metrics, fit_gaussian_columns, stripe_anisotropy
from .image_quality import ief, pearson, psnr, quality_metrics, residual_correlation, ssim

__all__ = ["fidelity_metrics", "fit_gaussian_columns", "ief", "pearson", "psnr",
           "quality_metrics", "residual_correlation", "ssim", "stripe_anisotropy"]
