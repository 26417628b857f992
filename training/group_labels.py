"""Survey labels for the group classifier, and the utilities votes imply beside a model's.

Pure numpy (plus the REUCID core); no Django. A default-method survey image's candidate
``k`` keeps the leading ``k`` eigenpatches in every group of one run
(:func:`training.group_examples.group_candidates`), so a mean choice ``mean_k`` labels
the leading ``round(mean_k)`` components of every group useful, as the paper's survey
labels the leading eigenpatches of its decomposition.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .group_examples import (
    GroupComponents,
    GroupExamples,
    components_to_examples,
    groups_from_arrays,
)

__all__ = ["labelled_groups", "survey_group_examples", "utility_table"]


def labelled_groups(arrays: Any, mean_k: float) -> list[GroupComponents]:
    """The stored groups with the leading ``round(mean_k)`` components labelled useful.

    Examples
    --------
    >>> from training.group_examples import GroupCandidates
    >>> arrays = {"eigenpatches": np.zeros((2, 4, 3, 3), np.float32),
    ...           "eigenvalues": np.ones((2, 4)), "n_patches": np.array([50, 60]),
    ...           "noise_variance": np.ones(2), "centred": np.array([False, False])}
    >>> [g.labels.tolist() for g in labelled_groups(arrays, 2.4)]
    [[True, True, False, False], [True, True, False, False]]
    """
    k = int(round(float(mean_k)))
    groups = groups_from_arrays(arrays)
    for group in groups:
        group.labels = np.arange(len(group.eigenvalues)) < k
    return groups


def survey_group_examples(labels: Iterable[Any]) -> GroupExamples:
    """Training examples from ``survey.selectors.iter_group_survey_labels`` (one image each).

    Each image's key is ``survey:<image id>``, so a split keeps an image on one side.
    """
    parts = []
    for label in labels:
        groups = labelled_groups(label.groups, label.mean_k)
        parts.append(components_to_examples(groups, provenance={
            "key": f"survey:{label.image_id}", "kind": "survey",
            "material": str(label.provenance.get("material") or "survey"),
            "dose": label.provenance.get("dose"), "mean_k": label.mean_k,
            "n_responses": label.n_responses, "respondents": label.respondents}))
    return GroupExamples.concatenate(parts)


def utility_table(arrays: Any, chosen_ks: Sequence[int], classifier: Any = None
                  ) -> list[dict[str, Any]]:
    """Per component index ``j`` (1-based): how useful the votes and a model find it.

    ``votes``: share of the chosen per-group counts that keep component ``j`` (a count
    ``k`` keeps components ``1..k``); ``model_keeps``: share of the image's groups in
    which ``classifier`` keeps it, ``model_probability``: its mean probability there
    (None without a classifier).

    Examples
    --------
    >>> arrays = {"eigenpatches": np.zeros((1, 3, 3, 3), np.float32),
    ...           "eigenvalues": np.ones((1, 3)), "n_patches": np.array([50]),
    ...           "noise_variance": np.ones(1), "centred": np.array([False])}
    >>> [row["votes"] for row in utility_table(arrays, [1, 2, 2, 3])]
    [1.0, 0.75, 0.25]
    """
    groups = groups_from_arrays(arrays)
    n = max((len(g.eigenvalues) for g in groups), default=0)
    if "levels" in arrays and len(arrays["levels"]):
        n = min(n, int(np.max(arrays["levels"])))  # no vote can keep more than that
    chosen = np.asarray(list(chosen_ks), dtype=float)
    keeps = np.zeros(n)
    probability = np.zeros(n)
    counted = np.zeros(n)
    if classifier is not None:
        for group in groups:
            p = np.asarray(classifier.probabilities(group.eigenpatches, group.eigenvalues,
                                                    group.context))
            size = len(p)
            probability[:size] += p
            keeps[:size] += p >= classifier.threshold
            counted[:size] += 1
    rows = []
    for j in range(n):
        rows.append({
            "component": j + 1,
            "votes": float(np.mean(chosen > j)) if len(chosen) else None,
            "model_keeps": float(keeps[j] / counted[j]) if classifier is not None
            and counted[j] else None,
            "model_probability": float(probability[j] / counted[j]) if classifier is not None
            and counted[j] else None,
        })
    return rows
