"""Benchmarks: where REUCID stands against the methods microscopists would use instead.

One command per benchmark, each regenerating its own section of ``docs/benchmarks.md``
and its plots in ``docs/benchmarks/``:

* ``python -m benchmarks.quality`` — PSNR, SSIM, IEF and residual correlation on
  simulated images with ground truth;
* ``python -m benchmarks.speed`` — median run time and peak memory per image size;
* ``python -m benchmarks.real`` — residual statistics and picture grids on real images;
* ``python -m benchmarks.fidelity`` — what microscopists measure (defects kept, column
  intensities and positions, stripes) on the fidelity scenes (issue 14);
* ``python -m benchmarks`` — all four (``python -m benchmarks NAME`` one). Each takes
  ``--quick`` for a short version. The speed and quality/fidelity runs also write the
  figures the site quotes, ``docs/benchmarks/figures.json``
  (:func:`benchmarks.report.write_figures`).

One more prints the tables of ``docs/beyond_the_paper.md`` (issue 9), only when named:

* ``python -m benchmarks beyond`` — every step of ``denoise()``'s default (the best
  variant) on and off against BM3D on the abTEM sets.

Rows named "REUCID paper, …" run ``denoise(variant="paper")`` (the paper's pipeline,
the live path); "REUCID default (…)" is ``denoise()`` with its defaults.

Methods are rows of one registry (:mod:`benchmarks.methods`) that every command selects
from by name: adding a row is one ``register_method`` call.
"""
