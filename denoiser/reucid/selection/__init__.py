"""Selection rules: who decides which eigenpatches are kept (Algorithm 1, step 5).

A rule only *selects*; it never produces pixels (:mod:`.base`). The rules:
the CNN (:mod:`.cnn`), the objective rank rules MP, GD, the noise edge and ``k=N``
(:mod:`.rules`); :func:`resolve_classifier` (:mod:`.resolve`) turns a user's
specification into one. To add a rule: a class with ``select(eigenpatches,
eigenvalues, context) -> bool mask`` in :mod:`.rules`, and its name in
:func:`resolve_classifier`.
"""
from __future__ import annotations

from .base import (
    ClassifierOutputError,
    EigenpatchClassifier,
    SelectionContext,
    classifier_name,
    required_components,
    validate_selection,
)
from .resolve import RULE_NAMES, resolve_classifier
from .rules import FixedRank, GavishDonoho, MarchenkoPastur, NoiseEdge

__all__ = [
    "RULE_NAMES",
    "ClassifierOutputError",
    "EigenpatchClassifier",
    "FixedRank",
    "GavishDonoho",
    "MarchenkoPastur",
    "NoiseEdge",
    "SelectionContext",
    "classifier_name",
    "required_components",
    "resolve_classifier",
    "validate_selection",
]
