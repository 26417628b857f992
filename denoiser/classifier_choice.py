"""Which eigenpatch classifier a job uses: the active trained model or an objective rule.

Users pick "active" (the model the training app marks active, else the shipped model),
or, for comparison, "mp" (Marchenko–Pastur), "gd" (Gavish–Donoho), "k=N" or "k=all";
with the "best" method also "noise-edge" (which combinations are allowed: :mod:`.methods`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


def active_model() -> tuple[Path, str]:
    """Path and version label of the model the site should use now.

    Raises
    ------
    ClassifierUnavailable
        When no trained model exists (neither an active record nor the shipped file).
    """
    from denoiser.reucid.errors import ModelLoadError

    no_model = (
        "No trained classifier is available on this server yet. Choose the "
        "Marchenko–Pastur rule (mp), Gavish–Donoho (gd) or a fixed k instead."
    )
    from training.selectors import active_classifier_path, active_classifier_record

    try:
        path = Path(active_classifier_path())
    except ModelLoadError as error:
        raise ClassifierUnavailable(no_model) from error
    if not path.is_file():
        raise ClassifierUnavailable(no_model)
    record = active_classifier_record()
    version = _record_version(record, path) if record is not None else "shipped model"
    return path, version


def resolve_classifier(choice: str | None, *, default: str = ACTIVE) -> ResolvedClassifier:
    """Turn a user's choice into what the worker passes to ``denoise(classifier=...)``.

    Raises
    ------
    ValueError
        For a choice that is not one of the accepted forms.
    ClassifierUnavailable
        For "active" when no model exists.
    """
    value = normalise_choice(choice, default=default)
    if value == ACTIVE:
        path, version = active_model()
        return ResolvedClassifier(choice=value, spec=str(path), version=version)
    label = RULE_LABELS.get(value) or (
        "keep every eigenpatch" if value == "k=all" else f"fixed k = {value[2:]}"
    )
    return ResolvedClassifier(choice=value, spec=value, version=label)
