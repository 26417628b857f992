"""Synchronous validation of uploads: every bad file is a clear 4xx and leaves no file."""
import io
import pathlib
import struct
import tempfile
import zlib

import h5py
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from denoiser.reucid import write_tiff
from denoiser.uploads import UploadRejected, safe_filename, validate_upload

from .conftest import lattice_image, npy_bytes, npy_upload, png_bytes, tiff_bytes


def rejected(upload) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        validate_upload(upload)
    return info.value


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../etc/passwd.tif", "passwd.tif"),
        ("/abs/path/img.dm4", "img.dm4"),
        ("C:\\Users\\me\\STO 001.dm4", "STO 001.dm4"),
        ("..", "upload"),
        ("bad\x00name\n.tif", "badname.tif"),
        ("", "upload"),
        ("a" * 300 + ".tiff", "a" * 195 + ".tiff"),
    ],
)
def test_safe_filename_strips_path_parts_and_control_characters(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize(
    "name, payload",
    [
        ("frame.npy", lambda a: npy_bytes(a)),
        ("frame.tif", lambda a: tiff_bytes(a)),
        ("frame16.tiff", lambda a: tiff_bytes(a.astype(np.uint16))),
        ("frame8.tif", lambda a: tiff_bytes(np.clip(a * 4, 0, 255).astype(np.uint8))),
        ("frame32i.tif", lambda a: tiff_bytes(a.astype(np.int32) - 7)),
        ("frame16.png", lambda a: png_bytes((a * 100).astype(np.uint16))),
        ("frame8.png", lambda a: png_bytes(np.clip(a * 4, 0, 255).astype(np.uint8))),
    ],
)
def test_valid_formats_are_read_as_float32(name, payload, scratch_files):
    image = lattice_image(48)
    validated = validate_upload(SimpleUploadedFile(name, payload(image)))
    assert validated.array.dtype == np.float32
    assert validated.array.shape == (48, 48)
    assert validated.original_filename == name
    assert scratch_files() == []


def test_tiff_pixel_size_is_kept():
    image = lattice_image(32)

    path = pathlib.Path(tempfile.mkdtemp()) / "calibrated.tif"
    write_tiff(path, image, pixel_size=(0.25, 0.25))
    validated = validate_upload(SimpleUploadedFile("calibrated.tif", path.read_bytes()))
    assert validated.pixel_size == pytest.approx((0.25, 0.25))


def test_path_parts_in_the_uploaded_name_never_reach_the_disk(settings, scratch_files):
    validated = validate_upload(npy_upload(lattice_image(32), name="../../../evil.npy"))
    assert validated.original_filename == "evil.npy"
    assert not (settings.MEDIA_ROOT.parent / "evil.npy").exists()
    assert scratch_files() == []


@pytest.mark.parametrize(
    "upload, words",
    [
        (SimpleUploadedFile("notes.txt", b"hello"), "not a supported image file"),
        (SimpleUploadedFile("image", b"hello"), "not a supported image file"),
        (SimpleUploadedFile("fake.tif", b"this is not a tiff at all"), "not a supported"),
        (SimpleUploadedFile("fake.png", b"\x89PNG\r\n\x1a\nnonsense"), "could not"),
        (SimpleUploadedFile("fake.dm4", b"\x00" * 64), "not a supported"),
        (SimpleUploadedFile("fake.dm3", b"\x00\x00\x00\x03" + b"\x00" * 60), "could not"),
        (SimpleUploadedFile("empty.tif", b""), "empty"),
    ],
)
def test_non_images_are_rejected_with_a_message(upload, words, scratch_files):
    error = rejected(upload)
    assert error.status == 400
    assert words in error.message.lower()
    assert scratch_files() == []


def test_truncated_tiff_is_rejected(scratch_files):
    data = tiff_bytes(lattice_image(64))
    error = rejected(SimpleUploadedFile("cut.tif", data[: len(data) // 2]))
    assert error.status == 400 and "cut.tif" in error.message
    assert scratch_files() == []


def test_truncated_npy_is_rejected(scratch_files):
    data = npy_bytes(lattice_image(64))
    error = rejected(SimpleUploadedFile("cut.npy", data[: len(data) - 100]))
    assert error.status == 400
    assert scratch_files() == []


@pytest.mark.parametrize("shape", [(1, 1), (10, 10), (8, 200)])
def test_tiny_images_are_rejected(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    error = rejected(npy_upload(image))
    assert error.status == 400
    assert "pixels" in error.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_rejected(bad):
    image = lattice_image(32)
    image[3, 4] = bad
    image[10, 11] = bad
    error = rejected(npy_upload(image))
    assert "2 NaN or infinite pixel" in error.message
    assert "lattice.npy" in error.message


def test_constant_image_is_rejected():
    assert "same value" in rejected(npy_upload(np.full((32, 32), 7.0))).message


def test_colour_png_is_rejected_but_grey_rgb_is_accepted():
    image = np.clip(lattice_image(32) * 4, 0, 255).astype(np.uint8)
    colour = np.stack([image, image // 2, image], axis=-1)
    error = rejected(SimpleUploadedFile("colour.png", png_bytes(colour)))
    assert "colour" in error.message.lower() or "rgb" in error.message.lower()
    grey_rgb = np.stack([image] * 3, axis=-1)
    validated = validate_upload(SimpleUploadedFile("grey.png", png_bytes(grey_rgb)))
    np.testing.assert_array_equal(validated.array, image.astype(np.float32))


def test_3d_stack_is_rejected_with_advice_or_one_frame_is_picked():
    stack = np.stack([lattice_image(32, seed=s) for s in range(5)])
    error = rejected(npy_upload(stack, name="series.npy"))
    assert error.status == 400
    assert "stack of 5 frames" in error.message and "Frame option" in error.message
    validated = validate_upload(npy_upload(stack, name="series.npy"), frame=3)
    np.testing.assert_array_equal(validated.array, stack[3])
    assert rejected_with_frame(npy_upload(stack), frame=9).status == 400


def rejected_with_frame(upload, *, frame):
    with pytest.raises(UploadRejected) as info:
        validate_upload(upload, frame=frame)
    return info.value


def test_complex_data_is_rejected():
    image = lattice_image(32).astype(np.complex64)
    assert rejected(npy_upload(image)).status == 400


def test_oversize_file_is_413(settings, scratch_files):
    settings.REUCID_MAX_UPLOAD_BYTES = 1000
    error = rejected(npy_upload(lattice_image(64)))
    assert error.status == 413
    assert "largest upload accepted" in error.message
    assert scratch_files() == []


def test_oversize_image_is_413(settings):
    settings.REUCID_MAX_IMAGE_SIDE = 48
    error = rejected(npy_upload(lattice_image((32, 64))))
    assert error.status == 413 and "48 x 48" in error.message


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares a huge image but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [9000, 60000])
def test_decompression_bomb_png_is_refused_from_its_header(side, scratch_files):
    error = rejected(SimpleUploadedFile("bomb.png", _png_header_only(side, side)))
    assert error.status == 413
    assert scratch_files() == []


def test_huge_declared_tiff_is_refused_from_its_header(settings):
    settings.REUCID_MAX_IMAGE_SIDE = 64
    data = tiff_bytes(np.zeros((128, 128), np.uint8), compression="zlib")
    assert rejected(SimpleUploadedFile("big.tif", data)).status == 413


def test_huge_declared_npy_is_refused_from_its_header():
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": (20000, 20000)}
    )
    data = buffer.getvalue() + b"\x00" * 1024
    error = rejected(SimpleUploadedFile("huge.npy", data))
    assert error.status == 413 and "20000 x 20000" in error.message


def test_huge_compressed_hdf5_dataset_is_refused_before_reading(settings, tmp_path):
    settings.REUCID_MAX_IMAGE_SIDE = 64
    path = tmp_path / "bomb.emd"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("Data/Image/x/Data", shape=(512, 512), dtype="f4",
                              compression="gzip", fillvalue=0.0)
    assert rejected(SimpleUploadedFile("bomb.emd", path.read_bytes())).status == 413


def test_missing_file_is_rejected():
    assert "No file" in rejected(None).message


@pytest.mark.parametrize(
    "name",
    [
        "ncempy_SrTiO3_TEAM05-200kV_STEM-ADF_1024x1024.emd",
        "ncempy_SrTiO3_TitanCubed-80kV_STEM-ADF_1024x1024.ser",
        "remworkflows_SrTiO3-100_Osiris-200kV_HAADF_512x512.tif",
        "temul_PbTiO3-SrRuO3_Titan-300kV_HAADF_224x1312.hspy",
        "statstem_CsPbBr3_HAADF_241x246.npy",
    ],
)
def test_real_microscope_files_are_accepted(shared_data, name, scratch_files):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared data")
    validated = validate_upload(SimpleUploadedFile(name, path.read_bytes()))
    assert validated.array.ndim == 2 and validated.array.dtype == np.float32
    assert np.isfinite(validated.array).all()
    if not name.endswith(".npy"):
        assert validated.pixel_size is not None and 0.01 < validated.pixel_size[0] < 5
    assert scratch_files() == []


# --- every format by content, through the upload validation -------------------------------
from tests.image_files import CALIBRATED, KINDS, SOURCE_FORMAT, write_image_file  # noqa: E402


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_format_is_accepted_by_content(kind, tmp_path, scratch_files):
    image = np.round(lattice_image(40)).astype(np.uint16)
    path = write_image_file(kind, tmp_path, image, pixel_size_nm=0.05)
    validated = validate_upload(SimpleUploadedFile(path.name, path.read_bytes()))
    assert validated.source_format == SOURCE_FORMAT[kind]
    assert validated.array.shape == (40, 40)
    if kind in CALIBRATED:
        assert validated.pixel_size == pytest.approx((0.5, 0.5))
    assert scratch_files() == []


def test_a_renamed_file_is_read_as_its_content(tmp_path):
    path = write_image_file("npy", tmp_path, lattice_image(32))
    validated = validate_upload(SimpleUploadedFile("frame_from_colleague.dat", path.read_bytes()))
    assert validated.source_format == "npy"


@pytest.mark.parametrize(
    "name",
    ["atomap_SrTiO3_ADF_summed_999x1012.hdf5", "statstem_CsPbBr3_HAADF_241x246.mat",
     "statstem_PtIr-nanoparticle_HAADF_normalized_512x512.mat",
     "tkrem_unknown-crystal_STEM-ADF_lowdose_1024x1024.ser"],
)
def test_real_hdf5_mat_and_ser_files_are_accepted(shared_data, name, scratch_files):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared data")
    validated = validate_upload(SimpleUploadedFile(name, path.read_bytes()))
    assert validated.array.ndim == 2 and np.isfinite(validated.array).all()
    assert scratch_files() == []
