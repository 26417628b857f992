"""Reading and writing the arrays behind a survey image (no models, only storage paths)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from denoiser.reucid import read_image


@dataclass(frozen=True)
class StoredDecomposition:
    """The eigenpatches and eigenvalues a survey image's candidates were made from."""

    eigenpatches: np.ndarray  # (K, p, p) float32
    eigenvalues: np.ndarray  # (K,) float32
    patch_size: int


def npy_bytes(array: np.ndarray) -> ContentFile:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return ContentFile(buffer.getvalue())


def decomposition_bytes(eigenpatches: np.ndarray, eigenvalues: np.ndarray,
                        patch_size: int) -> ContentFile:
    buffer = io.BytesIO()
    np.savez(buffer, eigenpatches=np.asarray(eigenpatches, dtype=np.float32),
             eigenvalues=np.asarray(eigenvalues, dtype=np.float32),
             patch_size=np.int64(patch_size))
    return ContentFile(buffer.getvalue())


def group_decomposition_bytes(arrays: dict[str, np.ndarray], patch_size: int) -> ContentFile:
    """A default-method survey image's groups (``training.group_examples.GroupCandidates.
    group_arrays``), stored under ``group_*`` keys so no reader takes them for a paper
    decomposition."""
    buffer = io.BytesIO()
    np.savez(buffer, patch_size=np.int64(patch_size),
             **{f"group_{key}": np.asarray(value) for key, value in arrays.items()})
    return ContentFile(buffer.getvalue())


def load_group_decomposition(name: str) -> dict[str, np.ndarray]:
    """The ``group_*`` arrays written by :func:`group_decomposition_bytes`, keys unprefixed."""
    with default_storage.open(name, "rb") as handle:
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as data:
            return {key[len("group_"):]: data[key] for key in data.files
                    if key.startswith("group_")}


def load_npy(name: str) -> np.ndarray:
    with default_storage.open(name, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False)


def load_decomposition(name: str) -> StoredDecomposition:
    with default_storage.open(name, "rb") as handle:
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as data:
            return StoredDecomposition(
                eigenpatches=data["eigenpatches"].astype(np.float32),
                eigenvalues=data["eigenvalues"].astype(np.float32),
                patch_size=int(data["patch_size"]),
            )


def read_image_file(path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """A 2-D float32 image and its pixel size (Å) from a microscope or array file.

    Uses the denoiser core's reader (TIFF, PNG, NPY, DM, EMD, SER, MRC, HDF5...), so survey
    images pass the same checks as uploads.
    """

    data = read_image(Path(path))
    return np.asarray(data.array, dtype=np.float32), data.pixel_size
