"""The result as a HyperSpy file: ``result.hspy`` with the input's axes and metadata.

Written on first download from ``result.npy`` and the job's input record
(:mod:`denoiser.input_record`), through rosettasciio's HyperSpy writer, so HyperSpy
itself is not needed on the server. ``hs.load("..._reucid_result.hspy")`` gives a
``Signal2D`` with the input's axis names, scales, offsets and units, its title (with
", denoised by REUCID"), its original metadata, and REUCID's diagnostics under
``metadata.Processing.REUCID``.
"""
from __future__ import annotations

import numpy as np

from . import input_record, job_files


def image_axes(record: dict, shape: tuple[int, int], pixel_size) -> list[dict]:
    """The two signal axes: the input's own where it had them, else from the pixel size.

    Examples
    --------
    >>> [a["scale"] for a in image_axes({}, (4, 5), (0.5, 0.25))]
    [0.5, 0.25]
    >>> image_axes({}, (4, 5), None)[1]["units"] is None
    True
    """
    stated = record.get("axes") or []
    axes = []
    for index, (name, size) in enumerate(zip(("y", "x"), shape)):
        axis = dict(stated[index]) if len(stated) == 2 and isinstance(stated[index], dict) else {}
        if not axis:
            scale = None if pixel_size is None else float(pixel_size[index])
            axis = {"name": name, "scale": scale or 1.0, "offset": 0.0,
                    "units": "Å" if scale else None}
        axes.append({
            "name": axis.get("name") or name,
            "scale": float(axis.get("scale") or 1.0),
            "offset": float(axis.get("offset") or 0.0),
            "units": axis.get("units"),
            "size": int(size),
            "navigate": False,
        })
    return axes


def signal_dict(job, image: np.ndarray, record: dict) -> dict:
    """The rosettasciio signal dictionary of a job's result."""
    title = record.get("title") or job.original_filename.rsplit(".", 1)[0]
    diagnostics = job.diagnostics or {}
    processing = {
        "software": "REUCID",
        "job_id": str(job.pk),
        "source_file": job.original_filename,
        "method": job.method,
        "classifier": job.classifier_choice,
        "model_version": job.model_version or "",
        "patch_size": diagnostics.get("patch_size"),
        "seed": int(job.seed),
    }
    signal = {"signal_type": "", "quantity": record.get("quantity") or "Intensity"}
    return {
        "data": np.asarray(image, dtype=np.float32),
        "axes": image_axes(record, image.shape, job.pixel_size),
        "metadata": {
            "General": {"title": f"{title}, denoised by REUCID",
                        "original_filename": job.original_filename},
            "Signal": signal,
            "Processing": {"REUCID": {k: v for k, v in processing.items() if v is not None}},
        },
        "original_metadata": record.get("original_metadata") or {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "package_info": {"package": "reucid", "package_version": ""},
        "learning_results": {},
        "models": {},
    }


def ensure_result_hspy(job) -> None:
    """Write ``result.hspy`` for a finished job unless it exists (idempotent, atomic)."""
    target = job_files.job_path(job, job_files.RESULT_HSPY)
    if target.is_file():
        return
    # rosettasciio (optional) only for its formats
    from rsciio.hspy import file_writer

    image = np.load(job_files.job_path(job, job_files.RESULT_NPY), allow_pickle=False)
    content = signal_dict(job, image, input_record.load(job))
    job_files.atomic_write(target, lambda path: file_writer(str(path), content))
