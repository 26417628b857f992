"""Benchmarks: where REUCID stands against the methods microscopists would use instead.

One command per benchmark, each regenerating its own section of ``docs/benchmarks.md``
and its plots in ``docs/benchmarks/``:

* ``python -m benchmarks.quality`` — PSNR, SSIM, IEF and residual correlation on
  simulated images with ground truth;
* ``python -m benchmarks.speed`` — median run time and peak memory per image size;
* ``python -m benchmarks.real`` — residual statistics and picture grids on real images;
* ``python -m benchmarks`` — all three. Each takes ``--quick`` for a short version.

Two more print the tables of ``docs/beyond_the_paper.md`` (issue 9):

* ``python -m benchmarks.beyond`` — every step of ``denoise()``'s default (the best
  variant) on and off against BM3D on the abTEM sets;
* ``python -m benchmarks.defects`` — how much of rare defects each method keeps.

Rows named "REUCID paper, …" run ``denoise(variant="paper")`` (the paper's pipeline,
the live path); "REUCID default (…)" is ``denoise()`` with its defaults.

Methods are rows of a registry (:mod:`benchmarks.methods`): adding a row is one
``register_method`` call.
"""
