"""Pictures: grey scaling, diverging residual map, eigenpatch gallery, scree SVG."""
import numpy as np

from denoiser.rendering import (
    display_range,
    diverging_rgb,
    downsample_for_display,
    eigenpatch_gallery,
    scale_bar_length,
    scree_svg,
    to_grey_uint8,
    with_scale_bar,
)


def test_grey_scaling_clips_and_does_not_mutate():
    image = np.array([[-5.0, 0.0, 0.5, 1.0, 9.0, np.nan]])
    before = image.copy()
    grey = to_grey_uint8(image, value_range=(0.0, 1.0))
    assert grey.tolist() == [[0, 0, 128, 255, 255, 0]]
    np.testing.assert_array_equal(image, before)


def test_display_range_is_robust_to_outliers():
    values = np.concatenate([np.linspace(0, 1, 10_000), [1e6]])
    low, high = display_range(values, low_percentile=0.1, high_percentile=99.9)
    assert low < 0.01 and high < 1.1


def test_diverging_map_is_white_at_zero_and_signed():
    rgb = diverging_rgb(np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]]), limit=1.0)
    assert rgb[0, 2].tolist() == [247, 247, 247]
    assert rgb[0, 0].tolist() == rgb[0, 1].tolist()  # clipped at the limit
    negative, positive = rgb[0, 1], rgb[0, 3]
    assert negative[2] > negative[0]  # blue for input < output
    assert positive[0] > positive[2]  # red for input > output


def test_diverging_default_limit_is_a_magnitude_percentile():
    values = np.random.default_rng(1).normal(size=(50, 50)) + 0.3
    limit = float(np.percentile(np.abs(values), 99.5))
    np.testing.assert_array_equal(diverging_rgb(values), diverging_rgb(values, limit=limit))
    np.testing.assert_array_equal(diverging_rgb(-values), diverging_rgb(-values, limit=limit))


def test_gallery_frames_kept_green_and_dropped_grey():
    patches = np.random.default_rng(0).normal(size=(5, 7, 7))
    kept = np.array([True, True, False, False, False])
    gallery = eigenpatch_gallery(patches, kept, tile=14, columns=5, frame=2, gap=3)
    assert gallery.shape == (3 + 18 + 3, 3 + 5 * 18 + 5 * 3, 3)
    assert gallery[3, 3].tolist() == [27, 127, 59]  # first tile's frame: kept
    third_left = 3 + 2 * (18 + 3)
    assert gallery[3, third_left].tolist() == [170, 174, 184]  # third tile: dropped


def test_scree_svg_marks_kept_components():
    svg = scree_svg(
        [
            {"eigenvalues": [100.0, 10.0, 1.0, 0.5], "kept": [True, True, False, False]},
            {"eigenvalues": [90.0, 9.0, 1.1, 0.4], "kept": [True, False, False, False]},
        ]
    )
    assert svg.count("<circle") == 8
    assert svg.count('data-kept="true"') == 3
    assert svg.count("<polyline") == 2
    assert "<script" not in svg


def test_scree_svg_without_eigenvalues_says_so():
    assert "No eigenvalues" in scree_svg([])


def test_scale_bar_is_drawn_without_touching_the_input():
    grey = np.full((256, 256), 100, np.uint8)
    marked = with_scale_bar(grey, 0.25)  # 64 Å field of view -> a 1 nm bar of 40 px
    assert scale_bar_length(64.0) == 10.0
    assert (grey == 100).all()
    changed_rows, changed_cols = np.nonzero(marked != grey)
    assert changed_rows.min() > 256 // 2 and changed_cols.max() < 256 // 2  # lower left
    bar_row = marked[256 - 6 - 2]
    assert np.count_nonzero(bar_row == 255) == 40


def test_downsample_keeps_aspect_and_mean():
    image = np.random.default_rng(0).random((400, 200)).astype(np.float32)
    small = downsample_for_display(image, max_side=100)
    assert small.shape == (100, 50)
    assert abs(float(small.mean()) - float(image.mean())) < 1e-3
    assert downsample_for_display(image, max_side=1000) is image
