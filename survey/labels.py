"""The label a survey gives one image's decomposition (pure numpy, no Django)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from survey.statistics import useful_mask


@dataclass(frozen=True)
class SurveyLabel:
    """One labelled decomposition: what the training app builds survey datasets from.

    ``useful`` marks eigenpatches 1..round(mean_k) (the paper's rule, mean over all
    respondents); ``provenance`` names the survey, the response counts and the date.
    """

    image_id: int
    noisy: np.ndarray
    clean: np.ndarray | None
    eigenpatches: np.ndarray
    eigenvalues: np.ndarray
    mean_k: float
    n_responses: int
    provenance: dict = field(default_factory=dict)

    @property
    def useful(self) -> np.ndarray:
        return useful_mask(self.mean_k, int(self.eigenvalues.shape[0]))
