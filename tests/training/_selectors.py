"""Selectors the training tests use to rebuild what a classifier would have chosen."""
from __future__ import annotations

import numpy as np

from denoiser.reucid.selection import NoiseEdge


class PassTwoCounts:
    """The run's own rule (the noise edge) in the first pass, the given counts per group in
    the second: what a classifier that agreed with those counts would keep."""

    def __init__(self, counts):
        self.counts, self.first = counts, NoiseEdge()

    def select(self, eigenpatches, eigenvalues, context):
        if context.pass_index == 0:
            return self.first.select(eigenpatches, eigenvalues, context)
        return np.arange(len(eigenvalues)) < self.counts[context.stack_index]
