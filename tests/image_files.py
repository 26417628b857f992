"""Microscope image files of every format the site reads, written by the tests themselves.

``write_image_file(kind, folder, image, pixel_size_nm)`` writes ``image`` (2-D, uint16
values) in one format and returns the path. The name's extension is what users give
such files; ``misnamed`` kinds carry a wrong extension, to test detection by content.
Gatan DM3/DM4 and Velox EMD files are written by minimal writers here (one calibrated 2-D
image in the layout rosettasciio reads); TIA SER has no writer and is covered by the real
files in ``../shared/data/real`` where present.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import mrcfile
import numpy as np
import scipy.io
import tifffile
from PIL import Image

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
    "velox": "velox.emd",
    "dm3": "frame.dm3",
    "dm4": "frame.dm4",
    "hspy-misnamed": "frame.dat",
}

#: What read_image reports as source_format for each kind.
SOURCE_FORMAT = {
    "tiff": "tiff", "png": "png", "npy": "npy", "mat": "mat", "mat73": "mat", "mrc": "mrc",
    "hspy": "hspy", "hdf5": "hspy", "emd": "emd", "hspy-misnamed": "hspy",
    "dm3": "digitalmicrograph", "dm4": "digitalmicrograph", "velox": "emd",
}

#: Kinds whose file states a pixel size.
CALIBRATED = {"tiff", "mat", "mat73", "mrc", "hspy", "hdf5", "emd", "hspy-misnamed", "dm3",
              "dm4", "velox"}

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
        per_nm = 1.0 / pixel_size_nm
        tifffile.imwrite(path, image.astype(np.uint16), imagej=True,
                         resolution=(per_nm, per_nm), metadata={"unit": "nm"})
    elif kind == "png":
        Image.fromarray(image.astype(np.uint16)).save(path)
    elif kind == "npy":
        np.save(path, image.astype(np.float32))
    elif kind == "mat":
        scipy.io.savemat(path, {"input": {"obs": image.astype(np.uint16),
                                          "dx": pixel_size_nm * 10}}, do_compression=True)
    elif kind == "mat73":
        with h5py.File(path, "w", userblock_size=512) as handle:
            group = handle.create_group("input")
            group.create_dataset("obs", data=image.astype(np.float64).T)  # column-major
            group.create_dataset("dx", data=np.array([[pixel_size_nm * 10]]))
        with open(path, "r+b") as handle:
            handle.write(_MAT73_HEADER)
    elif kind == "mrc":
        with mrcfile.new(path) as mrc:
            mrc.set_data(image.astype(np.float32))
            mrc.voxel_size = pixel_size_nm * 10
    elif kind in ("hspy", "hdf5", "hspy-misnamed"):
        # rosettasciio (optional) only for its formats
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

        with h5py.File(path, "w") as handle:
            handle.attrs["version_major"] = 0
            handle.attrs["version_minor"] = 2
            group = handle.create_group("data/frame")
            group.attrs["emd_group_type"] = 1
            group.create_dataset("data", data=image.astype(np.uint16))
            for number, (name, size) in enumerate(zip(("x", "y"), image.shape), start=1):
                dim = group.create_dataset(f"dim{number}", data=np.arange(size) * pixel_size_nm)
                dim.attrs["name"], dim.attrs["units"] = name, "n_m"
    elif kind == "velox":  # Thermo Fisher Velox EMD: (y, x, frame) data + JSON metadata

        metres = f"{pixel_size_nm * 1e-9:.6g}"
        metadata = {
            "BinaryResult": {"PixelSize": {"width": metres, "height": metres},
                             "PixelUnitX": "m", "PixelUnitY": "m",
                             "Offset": {"x": "0", "y": "0"}, "DetectorIndex": "0"},
            "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1764849600"}},
            "Detectors": {"Detector-0": {"DetectorName": "HAADF",
                                         "DetectorType": "ScanningDetector"}},
            "Scan": {}, "Core": {"MetadataDefinitionVersion": "7.9"},
        }
        rows, cols = image.shape
        with h5py.File(path, "w") as handle:
            handle.create_dataset("Version", data=np.array(
                [json.dumps({"format": "Velox", "version": 11}).encode()]))
            group = handle.create_group("Data/Image/6d2b6c1e0f5d4a4f")
            group.create_dataset("Data", data=image.astype(np.uint16)[:, :, None],
                                 chunks=(rows, cols, 1))
            encoded = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
            group.create_dataset("Metadata", data=encoded[:, None])
    elif kind in ("dm3", "dm4"):
        write_dm(path, image, version=int(kind[-1]), scale_nm=pixel_size_nm)
    else:
        raise ValueError(kind)
    return path


class _DigitalMicrograph:
    """Tag encoding of DM3 (32-bit lengths) and DM4 (64-bit lengths and tag sizes)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.length_format = ">I" if version == 3 else ">Q"

    def length(self, value: int) -> bytes:
        return struct.pack(self.length_format, value)

    def label(self, tag_id: int, name: str) -> bytes:
        raw = name.encode("latin-1")
        return bytes([tag_id]) + struct.pack(">H", len(raw)) + raw

    def group(self, name: str, tags: list[bytes]) -> bytes:
        body = b"".join(tags)
        size = self.length(len(body) + 10) if self.version == 4 else b""
        return self.label(20, name) + b"\x00\x00" + size + self.length(len(tags)) + body

    def _data(self, name: str, info: list[int], payload: bytes) -> bytes:
        body = b"%%%%" + self.length(len(info)) + b"".join(map(self.length, info)) + payload
        size = struct.pack(">Q", len(body)) if self.version == 4 else b""
        return self.label(21, name) + size + body

    def simple(self, name: str, code: int, fmt: str, value) -> bytes:
        return self._data(name, [code], struct.pack("<" + fmt, value))

    def array(self, name: str, code: int, values: np.ndarray) -> bytes:
        values = np.ascontiguousarray(values)
        little = values.astype(values.dtype.newbyteorder("<"))
        return self._data(name, [20, code, values.size], little.tobytes())

    def text(self, name: str, value: str) -> bytes:
        return self.array(name, 4, np.frombuffer(value.encode("utf-16-le"), dtype="<u2"))


def write_dm(path: Path, image: np.ndarray, *, version: int, scale_nm: float) -> None:
    """A DM3/DM4 file of one uint16 image, both axes calibrated in nm (little-endian data).

    Type codes: 3 int32, 4 uint16, 5 uint32, 6 float32, 8 bool, 20 array; DataType 10 is
    uint16 image data.
    """
    image = np.asarray(image, dtype=np.uint16)
    dm = _DigitalMicrograph(version)
    rows, cols = image.shape

    def axis() -> bytes:
        return dm.group("", [dm.simple("Origin", 6, "f", 0.0),
                             dm.simple("Scale", 6, "f", scale_nm), dm.text("Units", "nm")])

    image_data = dm.group("ImageData", [
        dm.group("Calibrations", [
            dm.group("Brightness", [dm.simple("Origin", 6, "f", 0.0),
                                    dm.simple("Scale", 6, "f", 1.0), dm.text("Units", "")]),
            dm.group("Dimension", [axis(), axis()]),
            dm.simple("DisplayCalibratedUnits", 8, "?", True),
        ]),
        dm.array("Data", 4, image.ravel()),
        dm.simple("DataType", 3, "i", 10),
        dm.group("Dimensions", [dm.simple("", 5, "I", cols), dm.simple("", 5, "I", rows)]),
        dm.simple("PixelDepth", 5, "I", 2),
    ])
    entry = dm.group("", [image_data, dm.group("ImageTags", []), dm.text("Name", "test frame")])
    root = [dm.group("ImageList", [entry])]
    body = b"\x00\x00" + dm.length(len(root)) + b"".join(root)
    header = struct.pack(">I", version) + dm.length(len(body) + 16) + struct.pack(">I", 1)
    Path(path).write_bytes(header + body + b"\x00" * 8)
