"""Fidelity metrics: does a denoised image still measure what the specimen holds?

PSNR rewards pulling every unit cell toward the lattice average; a microscopist
measures single columns. These metrics score an estimate the way atomap and StatSTEM
users read an image, against per-column ground truth (``positions`` in ``(row,
column)`` pixels; rows are the slow scan axis):

* :func:`column_intensities`: integrated intensity per column, the sum over its
  Voronoi cell (StatSTEM's scattering cross-section), capped at a radius;
* :func:`intensity_fidelity`: relative RMSE of the estimated against the true
  intensities, and the least-squares slope of estimated on true *within each species*
  (deviations from the species mean), so it measures what atom counting needs: the
  differences between columns of one kind (1 = kept, 0 = averaged away);
* :func:`defect_contrast_kept`: per defect column, (its intensity minus the median of
  its six nearest non-defect neighbours of the same species) in the estimate over the
  same in the truth; the median over defects (1 = kept, 0 = the defect removed);
* :func:`fit_gaussian_columns`: a vectorised Levenberg–Marquardt fit of
  ``background + amplitude * exp(-r²/2σ²)`` in a disc around each column (atomap's
  refinement step, written here from scratch); :func:`position_error` and
  :func:`displacement_slope` read it;
* :func:`stripe_anisotropy` and :func:`row_offset_ratio`: how much of an image (a
  residual, an error) is row-constant, relative to what an isotropic image holds;
* :func:`fidelity_metrics`: all of them for one estimate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .image_quality import psnr, residual_correlation

__all__ = [
    "GaussianFit",
    "column_intensities",
    "defect_contrast_kept",
    "displacement_slope",
    "fidelity_metrics",
    "find_peaks_near",
    "fit_gaussian_columns",
    "intensity_fidelity",
    "position_error",
    "row_offset_ratio",
    "stripe_anisotropy",
    "voronoi_labels",
]

#: Neighbours that make a defect's reference intensity.
DEFECT_NEIGHBOURS = 6
#: Defects whose true contrast is below this fraction of their species' median
#: intensity are not scored (a ratio of two tiny numbers).
MIN_DEFECT_CONTRAST = 0.05


def voronoi_labels(shape: tuple[int, int], positions: ArrayLike, *, max_radius: float
                   ) -> NDArray[np.int64]:
    """Index of the nearest column for every pixel, ``-1`` beyond ``max_radius``.

    Parameters
    ----------
    shape : (int, int)
        Image shape.
    positions : array_like
        ``(N, 2)`` column positions ``(row, column)`` in pixels.
    max_radius : float
        Pixels farther than this from every column belong to none (vacuum, support).

    Returns
    -------
    numpy.ndarray
        ``shape`` int64 labels.

    Examples
    --------
    >>> voronoi_labels((1, 6), [[0.0, 0.0], [0.0, 5.0]], max_radius=2.5).tolist()
    [[0, 0, 0, 1, 1, 1]]
    """
    from scipy.spatial import cKDTree

    points = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    m, n = shape
    if len(points) == 0:
        return np.full(shape, -1, dtype=np.int64)
    grid = np.stack(np.meshgrid(np.arange(m), np.arange(n), indexing="ij"), axis=-1)
    distance, index = cKDTree(points).query(grid.reshape(-1, 2).astype(np.float64))
    labels = np.where(distance <= max_radius, index, -1)
    return labels.reshape(shape).astype(np.int64)


def column_intensities(image: ArrayLike, positions: ArrayLike, *, max_radius: float,
                       labels: ArrayLike | None = None) -> NDArray[np.float64]:
    """Integrated intensity of each column: the sum of ``image`` over its Voronoi cell.

    Parameters
    ----------
    image : array_like
        2D image.
    positions : array_like
        ``(N, 2)`` column positions in pixels.
    max_radius : float
        Cell cap in pixels (see :func:`voronoi_labels`).
    labels : array_like, optional
        Precomputed :func:`voronoi_labels` (the same for every estimate of one scene).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` sums.

    Examples
    --------
    >>> image = np.array([[1.0, 2.0, 0.0, 5.0]])
    >>> column_intensities(image, [[0, 0], [0, 3]], max_radius=1.6).tolist()
    [3.0, 5.0]
    """
    data = np.asarray(image, dtype=np.float64)
    points = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if labels is None:
        labels = voronoi_labels(data.shape, points, max_radius=max_radius)
    flat = np.asarray(labels).ravel()
    inside = flat >= 0
    return np.bincount(flat[inside], weights=data.ravel()[inside], minlength=len(points))


@dataclass(frozen=True)
class GaussianFit:
    """Fitted 2D Gaussians, one per column.

    Attributes
    ----------
    positions : numpy.ndarray
        ``(N, 2)`` fitted centres (``NaN`` where the fit failed).
    amplitude, sigma, background : numpy.ndarray
        ``(N,)`` fitted parameters.
    ok : numpy.ndarray
        ``(N,)`` bool: converged inside the window with a positive amplitude.
    """

    positions: NDArray[np.float64]
    amplitude: NDArray[np.float64]
    sigma: NDArray[np.float64]
    background: NDArray[np.float64]
    ok: NDArray[np.bool_]


def find_peaks_near(image: ArrayLike, positions: ArrayLike, *, radius: float,
                    smoothing: float = 1.0) -> NDArray[np.float64]:
    """The brightest pixel of the smoothed image within ``radius`` of each position.

    The first step of atomap's workflow (peaks of a lightly smoothed image), started
    from where the columns would be in the perfect lattice, so a fit never starts from
    the answer.

    Parameters
    ----------
    image : array_like
        2D image.
    positions : array_like
        ``(N, 2)`` expected positions (pixels).
    radius : float
        Search radius (pixels).
    smoothing : float, optional
        Gaussian sigma (pixels) of the smoothing before the search.

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` integer pixel positions (as floats).

    Examples
    --------
    >>> image = np.zeros((9, 9)); image[5, 3] = 1.0
    >>> find_peaks_near(image, [[4.0, 4.0]], radius=2, smoothing=0).tolist()
    [[5.0, 3.0]]
    """
    from scipy.ndimage import gaussian_filter

    data = np.asarray(image, dtype=np.float64)
    if smoothing > 0:
        data = gaussian_filter(data, smoothing)
    start = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    m, n = data.shape
    half = int(np.ceil(radius))
    offsets = np.arange(-half, half + 1)
    centre = np.round(start).astype(int)
    rows = np.broadcast_to(centre[:, 0, None, None] + offsets[None, :, None],
                           (len(start), len(offsets), len(offsets)))
    cols = np.broadcast_to(centre[:, 1, None, None] + offsets[None, None, :], rows.shape)
    inside = ((rows >= 0) & (rows < m) & (cols >= 0) & (cols < n)
              & ((rows - start[:, 0, None, None]) ** 2 + (cols - start[:, 1, None, None]) ** 2
                 <= radius**2))
    values = np.where(inside, data[np.clip(rows, 0, m - 1), np.clip(cols, 0, n - 1)], -np.inf)
    best = values.reshape(len(start), -1).argmax(axis=1)
    found = np.stack([rows.reshape(len(start), -1)[np.arange(len(start)), best],
                      cols.reshape(len(start), -1)[np.arange(len(start)), best]], axis=1)
    return found.astype(np.float64)


def fit_gaussian_columns(image: ArrayLike, positions: ArrayLike, *, radius: float,
                         sigma: float | None = None, n_iterations: int = 30) -> GaussianFit:
    """Fit ``B + A exp(-((y-r)² + (x-c)²) / 2s²)`` around every column at once.

    ``B`` is the 10th percentile of the window, held fixed; ``A``, ``r``, ``c`` and ``s``
    are fitted.
    Each column gets the pixels within ``radius`` of its start position (atomap's
    default mask is 0.4 nearest-neighbour distances); all fits run together as one
    batched Levenberg–Marquardt iteration (numpy, no Python loop over columns).

    Parameters
    ----------
    image : array_like
        2D image.
    positions : array_like
        ``(N, 2)`` start positions ``(row, column)`` in pixels (known or found peaks).
    radius : float
        Radius of the fitted disc in pixels (at least 1.5).
    sigma : float, optional
        Start width in pixels (default ``radius / 2``).
    n_iterations : int, optional
        Iterations (default 30).

    Returns
    -------
    GaussianFit
        The width is kept between 0.3 px and 1.5 ``radius``; a fit that leaves the disc,
        loses its amplitude or ends at the widest width is marked failed.

    Examples
    --------
    >>> yy, xx = np.mgrid[:21, :21]
    >>> image = 2.0 + 10.0 * np.exp(-((yy - 10.3) ** 2 + (xx - 9.6) ** 2) / (2 * 1.7 ** 2))
    >>> fit = fit_gaussian_columns(image, [[10.0, 10.0]], radius=5)
    >>> np.round(fit.positions, 2).tolist()
    [[10.3, 9.6]]
    """
    data = np.asarray(image, dtype=np.float64)
    start = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    count = len(start)
    radius = max(float(radius), 1.5)
    if count == 0:
        empty = np.zeros(0)
        return GaussianFit(np.zeros((0, 2)), empty, empty, empty, np.zeros(0, bool))
    m, n = data.shape
    half = int(np.ceil(radius))
    offsets = np.arange(-half, half + 1)
    centre = np.round(start).astype(int)
    rows = centre[:, 0, None, None] + offsets[None, :, None]
    cols = centre[:, 1, None, None] + offsets[None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)
    in_image = (rows >= 0) & (rows < m) & (cols >= 0) & (cols < n)
    values = data[np.clip(rows, 0, m - 1), np.clip(cols, 0, n - 1)]
    yy, xx = rows.astype(np.float64), cols.astype(np.float64)
    mask = in_image & (((yy - start[:, 0, None, None]) ** 2
                        + (xx - start[:, 1, None, None]) ** 2) <= radius**2)
    weight = mask.reshape(count, -1).astype(np.float64)
    yy, xx, values = yy.reshape(count, -1), xx.reshape(count, -1), values.reshape(count, -1)

    masked = np.where(weight > 0, values, np.nan)
    background = np.nanpercentile(masked, 10, axis=1)
    near = (yy - start[:, 0, None]) ** 2 + (xx - start[:, 1, None]) ** 2 <= 1.5
    peak = np.nanmean(np.where(near & (weight > 0), values, np.nan), axis=1)
    theta = np.stack([np.maximum(peak - background, 1e-6 * (np.abs(peak) + 1)),
                      start[:, 0], start[:, 1],
                      np.full(count, sigma if sigma is not None else radius / 2),
                      background], axis=1)
    theta = np.nan_to_num(theta, nan=0.0)

    def model(t: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        dy = yy - t[:, 1, None]
        dx = xx - t[:, 2, None]
        s2 = t[:, 3, None] ** 2
        r2 = dy * dy + dx * dx
        g = np.exp(-0.5 * r2 / s2)
        f = t[:, 4, None] + t[:, 0, None] * g
        ag = t[:, 0, None] * g
        # the background is held at its start value (a free offset trades off against
        # the width and makes small-window fits unstable)
        jac = np.stack([g, ag * dy / s2, ag * dx / s2, ag * r2 / (s2 * t[:, 3, None]),
                        np.zeros_like(g)], axis=2)
        return f, jac

    def cost(t: NDArray[np.float64]) -> NDArray[np.float64]:
        f, _ = model(t)
        return np.sum(weight * (values - f) ** 2, axis=1)

    damping = np.full(count, 1e-3)
    current = cost(theta)
    eye = np.eye(5)
    for _ in range(n_iterations):
        f, jac = model(theta)
        residual = weight * (values - f)
        jw = jac * weight[:, :, None]
        hessian = np.einsum("npi,npj->nij", jw, jac)
        gradient = np.einsum("npi,np->ni", jac, residual)
        diagonal = np.einsum("nii->ni", hessian)
        system = hessian + damping[:, None, None] * diagonal[:, :, None] * eye + 1e-12 * eye
        system[:, 4, 4] = 1.0
        try:
            step = np.linalg.solve(system, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(a, b, rcond=None)[0]
                             for a, b in zip(system, gradient)])
        trial = theta + step
        trial[:, 3] = np.clip(np.abs(trial[:, 3]), 0.3, 1.5 * radius)  # keep a column's width
        trial_cost = cost(trial)
        better = np.isfinite(trial_cost) & (trial_cost <= current)
        theta = np.where(better[:, None], trial, theta)
        current = np.where(better, trial_cost, current)
        damping = np.where(better, damping * 0.3, damping * 10.0)
        damping = np.clip(damping, 1e-9, 1e9)
    moved = np.hypot(theta[:, 1] - start[:, 0], theta[:, 2] - start[:, 1])
    bump = np.nan_to_num(peak - background, nan=0.0) > 0  # a window with no peak at all
    ok = (np.isfinite(theta).all(axis=1) & (theta[:, 0] > 0) & bump & (moved <= radius)
          & (theta[:, 3] < 1.5 * radius))
    fitted = np.where(ok[:, None], theta[:, 1:3], np.nan)
    return GaussianFit(positions=fitted, amplitude=theta[:, 0], sigma=theta[:, 3],
                       background=theta[:, 4], ok=ok)


def _slope(x: NDArray[np.float64], y: NDArray[np.float64], *, intercept: bool) -> float:
    if len(x) < 2:
        return float("nan")
    if intercept:
        x = x - x.mean()
        y = y - y.mean()
    denominator = float(np.sum(x * x))
    if denominator <= 0:
        return float("nan")
    return float(np.sum(x * y) / denominator)


def intensity_fidelity(estimated: ArrayLike, true: ArrayLike, species: ArrayLike | None = None
                       ) -> dict[str, float]:
    """Relative RMSE and slopes of estimated on true column intensities.

    Parameters
    ----------
    estimated, true : array_like
        ``(N,)`` integrated intensities of the same columns.
    species : array_like, optional
        ``(N,)`` species labels; the ``slope`` uses deviations from each species' mean.

    Returns
    -------
    dict
        ``rel_rmse`` = RMS(estimated - true) / mean(true); ``slope``: least squares of
        (estimated - its species mean) on (true - its species mean), through 0;
        ``slope_all``: plain least squares with an intercept over all columns. A slope
        is ``NaN`` when the true values do not vary.

    Examples
    --------
    >>> true = np.array([10.0, 12.0, 8.0, 30.0, 33.0, 27.0])
    >>> kinds = [0, 0, 0, 1, 1, 1]
    >>> shrunk = np.array([10.0, 11.0, 9.0, 30.0, 31.5, 28.5])
    >>> out = intensity_fidelity(shrunk, true, kinds)
    >>> round(out["slope"], 3), round(out["slope_all"], 3)
    (0.5, 0.979)
    >>> intensity_fidelity(true, true, kinds)["rel_rmse"]
    0.0
    """
    est = np.asarray(estimated, dtype=np.float64).ravel()
    tru = np.asarray(true, dtype=np.float64).ravel()
    if est.shape != tru.shape:
        raise ValueError("estimated and true intensities differ in length")
    if len(tru) == 0:
        return {"rel_rmse": float("nan"), "slope": float("nan"), "slope_all": float("nan")}
    labels = np.zeros(len(tru), int) if species is None else np.asarray(species).ravel()
    dx, dy = tru.copy(), est.copy()
    for label in np.unique(labels):
        chosen = labels == label
        dx[chosen] -= tru[chosen].mean()
        dy[chosen] -= est[chosen].mean()
    scale = float(np.mean(np.abs(tru)))
    if np.sum(dx * dx) <= 1e-12 * scale**2 * len(dx):
        slope = float("nan")
    else:
        slope = _slope(dx, dy, intercept=False)
    return {
        "rel_rmse": float(np.sqrt(np.mean((est - tru) ** 2)) / scale) if scale else float("nan"),
        "slope": slope,
        "slope_all": _slope(tru, est, intercept=True),
    }


def defect_contrast_kept(estimated: ArrayLike, true: ArrayLike, defect: ArrayLike,
                         species: ArrayLike, positions: ArrayLike, *,
                         neighbours: int = DEFECT_NEIGHBOURS,
                         min_contrast: float = MIN_DEFECT_CONTRAST) -> float:
    """Median over defects of estimated contrast / true contrast.

    A defect's contrast is its integrated intensity minus the median intensity of its
    ``neighbours`` nearest non-defect columns of the same species.

    Parameters
    ----------
    estimated, true : array_like
        ``(N,)`` column intensities (estimate, truth).
    defect : array_like
        ``(N,)`` bool.
    species : array_like
        ``(N,)`` species labels.
    positions : array_like
        ``(N, 2)`` positions (pixels) to find the neighbours.
    neighbours : int, optional
    min_contrast : float, optional
        Defects with ``|true contrast|`` below this fraction of their reference are
        skipped.

    Returns
    -------
    float
        1 when the contrast survives, 0 when the defect is gone; ``NaN`` without
        scorable defects.

    Examples
    --------
    >>> xy = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [0, 4]], float)
    >>> true = np.array([10.0, 10.0, 6.0, 10.0, 10.0])
    >>> defect = np.array([False, False, True, False, False])
    >>> defect_contrast_kept(true, true, defect, np.zeros(5), xy, neighbours=4)
    1.0
    >>> defect_contrast_kept(np.full(5, 10.0), true, defect, np.zeros(5), xy, neighbours=4)
    0.0
    """
    from scipy.spatial import cKDTree

    est = np.asarray(estimated, dtype=np.float64).ravel()
    tru = np.asarray(true, dtype=np.float64).ravel()
    is_defect = np.asarray(defect, dtype=bool).ravel()
    labels = np.asarray(species).ravel()
    points = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    ratios = []
    for label in np.unique(labels[is_defect]):
        reference = np.flatnonzero((labels == label) & ~is_defect)
        targets = np.flatnonzero((labels == label) & is_defect)
        if len(reference) == 0:
            continue
        k = min(neighbours, len(reference))
        _, nearest = cKDTree(points[reference]).query(points[targets], k=k)
        nearest = reference[np.asarray(nearest).reshape(len(targets), k)]
        true_contrast = tru[targets] - np.median(tru[nearest], axis=1)
        est_contrast = est[targets] - np.median(est[nearest], axis=1)
        scorable = np.abs(true_contrast) >= min_contrast * np.abs(np.median(tru[nearest], axis=1))
        ratios.extend((est_contrast[scorable] / true_contrast[scorable]).tolist())
    return float(np.median(ratios)) if ratios else float("nan")


def position_error(fitted: ArrayLike, true: ArrayLike, *, cap: float) -> float:
    """RMS distance between fitted and true positions; a failed fit (``NaN``) or one
    farther than ``cap`` counts as ``cap``.

    Examples
    --------
    >>> position_error([[0.0, 0.3], [np.nan, np.nan]], [[0.0, 0.0], [5.0, 5.0]], cap=0.4)
    0.3535533905932738
    """
    fit = np.asarray(fitted, dtype=np.float64).reshape(-1, 2)
    tru = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    if len(fit) == 0:
        return float("nan")
    distance = np.hypot(*(fit - tru).T)
    distance = np.where(np.isfinite(distance), np.minimum(distance, cap), cap)
    return float(np.sqrt(np.mean(distance**2)))


def displacement_slope(fitted: ArrayLike, ideal: ArrayLike, true_displacement: ArrayLike
                       ) -> float:
    """Least-squares slope (with intercept) of fitted on true displacement.

    Displacements are projected on their main direction (the principal axis of the
    true ones); failed fits (``NaN``) are left out.

    Parameters
    ----------
    fitted : array_like
        ``(N, 2)`` fitted positions.
    ideal : array_like
        ``(N, 2)`` undisplaced positions.
    true_displacement : array_like
        ``(N, 2)`` true displacements.

    Returns
    -------
    float
        1 when the displacements survive, 0 when they are averaged away.

    Examples
    --------
    >>> ideal = np.zeros((4, 2))
    >>> true = np.array([[0.5, 0.0], [-0.5, 0.0], [0.5, 0.0], [-0.5, 0.0]])
    >>> displacement_slope(ideal + 0.5 * true, ideal, true)
    0.5
    """
    fit = np.asarray(fitted, dtype=np.float64).reshape(-1, 2)
    base = np.asarray(ideal, dtype=np.float64).reshape(-1, 2)
    tru = np.asarray(true_displacement, dtype=np.float64).reshape(-1, 2)
    good = np.isfinite(fit).all(axis=1)
    if good.sum() < 2:
        return float("nan")
    _, _, axes = np.linalg.svd(tru[good], full_matrices=False)
    direction = axes[0]
    return _slope(tru[good] @ direction, (fit[good] - base[good]) @ direction, intercept=True)


def _centred_power(image: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                               NDArray[np.float64]]:
    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2 or min(data.shape) < 8:
        raise ValueError(f"need a 2D image of at least 8x8, got shape {data.shape}")
    power = np.abs(np.fft.fft2(data - data.mean())) ** 2
    fy = np.fft.fftfreq(data.shape[0])[:, None]
    fx = np.fft.fftfreq(data.shape[1])[None, :]
    return power, fy, fx


def stripe_anisotropy(image: ArrayLike, *, band: float = 0.125) -> float:
    """Power of the row-constant components, relative to an isotropic image's.

    With ``P`` the 2D power spectrum (frequencies in cycles per pixel, ``fy`` along the
    slow axis, ``fx`` along the fast one), this is the power on the slow-axis line
    (``fx = 0``, ``0 < |fy| <= band``: rows that shift as a whole, line offsets, 1/f
    drift between lines) divided by what an isotropic image has at the same
    frequencies: for each line frequency, the mean of ``P`` over the ring of that
    radius (one frequency step wide) off both axes. It is 1 for white or any
    isotropic noise, whatever its spectrum, and above 1 when the image holds stripes
    along the fast axis.

    Parameters
    ----------
    image : array_like
        2D array, e.g. a residual ``noisy - estimate`` or an error ``estimate - clean``.
    band : float, optional
        Highest frequency compared (cycles per pixel; default 1/8: structures of 8
        rows and more).

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> white = rng.normal(size=(256, 256))
    >>> 0.7 < stripe_anisotropy(white) < 1.4
    True
    >>> stripy = white + rng.normal(size=(256, 1))
    >>> stripe_anisotropy(stripy) > 50
    True
    """
    power, fy, fx = _centred_power(image)
    step = 1.0 / power.shape[0]
    ring = np.rint(np.hypot(fy, fx) / step).astype(int)
    off_axes = (fx != 0) & (fy != 0)
    line_total, reference_total = 0.0, 0.0
    for k in range(1, int(np.floor(band / step)) + 1):
        on_line = (fx == 0) & (np.abs(np.rint(fy / step)) == k)
        around = off_axes & (ring == k)
        if not on_line.any() or not around.any():
            continue
        line_total += float(power[on_line].mean())
        reference_total += float(power[around].mean())
    if reference_total <= 0:
        return float("nan")
    return line_total / reference_total


def row_offset_ratio(image: ArrayLike) -> float:
    """Variance of the row means times the row length, over the variance of the image.

    1 for white noise (a row mean of ``n`` white pixels has ``1/n`` of their variance),
    larger when whole rows are offset.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(row_offset_ratio(rng.normal(size=(400, 400))), 1)
    1.0
    """
    data = np.asarray(image, dtype=np.float64)
    total = float(data.var())
    if total <= 0:
        return float("nan")
    return float(data.mean(axis=1).var() * data.shape[1] / total)


def fidelity_metrics(clean: ArrayLike, noisy: ArrayLike, estimate: ArrayLike, truth: Any, *,
                     perfect: ArrayLike | None = None,
                     labels: ArrayLike | None = None) -> dict[str, float]:
    """Every fidelity metric of one estimate against a scene's ground truth.

    Parameters
    ----------
    clean, noisy, estimate : array_like
        Expected counts, input and output (same 2D shape).
    truth : ColumnTruth
        Per-column ground truth (:class:`denoiser.reucid.simulation.scenes.ColumnTruth`
        or anything with its attributes ``positions``, ``ideal_positions``,
        ``displacement``, ``displaced``, ``species``, ``defect``, ``weight``,
        ``perfect_weight``, ``evaluated``, ``intensity``, ``fit_radius_px``,
        ``integration_radius_px``, ``pixel_size_A``).
    perfect : array_like, optional
        Expected counts without the defects; adds ``defect_retained``.
    labels : array_like, optional
        Precomputed :func:`voronoi_labels` of the truth's positions.

    Returns
    -------
    dict
        ``psnr`` (dB); ``residual_correlation`` (Pearson(noisy - estimate, clean));
        ``defect_contrast`` (:func:`defect_contrast_kept`); ``defect_retained``
        (<estimate - perfect, clean - perfect> / ||clean - perfect||², pixel-wise);
        ``intensity_rel_rmse``, ``intensity_slope``, ``intensity_slope_all``
        (:func:`intensity_fidelity`); ``position_error_pm`` (RMS, capped at the fit
        radius; columns that hold at least 30 % of their atoms; each fit starts at the
        smoothed image's peak near the perfect-lattice site, :func:`find_peaks_near`);
        ``displacement_slope`` (``NaN`` without displaced columns); ``error_stripes``
        and ``residual_stripes`` (:func:`stripe_anisotropy` of ``estimate - clean``
        and ``noisy - estimate``); ``fit_failed`` (fraction of failed fits);
        ``n_columns``, ``n_defects``.

    Examples
    --------
    >>> from denoiser.reucid.simulation.scenes import make_scene
    >>> scene = make_scene("vacancies_thick", 10000, seed=0, size=96)
    >>> out = fidelity_metrics(scene.clean, scene.noisy, scene.clean, scene.truth)
    >>> out["defect_contrast"], out["intensity_slope"], out["intensity_rel_rmse"]
    (1.0, 1.0, 0.0)
    """
    x = np.asarray(clean, dtype=np.float64)
    z = np.asarray(noisy, dtype=np.float64)
    y = np.asarray(estimate, dtype=np.float64)
    evaluated = np.asarray(truth.evaluated, dtype=bool)
    positions = np.asarray(truth.positions, dtype=np.float64)
    if labels is None:
        labels = voronoi_labels(x.shape, positions, max_radius=truth.integration_radius_px)
    estimated = column_intensities(y, positions, max_radius=truth.integration_radius_px,
                                   labels=labels)
    true = np.asarray(truth.intensity, dtype=np.float64)
    species = np.asarray(truth.species)
    intensity = intensity_fidelity(estimated[evaluated], true[evaluated], species[evaluated])
    defect = np.asarray(truth.defect, dtype=bool)
    contrast = defect_contrast_kept(estimated[evaluated], true[evaluated], defect[evaluated],
                                    species[evaluated], positions[evaluated])
    has_atom = evaluated & (np.asarray(truth.weight) >= 0.3 * np.asarray(truth.perfect_weight))
    # atomap's way: peaks of the smoothed image near the perfect-lattice sites, then a
    # Gaussian fit around each peak (never started from the true, displaced position)
    ideal = np.asarray(truth.ideal_positions, dtype=np.float64)[has_atom]
    peaks = find_peaks_near(y, ideal, radius=truth.fit_radius_px)
    fit = fit_gaussian_columns(y, peaks, radius=truth.fit_radius_px)
    error_px = position_error(fit.positions, positions[has_atom], cap=truth.fit_radius_px)
    displaced = np.asarray(truth.displaced, dtype=bool)[has_atom]
    if displaced.sum() >= 2:
        slope = displacement_slope(fit.positions[displaced],
                                   np.asarray(truth.ideal_positions)[has_atom][displaced],
                                   np.asarray(truth.displacement)[has_atom][displaced])
    else:
        slope = float("nan")
    result = {
        "psnr": psnr(x, y),
        "residual_correlation": residual_correlation(x, z, y),
        "defect_contrast": contrast,
        "defect_retained": float("nan"),
        "intensity_rel_rmse": intensity["rel_rmse"],
        "intensity_slope": intensity["slope"],
        "intensity_slope_all": intensity["slope_all"],
        "position_error_pm": error_px * float(truth.pixel_size_A) * 100.0,
        "displacement_slope": slope,
        "error_stripes": stripe_anisotropy(y - x) if np.any(y != x) else float("nan"),
        "residual_stripes": stripe_anisotropy(z - y) if np.any(z != y) else float("nan"),
        "fit_failed": float(1.0 - fit.ok.mean()) if len(fit.ok) else float("nan"),
        "n_columns": int(evaluated.sum()),
        "n_defects": int((defect & evaluated).sum()),
    }
    if perfect is not None:
        base = np.asarray(perfect, dtype=np.float64)
        change = x - base
        energy = float(np.sum(change * change))
        if energy > 0:
            result["defect_retained"] = float(np.sum((y - base) * change) / energy)
    return result
