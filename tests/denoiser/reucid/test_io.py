"""Reading and writing images: formats, pixel sizes, broken files, real microscope data."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io
import tifffile
from PIL import Image

from denoiser.reucid import InvalidImageError, read_image, write_tiff


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 200, size=(24, 30)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_tiff_of_every_depth(tmp_path, image, dtype):
    target = tmp_path / "in.tif"
    tifffile.imwrite(target, image.astype(dtype))
    data = read_image(target)
    assert data.array.dtype == np.float32 and data.array.shape == (24, 30)
    np.testing.assert_array_equal(data.array, image.astype(np.float32))
    assert data.pixel_size is None and data.source_format == "tiff"


def test_imagej_tiff_pixel_size_in_nm_becomes_angstrom(tmp_path, image):
    target = tmp_path / "imagej.tif"
    tifffile.imwrite(target, image.astype(np.uint16), imagej=True,
                     resolution=(1 / 0.0125, 1 / 0.025), metadata={"unit": "nm"})
    assert read_image(target).pixel_size == pytest.approx((0.25, 0.125))


def test_write_tiff_round_trip_keeps_pixel_size_and_diagnostics(tmp_path, image):
    target = tmp_path / "out.tif"
    write_tiff(target, image, pixel_size=(0.3, 0.2), metadata={"patch_size": 7, "kept": [1, 2]})
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].dtype == np.float32
    data = read_image(target)
    assert data.pixel_size == pytest.approx((0.3, 0.2))
    assert data.metadata["reucid"] == {"patch_size": 7, "kept": [1, 2]}
    np.testing.assert_array_equal(data.array, image.astype(np.float32))


def test_write_tiff_refuses_unserialisable_metadata(tmp_path, image):
    with pytest.raises(ValueError, match="JSON"):
        write_tiff(tmp_path / "x.tif", image, metadata={"bad": object()})


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_greyscale_png(tmp_path, image, mode):
    target = tmp_path / "in.png"
    array = image.astype(np.uint8 if mode == "L" else np.uint16)
    Image.fromarray(array).save(target)
    np.testing.assert_array_equal(read_image(target).array, array.astype(np.float32))


def test_png_rgb_accepted_only_if_grey(tmp_path, image):
    grey = image.astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png").array, grey)
    colour = np.stack([grey, grey // 2, grey], axis=-1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(InvalidImageError, match="colour"):
        read_image(tmp_path / "colour.png")


def test_png_grey_with_alpha_and_palette(tmp_path, image):
    grey = image.astype(np.uint8)
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png").array, grey)
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    with pytest.raises(InvalidImageError, match="palette"):
        read_image(tmp_path / "palette.png")


def test_npy_without_pickles(tmp_path, image):
    np.save(tmp_path / "a.npy", image)
    np.testing.assert_array_equal(read_image(tmp_path / "a.npy").array, image.astype(np.float32))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidImageError):
        read_image(tmp_path / "objects.npy")


def test_mrc_with_voxel_size(tmp_path, image):
    mrcfile = pytest.importorskip("mrcfile")
    target = tmp_path / "a.mrc"
    with mrcfile.new(target) as mrc:
        mrc.set_data(image.astype(np.float32))
        mrc.voxel_size = (0.5, 0.75, 1.0)
    data = read_image(target)
    assert data.pixel_size == pytest.approx((0.75, 0.5))
    np.testing.assert_array_equal(data.array, image.astype(np.float32))


def test_hspy_through_rosettasciio(tmp_path, image):
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("rsciio.hspy")
    # rosettasciio (optional) only for its formats
    from rsciio.hspy import file_writer

    signal = {
        "data": image.astype(np.float32),
        "axes": [
            {"name": "y", "scale": 0.02, "offset": 0.0, "units": "nm", "size": 24, "navigate": False},
            {"name": "x", "scale": 0.02, "offset": 0.0, "units": "nm", "size": 30, "navigate": False},
        ],
        "metadata": {"General": {"title": "test"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "package_info": {"package": "", "package_version": ""},
        "learning_results": {},
        "models": {},
    }
    target = tmp_path / "a.hspy"
    file_writer(str(target), signal)
    assert h5py.is_hdf5(target)
    data = read_image(target)
    assert data.pixel_size == pytest.approx((0.2, 0.2))
    np.testing.assert_array_equal(data.array, image.astype(np.float32))


def test_stacks_need_a_frame(tmp_path, image):
    target = tmp_path / "stack.tif"
    tifffile.imwrite(target, np.stack([image, image + 1, image + 2]).astype(np.uint16),
                     photometric="minisblack")
    with pytest.raises(InvalidImageError, match="stack of 3 frames"):
        read_image(target)
    np.testing.assert_array_equal(read_image(target, frame=2).array, image + 2)
    with pytest.raises(InvalidImageError, match="out of range"):
        read_image(target, frame=5)


def test_unknown_extension_missing_and_truncated_files(tmp_path, image):
    (tmp_path / "a.jpg2").write_bytes(b"x")
    with pytest.raises(InvalidImageError, match="not a recognised image file"):
        read_image(tmp_path / "a.jpg2")
    with pytest.raises(InvalidImageError, match="no such file"):
        read_image(tmp_path / "absent.tif")
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, image.astype(np.uint16))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InvalidImageError, match="truncated or not an image"):
        read_image(truncated)
    (tmp_path / "text.tif").write_text("this is not an image")
    with pytest.raises(InvalidImageError):
        read_image(tmp_path / "text.tif")
    for name in ("bad.emd", "bad.ser", "bad.dm4", "bad.mrc", "bad.png", "bad.npy"):
        (tmp_path / name).write_bytes(b"\x00\x01garbage" * 20)
        with pytest.raises(InvalidImageError):
            read_image(tmp_path / name)


def test_huge_images_are_refused(tmp_path, image):
    np.save(tmp_path / "a.npy", image)
    with pytest.raises(InvalidImageError, match="crop or bin"):
        read_image(tmp_path / "a.npy", max_pixels=100)


def test_nan_in_a_file_is_refused(tmp_path, image):
    image[3, 3] = np.nan
    np.save(tmp_path / "nan.npy", image)
    with pytest.raises(InvalidImageError, match="NaN"):
        read_image(tmp_path / "nan.npy")


REAL_FILES = [
    ("ncempy_SrTiO3_TitanCubed-80kV_STEM-ADF_1024x1024.ser", (1024, 1024), 0.1001),
    ("ncempy_SrTiO3_TEAM05-200kV_STEM-ADF_1024x1024.emd", (1024, 1024), 0.1225),
    ("remworkflows_SrTiO3-100_Osiris-200kV_HAADF_512x512.tif", (512, 512), None),
    ("temul_PbTiO3-SrRuO3_Titan-300kV_HAADF_224x1312.hspy", (224, 1312), 0.1500),
    ("atomap_SrTiO3_ADF_summed_999x1012.hdf5", (999, 1012), None),
    ("statstem_CsPbBr3_HAADF_241x246.npy", (241, 246), None),
]


@pytest.mark.parametrize(("name", "shape", "pixel_size"), REAL_FILES)
def test_real_microscope_files(shared_data, name, shape, pixel_size):
    path = shared_data / "real" / name
    if not path.is_file():
        pytest.skip(f"{name} not present")
    data = read_image(path)
    assert data.array.shape == shape and data.array.dtype == np.float32
    assert np.isfinite(data.array).all() and np.ptp(data.array) > 0
    if pixel_size is not None:
        assert data.pixel_size == pytest.approx((pixel_size, pixel_size), rel=1e-3)
    json.dumps(data.metadata)


# --- every format, by content ------------------------------------------------------------
from denoiser.reucid.io import (  # noqa: E402
    DEFAULT_MAX_PIXELS,
    ImageHeader,
    check_declared_size,
    detect_format,
    inspect_image,
)
from tests.image_files import CALIBRATED, KINDS, SOURCE_FORMAT, write_image_file  # noqa: E402


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_format_is_read_by_content_with_its_pixel_size(tmp_path, image, kind):
    if kind in ("hspy", "hdf5", "hspy-misnamed"):
        pytest.importorskip("rsciio.hspy")
    path = write_image_file(kind, tmp_path, image, pixel_size_nm=0.02)
    assert detect_format(path) == SOURCE_FORMAT[kind]
    data = read_image(path)
    assert data.source_format == SOURCE_FORMAT[kind]
    # Berkeley EMD stores (x, y); rosettasciio shows it as HyperSpy does, transposed
    expected = image.T if kind == "emd" else image
    np.testing.assert_array_equal(data.array, expected.astype(np.float32))
    if kind in CALIBRATED:
        assert data.pixel_size == pytest.approx((0.2, 0.2), rel=1e-6)
    else:
        assert data.pixel_size is None
    json.dumps(data.metadata)


def test_a_file_named_for_another_format_is_read_as_what_it_is(tmp_path, image):
    tiff = write_image_file("tiff", tmp_path, image)
    disguised = tmp_path / "really_a_tiff.npy"
    disguised.write_bytes(tiff.read_bytes())
    assert read_image(disguised).source_format == "tiff"


def test_hyperspy_axes_units_and_original_metadata_are_kept(tmp_path, image):
    pytest.importorskip("rsciio.hspy")
    data = read_image(write_image_file("hdf5", tmp_path, image, pixel_size_nm=0.05))
    assert [axis["units"] for axis in data.metadata["axes"]] == ["nm", "nm"]
    assert [axis["scale"] for axis in data.metadata["axes"]] == [0.05, 0.05]
    assert data.metadata["original_metadata"] == {"Microscope": {"voltage_kV": 300}}
    assert data.metadata["title"] == "test frame"


def test_statstem_mat_without_struct_reads_the_one_image_variable(tmp_path, image):
    scipy.io.savemat(tmp_path / "plain.mat", {"frame": image, "note": "HAADF"})
    data = read_image(tmp_path / "plain.mat")
    np.testing.assert_array_equal(data.array, image.astype(np.float32))
    scipy.io.savemat(tmp_path / "text.mat", {"note": "no image here"})
    with pytest.raises(InvalidImageError, match="no 2-D image"):
        read_image(tmp_path / "text.mat")


def test_inspect_reads_only_the_header_of_one_frame(tmp_path, image):
    stack = np.stack([image, image + 1, image + 2]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    header = inspect_image(tmp_path / "stack.tif", frame=1)
    assert (header.shape, header.itemsize, header.n_frames) == ((24, 30), 2, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "stack.tif", frame=1).array, image + 1)


def test_size_equal_to_the_limit_passes_and_the_message_is_true(tmp_path):
    side = 8192
    check_declared_size(ImageHeader("png", (side, side)), max_pixels=side * side)
    with pytest.raises(InvalidImageError) as refused:
        check_declared_size(ImageHeader("png", (side, side + 1)), max_pixels=side * side)
    assert f"{side}x{side + 1} = {side * (side + 1)} pixels is more than the {side * side}" in str(
        refused.value)
    with pytest.raises(InvalidImageError, match="4 colour bands"):
        check_declared_size(ImageHeader("png", (side, side), bands=4), max_pixels=side * side)
    with pytest.raises(InvalidImageError, match="MB to decode"):
        check_declared_size(ImageHeader("npy", (side, side), itemsize=16),
                            max_pixels=DEFAULT_MAX_PIXELS)


def test_mat_compression_bomb_is_refused_while_inflating(tmp_path):
    scipy.io.savemat(tmp_path / "bomb.mat", {"frame": np.zeros((2048, 2048))},
                     do_compression=True)  # 32 MB of zeros, a few kB on disk
    assert (tmp_path / "bomb.mat").stat().st_size < 200_000
    with pytest.raises(InvalidImageError, match="inflate to more than"):
        read_image(tmp_path / "bomb.mat", max_pixels=512 * 512)


def test_hdf5_from_atomap_and_statstem_mat_real_files(shared_data):
    folder = shared_data / "real"
    mat = folder / "statstem_PtIr-nanoparticle_HAADF_normalized_512x512.mat"
    copy = folder / "statstem_PtIr-nanoparticle_HAADF_normalized_512x512.npy"
    if not (mat.is_file() and copy.is_file()):
        pytest.skip("StatSTEM files not present")
    data = read_image(mat)
    assert data.pixel_size == pytest.approx((0.1211, 0.1211))
    np.testing.assert_allclose(data.array, np.load(copy), rtol=1e-6)


@pytest.mark.parametrize("kind", ["hspy", "velox", "emd", "mat73"])
def test_hdf5_files_are_closed_after_reading(tmp_path, image, kind):
    """No HDF5 handle stays open behind the image (a web process reads thousands)."""
    path = write_image_file(kind, tmp_path, image)
    read_image(path)
    with h5py.File(path, "w"):  # truncating fails while any handle is still open
        pass


def test_velox_spectrum_streams_do_not_count_and_are_not_read(tmp_path, image):
    path = write_image_file("velox", tmp_path, image)
    with h5py.File(path, "a") as handle:  # a large EDS stream next to the small image
        handle.create_dataset("Data/SpectrumStream/x/Data", shape=(4096, 4096), dtype="u2",
                              compression="gzip")
    assert read_image(path, max_pixels=64 * 64).array.shape == image.shape


@pytest.mark.parametrize("tail", [b"", bytes(range(256)) * 3])
def test_a_damaged_file_with_the_hdf5_signature_is_refused_with_a_clear_error(tmp_path, tail):
    # found by the upload fuzzer: h5py's OSError used to escape the format detection
    damaged = tmp_path / "frame.emd"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + tail)
    assert detect_format(damaged) == "hdf5"
    with pytest.raises(InvalidImageError, match="could not be read as HDF5"):
        read_image(damaged)
