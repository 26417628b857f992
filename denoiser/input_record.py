"""What an upload said about itself, kept beside the job's input: ``input.json``.

The job's database row holds what the pages filter and sort by; this file holds what
only the job's own pages and downloads need: the lattice check (the no-lattice
warning), and the image axes, units, title and original metadata of the uploaded file,
so that the ``.hspy`` download carries the input's calibration and metadata.
"""
from __future__ import annotations

import json
import logging

from . import job_files

logger = logging.getLogger(__name__)

#: Keys of the record.
FIELDS = ("lattice", "axes", "title", "quantity", "original_metadata", "source_format")


def record_of(validated) -> dict:
    """The JSON-able record of a :class:`denoiser.uploads.ValidatedImage`."""
    metadata = dict(validated.metadata or {})
    return {
        "lattice": validated.lattice,
        "axes": metadata.get("axes"),
        "title": metadata.get("title"),
        "quantity": metadata.get("quantity"),
        "original_metadata": metadata.get("original_metadata") or {},
        "source_format": validated.source_format,
    }


def save(job, validated) -> None:
    """Write the record into the job's folder (atomically; the folder must exist)."""
    text = json.dumps(record_of(validated), allow_nan=False, default=str)
    job_files.atomic_write(job_files.job_path(job, job_files.INPUT_RECORD),
                           lambda path: path.write_text(text, encoding="utf-8"))


def load(job) -> dict:
    """The job's record; ``{}`` for jobs made before records existed or unreadable ones."""
    path = job_files.job_path(job, job_files.INPUT_RECORD)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        logger.warning("Unreadable input record %s: %r", path, error)
        return {}


def warnings_of(job) -> list[str]:
    """Sentences a microscopist should read before trusting the result (may be empty)."""
    lattice = load(job).get("lattice") or {}
    return [lattice["message"]] if lattice.get("message") else []
