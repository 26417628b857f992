"""Microscope image files of every format the site reads, written by the tests themselves.

``write_image_file(kind, folder, image, pixel_size_nm)`` writes ``image`` (2-D, uint16
values) in one format and returns the path. The name's extension is what users give
such files; ``misnamed`` kinds carry a wrong extension, to test detection by content.
Formats with no writer in Python (Gatan DM, TIA SER, Velox EMD) are covered by the real
files in ``../shared/data/real`` where present.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: kind -> file name
KINDS = {
    "tiff": "frame.tif",
    "png": "frame.png",
    "npy": "frame.npy",
    "mat": "statstem.mat",
    "mat73": "statstem73.mat",
    "mrc": "frame.mrc",
    "hspy": "frame.hspy",
    "hdf5": "frame.hdf5",
    "emd": "berkeley.emd",
    "hspy-misnamed": "frame.dat",
}

#: What read_image reports as source_format for each kind.
SOURCE_FORMAT = {
    "tiff": "tiff", "png": "png", "npy": "npy", "mat": "mat", "mat73": "mat", "mrc": "mrc",
    "hspy": "hspy", "hdf5": "hspy", "emd": "emd", "hspy-misnamed": "hspy",
}

#: Kinds whose file states a pixel size.
CALIBRATED = {"tiff", "mat", "mat73", "mrc", "hspy", "hdf5", "emd", "hspy-misnamed"}

_MAT73_HEADER = (
    b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Fri Dec  4 12:00:00 2026 "
    b"HDF5 schema 1.00 ."
).ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"


def write_image_file(kind: str, folder: Path, image: np.ndarray,
                     pixel_size_nm: float = 0.02) -> Path:
    """Write ``image`` as ``kind`` in ``folder``; return the path."""
    path = Path(folder) / KINDS[kind]
    image = np.asarray(image)
    if kind == "tiff":
        import tifffile

        per_nm = 1.0 / pixel_size_nm
        tifffile.imwrite(path, image.astype(np.uint16), imagej=True,
                         resolution=(per_nm, per_nm), metadata={"unit": "nm"})
    elif kind == "png":
        from PIL import Image

        Image.fromarray(image.astype(np.uint16)).save(path)
    elif kind == "npy":
        np.save(path, image.astype(np.float32))
    elif kind == "mat":
        import scipy.io

        scipy.io.savemat(path, {"input": {"obs": image.astype(np.uint16),
                                          "dx": pixel_size_nm * 10}}, do_compression=True)
    elif kind == "mat73":
        import h5py

        with h5py.File(path, "w", userblock_size=512) as handle:
            group = handle.create_group("input")
            group.create_dataset("obs", data=image.astype(np.float64).T)  # column-major
            group.create_dataset("dx", data=np.array([[pixel_size_nm * 10]]))
        with open(path, "r+b") as handle:
            handle.write(_MAT73_HEADER)
    elif kind == "mrc":
        import mrcfile

        with mrcfile.new(path) as mrc:
            mrc.set_data(image.astype(np.float32))
            mrc.voxel_size = pixel_size_nm * 10
    elif kind in ("hspy", "hdf5", "hspy-misnamed"):
        from rsciio.hspy import file_writer

        rows, cols = image.shape
        file_writer(str(path), {
            "data": image.astype(np.float32),
            "axes": [
                {"name": "y", "scale": pixel_size_nm, "offset": 0.0, "units": "nm",
                 "size": rows, "navigate": False},
                {"name": "x", "scale": pixel_size_nm, "offset": 0.0, "units": "nm",
                 "size": cols, "navigate": False},
            ],
            "metadata": {"General": {"title": "test frame"}, "Signal": {"signal_type": ""}},
            "original_metadata": {"Microscope": {"voltage_kV": 300}},
            "tmp_parameters": {}, "attributes": {"_lazy": False},
            "package_info": {"package": "", "package_version": ""},
            "learning_results": {}, "models": {},
        })
    elif kind == "emd":  # Berkeley EMD v0.2, as ncempy writes it
        import h5py

        with h5py.File(path, "w") as handle:
            handle.attrs["version_major"] = 0
            handle.attrs["version_minor"] = 2
            group = handle.create_group("data/frame")
            group.attrs["emd_group_type"] = 1
            group.create_dataset("data", data=image.astype(np.uint16))
            for number, (name, size) in enumerate(zip(("x", "y"), image.shape), start=1):
                dim = group.create_dataset(f"dim{number}", data=np.arange(size) * pixel_size_nm)
                dim.attrs["name"], dim.attrs["units"] = name, "n_m"
    else:
        raise ValueError(kind)
    return path
