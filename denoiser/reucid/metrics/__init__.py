"""Quality measures against a known clean image: the one metrics module of the project.

Training labels, benchmarks, the survey's simulated crowd and scripts all score with
these functions, so one measure has one definition and one argument order
(``clean`` first, then the estimate).

* :mod:`.image_quality`: PSNR, SSIM, IEF, Pearson and residual correlation.
"""
from __future__ import annotations

from .image_quality import ief, pearson, psnr, quality_metrics, residual_correlation, ssim

__all__ = ["ief", "pearson", "psnr", "quality_metrics", "residual_correlation", "ssim"]
