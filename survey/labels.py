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


#: Whose answers label a default-method image: the provenance entry holding their mean.
RESPONDENT_MEANS = {"all": "mean_k", "experts": "mean_k_expert",
                    "non-experts": "mean_k_non_expert"}


@dataclass(frozen=True)
class GroupSurveyLabel:
    """One default-method survey image's label: its groups and the chosen per-group count.

    ``groups`` are the arrays of ``training.group_examples.GroupCandidates.group_arrays``
    (the last pass's groups as the classifier sees them); ``mean_k`` is the mean chosen
    count of ``respondents`` ("all": robust weighted mean; "experts" / "non-experts": the
    plain mean of that group only); ``training.group_labels.labelled_groups`` turns it into
    every group's useful components.
    """

    image_id: int
    groups: dict
    mean_k: float
    n_responses: int
    respondents: str
    provenance: dict = field(default_factory=dict)
