"""Survey labels for the group classifier, and the utilities votes imply beside a model's.

Pure numpy (plus the REUCID core); no Django. A default-method survey image's candidate
``k`` is level ``k`` of a threshold ladder on the components' noise-edge ratio (on
average ``k`` components per group; :func:`training.group_examples.threshold_ladder`), so
a mean choice ``mean_k`` sets a threshold (a level's own, interpolated between levels)
and every component above it is useful, in every group. Images whose candidates kept the
leading ``k`` of every group (stored before the ladder: no ``thresholds`` array) label the
leading ``round(mean_k)`` components of every group, as they were made.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .group_examples import (
    GroupComponents,
    GroupExamples,
    component_ratios,
    components_to_examples,
    groups_from_arrays,
    label_threshold,
)

__all__ = ["labelled_groups", "survey_group_examples", "utility_table"]


def labelled_groups(arrays: Any, mean_k: float) -> list[GroupComponents]:
    """The stored groups with the components a mean choice ``mean_k`` keeps labelled useful.

    Examples
    --------
    A ladder's level 2 kept the first group's two components above ratio 2 and the
    second group's one; a mean choice of 2 labels exactly those:

    >>> arrays = {"eigenpatches": np.zeros((2, 3, 2, 2), np.float32),
    ...           "eigenvalues": np.array([[900.0, 500.0, 100.0], [900.0, 100.0, 50.0]]),
    ...           "n_patches": np.array([100, 100]), "noise_variance": np.ones(2),
    ...           "centred": np.array([False, False]), "levels": np.array([1, 2]),
    ...           "thresholds": np.array([6.0, 2.0])}
    >>> [g.labels.tolist() for g in labelled_groups(arrays, 2.0)]
    [[True, True, False], [True, False, False]]

    Without a ladder (older images), the leading ``round(mean_k)`` of every group:

    >>> del arrays["thresholds"]
    >>> [g.labels.tolist() for g in labelled_groups(arrays, 2.4)]
    [[True, True, False], [True, True, False]]
    """
    groups = groups_from_arrays(arrays)
    if "thresholds" in arrays and len(arrays["thresholds"]):
        threshold = label_threshold(np.asarray(arrays["levels"]).tolist(),
                                    np.asarray(arrays["thresholds"]).tolist(), float(mean_k))
        for group in groups:
            group.labels = component_ratios(group) >= threshold
        return groups
    k = int(round(float(mean_k)))
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

    ``votes``: share of the chosen candidates' groups that keep component ``j`` (a level
    of the threshold ladder keeps each group's own count, ``kept``; an older image's
    ``k`` keeps components ``1..k`` everywhere); ``model_keeps``: share of the image's
    groups in which ``classifier`` keeps it, ``model_probability``: its mean probability there
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
    kept = np.asarray(arrays["kept"]) if "kept" in arrays and np.size(arrays["kept"]) else None
    # no vote can keep more than the top level does
    if kept is not None:
        n = min(n, max(int(kept.max()), 1))
    elif "levels" in arrays and len(arrays["levels"]):
        n = min(n, int(np.max(arrays["levels"])))
    chosen = np.asarray(list(chosen_ks), dtype=float)
    if kept is not None and len(chosen):
        levels = np.asarray(arrays["levels"]).tolist()
        # per vote, the counts its level keeps in each group
        counts = np.concatenate([kept[levels.index(int(k))] for k in chosen])
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
            "votes": None if not len(chosen) else float(np.mean(counts > j))
            if kept is not None else float(np.mean(chosen > j)),
            "model_keeps": float(keeps[j] / counted[j]) if classifier is not None
            and counted[j] else None,
            "model_probability": float(probability[j] / counted[j]) if classifier is not None
            and counted[j] else None,
        })
    return rows
