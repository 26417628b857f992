"""The residual divided by the noise model's sigma: what the job page shows and measures.

A Poisson residual is not uniform: bright columns carry more shot noise than the
background, so the raw residual (input − output) shows the lattice in its *variance*
even when only noise was removed. Divided, pixel by pixel, by the standard deviation the
noise model predicts at the output's value,
``sigma(x)² = gain * max(x - dark level, 0) + read noise²``, pure noise becomes uniform
with a standard deviation of about 1, so a lattice or an edge left in the picture is
structure the denoiser removed, and the caption's promise holds.

Computed on first view of a finished job that has a noise model (the best method
estimates one) from ``input.npy`` and ``result.npy``, and kept in the job folder.
"""
from __future__ import annotations

import json

import numpy as np
from django.conf import settings

from . import job_files
from .rendering import diverging_rgb, downsample_for_display, save_png

#: Colour scale of the normalised residual: +-3 sigma (0.3 % of pure noise is clipped).
LIMIT_SIGMA = 3.0


def noise_model_of(job) -> dict | None:
    """The job's estimated noise model (``gain``, ``sigma``, ``offset``), or None."""
    options = ((job.diagnostics or {}).get("core") or {}).get("options") or {}
    model = options.get("noise_model")
    try:
        return {key: float(model[key]) for key in ("gain", "sigma", "offset")}
    except (TypeError, KeyError, ValueError):
        return None


def normalised_residual(image: np.ndarray, output: np.ndarray, model: dict) -> np.ndarray:
    """``(input - output) / sigma(output)`` under a Poisson–Gaussian model.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = np.full((200, 200), 100.0); clean[:, 100:] = 10000.0
    >>> noisy = rng.poisson(clean).astype(float)
    >>> r = normalised_residual(noisy, clean, {"gain": 1.0, "sigma": 0.0, "offset": 0.0})
    >>> round(float(r[:, :100].std()), 1), round(float(r[:, 100:].std()), 1)
    (1.0, 1.0)
    """
    output = np.asarray(output, dtype=np.float64)
    variance = model["gain"] * np.maximum(output - model["offset"], 0.0) + model["sigma"] ** 2
    # a pixel predicted noiseless (dark, no read noise) would divide by zero: floor it
    # at the variance of one counted electron
    floor = max(model["gain"] ** 2, np.finfo(np.float32).tiny)
    return ((np.asarray(image, dtype=np.float64) - output)
            / np.sqrt(np.maximum(variance, floor))).astype(np.float32)


def normalised_summary(job) -> dict | None:
    """``{"std": ..., "limit": 3.0}`` for a finished job with a noise model, writing the
    preview picture the first time; None when the job has no noise model or files."""
    model = noise_model_of(job)
    if model is None:
        return None
    stats_path = job_files.job_path(job, job_files.RESIDUAL_NORMALISED_JSON)
    picture = job_files.job_path(job, job_files.RESIDUAL_NORMALISED_PREVIEW)
    if stats_path.is_file() and picture.is_file():
        try:
            return json.loads(stats_path.read_text())
        except ValueError:
            pass
    try:
        image = np.load(job_files.job_path(job, job_files.INPUT_NPY), allow_pickle=False)
        output = np.load(job_files.job_path(job, job_files.RESULT_NPY), allow_pickle=False)
    except (OSError, ValueError):
        return None
    residual = normalised_residual(image, output, model)
    side = int(getattr(settings, "REUCID_PREVIEW_MAX_SIDE", 1024))
    preview = downsample_for_display(residual, max_side=side)
    job_files.atomic_write(picture, lambda path: save_png(
        diverging_rgb(preview, limit=LIMIT_SIGMA), path))
    stats = {"std": round(float(np.std(residual)), 3), "limit": LIMIT_SIGMA}
    job_files.atomic_write(stats_path, lambda path: path.write_text(json.dumps(stats)))
    return stats
