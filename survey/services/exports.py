"""The labelled-dataset exports: raw answers as CSV, labelled eigenpatches as JSON or NPZ.

The admin action, the REST endpoint and the ``export_survey`` command all use these.
Everything is produced one row / one image at a time: CSV and JSON as generators of text
chunks, NPZ through temporary files on disk.
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from django.utils import timezone

from survey.models import Response, Survey
from survey.selectors import labelled_images, labels_for

FEATURE_SIDE = 25  # the CNN's input side (denoiser.reucid.selection.cnn.FEATURE_SIDE)
CSV_COLUMNS = [
    "response_id", "survey", "image_id", "image_title", "respondent", "expertise",
    "expertise_at_answer", "verified_expert", "field", "years_experience", "chosen_k",
    "chose_raw_noisy", "shown_ks", "time_taken_ms", "revisions", "answered_at", "updated_at",
    "respondent_excluded_at",  # set: staff left this respondent out of the labels
]
CHUNK_ROWS = 500


def eigenpatch_arrays(eigenpatches: np.ndarray,
                      eigenvalues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpatches as ``(K, 25, 25)`` float32 and eigenvalue / largest eigenvalue.

    Uses the classifier's own preprocessing (``denoiser.reucid.selection.cnn.eigenpatch_features``),
    so exported arrays are exactly what the CNN sees.
    """
    # Imported here: cnn loads torch, which pages that never export should not pay for.
    from denoiser.reucid.selection.cnn import eigenpatch_features

    features, normalised = eigenpatch_features(eigenpatches, eigenvalues)
    return (np.asarray(features, dtype=np.float32).reshape(-1, FEATURE_SIDE, FEATURE_SIDE),
            np.asarray(normalised, dtype=np.float32))


def export_provenance(survey: Survey | None, *, min_responses: int) -> dict:
    return {
        "survey": survey.slug if survey else None,
        "survey_name": survey.name if survey else "all surveys",
        "min_responses": min_responses,
        "label_rule": "eigenpatches 1..round(mean k over all respondents) are useful",
        "exported_at": timezone.now().isoformat(),
        "feature_side": FEATURE_SIDE,
    }


CSV_FIELDS = [
    "id", "image__survey__slug", "image_id", "image__title", "respondent__uid",
    "respondent__expertise", "expertise_at_answer", "respondent__is_verified_expert",
    "respondent__field", "respondent__years_experience", "chosen_k",
    "failed_attention_check", "shown_ks", "time_taken_ms", "revisions", "answered_at",
    "updated_at", "respondent__excluded_at",
]


def _csv_cell(name: str, value) -> object:
    if value is None:
        return ""
    if name == "shown_ks":
        return " ".join("noisy" if k is None else str(k) for k in value)
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def iter_responses_csv(survey: Survey | None = None) -> Iterator[str]:
    """The raw answers as CSV text, a few hundred rows per chunk.

    Rows come from a database cursor as plain tuples (no model instances), so memory
    stays at one chunk whatever the size of the survey.
    """
    responses = Response.objects.order_by("id")
    if survey is not None:
        responses = responses.filter(image__survey=survey)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for values in responses.values_list(*CSV_FIELDS).iterator(chunk_size=CHUNK_ROWS):
        writer.writerow([_csv_cell(name, value) for name, value in zip(CSV_FIELDS, values)])
        rows += 1
        if rows % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _iter_labelled_rows(images):
    for label in labels_for(images):
        patches, normalised = eigenpatch_arrays(label.eigenpatches, label.eigenvalues)
        yield label, patches, normalised, label.useful


def iter_eigenpatches_json(survey: Survey | None = None, *,
                           min_responses: int = 1) -> Iterator[str]:
    """Labelled eigenpatches as one JSON document, streamed one image at a time::

        {"provenance": {...}, "images": [{"image_id", "mean_k", "provenance",
          "eigenpatches": [{"index", "eigenvalue", "eigenvalue_normalised", "label",
                            "array": 25x25}, ...]}, ...]}
    """
    yield '{"provenance": ' + json.dumps(export_provenance(survey, min_responses=min_responses))
    yield ', "images": ['

    first = True
    images = labelled_images(survey=survey, min_responses=min_responses)
    for label, patches, normalised, useful in _iter_labelled_rows(images):
        entry = {
            "image_id": label.image_id, "mean_k": label.mean_k,
            "n_responses": label.n_responses, "provenance": label.provenance,
            "eigenpatches": [
                {"index": i + 1, "eigenvalue": float(label.eigenvalues[i]),
                 "eigenvalue_normalised": float(normalised[i]), "label": bool(useful[i]),
                 "array": np.round(patches[i].astype(np.float64), 7).tolist()}
                for i in range(patches.shape[0])
            ],
        }
        yield ("" if first else ", ") + json.dumps(entry)
        first = False
    yield "]}\n"


class _NpyMember:
    """A ``.npy`` file on disk written in pieces; its length is fixed up front."""

    def __init__(self, folder: Path, name: str, dtype: str, shape: tuple[int, ...]):
        self.path = folder / f"{name}.npy"
        self.handle = open(self.path, "wb")
        np.lib.format.write_array_header_1_0(
            self.handle, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
        self.dtype = np.dtype(dtype)

    def append(self, values: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())

    def close(self) -> None:
        self.handle.close()


def write_eigenpatches_npz(target: IO[bytes], survey: Survey | None = None, *,
                           min_responses: int = 1) -> int:
    """Write the labelled eigenpatches as an ``.npz`` to the binary file `target`.

    Arrays (N eigenpatches over all labelled images): ``eigenpatches (N,25,25) float32``,
    ``eigenvalues``, ``eigenvalues_normalised`` (N,) float32, ``labels`` (N,) bool,
    ``image_ids``, ``component_index`` (N,) int64 (1-based), ``mean_k`` (N,) float32, and
    ``provenance``: a JSON string (0-d unicode array) with per-image provenance.
    Returns N.
    """
    images = labelled_images(survey=survey, min_responses=min_responses)
    total = sum(image.n_components for image in images)
    with tempfile.TemporaryDirectory(prefix="survey-npz-") as folder:
        members = {
            "eigenpatches": _NpyMember(Path(folder), "eigenpatches", "<f4",
                                       (total, FEATURE_SIDE, FEATURE_SIDE)),
            "eigenvalues": _NpyMember(Path(folder), "eigenvalues", "<f4", (total,)),
            "eigenvalues_normalised": _NpyMember(Path(folder), "eigenvalues_normalised",
                                                 "<f4", (total,)),
            "labels": _NpyMember(Path(folder), "labels", "|b1", (total,)),
            "image_ids": _NpyMember(Path(folder), "image_ids", "<i8", (total,)),
            "component_index": _NpyMember(Path(folder), "component_index", "<i8", (total,)),
            "mean_k": _NpyMember(Path(folder), "mean_k", "<f4", (total,)),
        }
        provenance = {**export_provenance(survey, min_responses=min_responses), "images": []}
        written = 0
        try:
            for label, patches, normalised, useful in _iter_labelled_rows(images):
                count = patches.shape[0]
                members["eigenpatches"].append(patches)
                members["eigenvalues"].append(label.eigenvalues)
                members["eigenvalues_normalised"].append(normalised)
                members["labels"].append(useful)
                members["image_ids"].append(np.full(count, label.image_id))
                members["component_index"].append(np.arange(1, count + 1))
                members["mean_k"].append(np.full(count, label.mean_k))
                provenance["images"].append(label.provenance)
                written += count
        finally:
            for member in members.values():
                member.close()
        if written != total:
            raise RuntimeError("the survey changed while it was being exported; please try again")
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as archive:
            for name, member in members.items():
                archive.write(member.path, arcname=f"{name}.npy")
            with archive.open("provenance.npy", "w") as handle:
                np.lib.format.write_array(handle, np.array(json.dumps(provenance)))
    return total


def eigenpatches_npz_tempfile(survey: Survey | None = None, *,
                              min_responses: int = 1) -> IO[bytes]:
    """The NPZ export in an anonymous temporary file, rewound, ready to stream."""
    handle = tempfile.TemporaryFile(prefix="survey-export-", suffix=".npz")
    try:
        write_eigenpatches_npz(handle, survey, min_responses=min_responses)
    except Exception:
        handle.close()
        raise
    handle.seek(0)
    return handle
