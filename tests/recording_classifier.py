"""A classifier wrapper for tests: answers as the wrapped one and keeps every answer."""
from __future__ import annotations

import numpy as np


class RecordingClassifier:
    """Selects with ``inner`` and appends each returned mask to ``masks``."""

    def __init__(self, inner):
        self.inner, self.masks = inner, []

    def select(self, eigenpatches, eigenvalues, context=None):
        mask = self.inner.select(eigenpatches, eigenvalues, context)
        self.masks.append(np.asarray(mask))
        return mask
