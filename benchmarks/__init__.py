"""Benchmarks: where REUCID stands against the methods microscopists would use instead.

One command per benchmark, each regenerating its own section of ``docs/benchmarks.md``
and its plots in ``docs/benchmarks/``:

* ``python -m benchmarks.quality`` — PSNR, SSIM, IEF and residual correlation on
  simulated images with ground truth;
* ``python -m benchmarks.speed`` — median run time and peak memory per image size;
* ``python -m benchmarks.real`` — residual statistics and picture grids on real images;
* ``python -m benchmarks`` — all three. Each takes ``--quick`` for a short version.

Methods are rows of a registry (:mod:`benchmarks.methods`): adding a row is one
``register_method`` call.
"""
