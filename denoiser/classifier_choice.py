"""Which eigenpatch classifier a job uses: the active trained model or an objective rule.

Users pick "active" (the model the training app marks active, else the shipped model),
or, for comparison, "mp" (Marchenko–Pastur), "gd" (Gavish–Donoho), "k=N" or "k=all";
with the "best" method also "noise-edge" (which combinations are allowed: :mod:`.methods`).

"active" means the active model *of the method's kind*: the group classifier for the
default ("best") method, the paper's CNN for "paper". With "best" and no group
classifier at all, the noise-edge rule decides instead and the job says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from denoiser.reucid.errors import ModelLoadError
from training import selectors as training_selectors

ACTIVE = "active"
NOISE_EDGE = "noise-edge"
RULE_LABELS = {
    "mp": "Marchenko–Pastur threshold (MP-PCA)",
    "gd": "Gavish–Donoho hard threshold",
    NOISE_EDGE: "Marchenko–Pastur edge of the stabilised noise level",
}
_FIXED_K = re.compile(r"^k=(\d{1,4}|all)$")
MAX_FIXED_K = 4096


class ClassifierUnavailable(Exception):
    """The requested classifier cannot be used; the message says what to choose instead."""


@dataclass(frozen=True)
class ResolvedClassifier:
    """What a job stores: the user's choice, what the core gets, and a label to show."""

    choice: str
    spec: str
    version: str
    note: str = ""


def normalise_choice(choice: str | None, *, default: str = ACTIVE) -> str:
    """Canonical form of a user's choice, or ValueError with the accepted forms.

    Examples
    --------
    >>> normalise_choice(" MP "), normalise_choice("K=5"), normalise_choice(None)
    ('mp', 'k=5', 'active')
    >>> normalise_choice("Noise-Edge"), normalise_choice(None, default="noise-edge")
    ('noise-edge', 'noise-edge')
    """
    value = (choice or "").strip().lower().replace(" ", "") or default
    if value in (ACTIVE, *RULE_LABELS):
        return value
    match = _FIXED_K.match(value)
    if match:
        if match.group(1) != "all" and not 1 <= int(match.group(1)) <= MAX_FIXED_K:
            raise ValueError(f"k must be between 1 and {MAX_FIXED_K} (or 'all').")
        return value
    raise ValueError(
        f"Unknown classifier '{choice}'. Choose 'active' (the trained model), 'mp', 'gd', "
        "'k=N' (keep the N largest eigenpatches), 'k=all', or 'noise-edge' (best method only)."
    )


def _record_version(record, path: Path) -> str:
    """A label that identifies the model file: name, record id and file hash."""
    record_file = getattr(getattr(record, "file", None), "path", None)
    try:
        if record_file is not None and Path(record_file).resolve() != path.resolve():
            return "shipped model"  # the record's file is gone; the selector fell back
    except (OSError, ValueError, NotImplementedError):
        pass
    name = str(getattr(record, "name", "") or record)
    parts = [name]
    if getattr(record, "version", None):
        parts.append(str(record.version))
    if getattr(record, "pk", None) is not None:
        parts.append(f"#{record.pk}")
    if getattr(record, "sha256", ""):
        parts.append(f"sha256 {str(record.sha256)[:10]}")
    return " ".join(parts)


def model_kind_for(method: str | None) -> str:
    """The kind of model a method uses: "group" for "best" (the default), else "paper".

    Examples
    --------
    >>> model_kind_for("best"), model_kind_for("paper"), model_kind_for(None)
    ('group', 'paper', 'paper')
    """
    return "group" if method == "best" else "paper"


#: The note a job of the default method gets when no group classifier exists.
NO_GROUP_MODEL_NOTE = (
    "No trained group classifier is available on this server yet, so the noise-edge rule "
    "selected the eigenpatches (train one on the training page).")


def active_model(kind: str = "paper") -> tuple[Path, str]:
    """Path and version label of the model of a kind the site should use now.

    Raises
    ------
    ClassifierUnavailable
        When no trained model exists (neither an active record nor the shipped file).
    """
    no_model = (
        "No trained classifier is available on this server yet. Choose the "
        "Marchenko–Pastur rule (mp), Gavish–Donoho (gd) or a fixed k instead."
    )
    try:
        path = Path(training_selectors.active_classifier_path(kind))
    except ModelLoadError as error:
        raise ClassifierUnavailable(no_model) from error
    if not path.is_file():
        raise ClassifierUnavailable(no_model)
    record = training_selectors.active_classifier_record(kind)
    version = _record_version(record, path) if record is not None else "shipped model"
    return path, version


def resolve_classifier(choice: str | None, *, default: str = ACTIVE,
                       method: str | None = None) -> ResolvedClassifier:
    """Turn a user's choice into what the worker passes to ``denoise(classifier=...)``.

    ``method`` picks the kind of "active" model: the group classifier for "best", the
    paper's CNN otherwise. With "best" and no group classifier, "active" becomes the
    noise-edge rule, with a note for the job.

    Raises
    ------
    ValueError
        For a choice that is not one of the accepted forms.
    ClassifierUnavailable
        For "active" with the paper method when no model exists.
    """
    value = normalise_choice(choice, default=default)
    if value == ACTIVE:
        kind = model_kind_for(method)
        try:
            path, version = active_model(kind)
        except ClassifierUnavailable:
            if kind != "group":
                raise
            return ResolvedClassifier(choice=NOISE_EDGE, spec=NOISE_EDGE,
                                      version=RULE_LABELS[NOISE_EDGE], note=NO_GROUP_MODEL_NOTE)
        return ResolvedClassifier(choice=value, spec=str(path), version=version)
    label = RULE_LABELS.get(value) or (
        "keep every eigenpatch" if value == "k=all" else f"fixed k = {value[2:]}"
    )
    return ResolvedClassifier(choice=value, spec=value, version=label)
