"""Built-in incoherent-imaging HAADF-STEM simulator (pure numpy; no Django).

A HAADF image is modelled as the projected crystal's atomic columns, each scattering a
fraction of the beam proportional to the sum of Z^1.7 over its atoms, convolved with a
probe made of a Gaussian core and a slowly decaying tail. It is not multislice (use abTEM
for that, see :mod:`denoiser.reucid.simulation.multislice`), but it is fast, has exact ground truth,
and covers what matters for training an eigenpatch classifier: several lattices and
column widths (pixel sizes 0.1-0.35 Å), vacuum, edges, vacancies, substitutions and a
slowly drifting background.

Noise follows the paper (and ``shared/data/sim/README.md``): Poisson shot noise at a dose
given in electrons per Å² (converted to electrons per pixel with the pixel area), plus
Gaussian detector noise with a standard deviation of 5 % of the largest expected count.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Exponent of the HAADF Z-contrast law used for column intensities.
Z_EXPONENT = 1.7
#: Fraction of the beam scattered to the detector per unit of sum(Z^1.7); puts the
#: brightest columns of a 5-10 nm thick perovskite near 0.1-0.3, like abTEM does.
SCATTERING_PER_Z17 = 1.2e-5


@dataclass(frozen=True)
class ProjectedCell:
    """A rectangular projected unit cell: where the atomic columns sit and what is in them.

    Attributes
    ----------
    name
        Material and zone axis, e.g. ``"SrTiO3_001"``.
    size_A
        ``(width, height)`` of the rectangular cell in Å.
    columns
        ``(fx, fy, atomic numbers)`` per column, fractional coordinates in the cell;
        the atomic numbers are the atoms of one repeat along the beam.
    repeat_A
        Length along the beam of one repeat of every column, in Å.
    """

    name: str
    size_A: tuple[float, float]
    columns: tuple[tuple[float, float, tuple[int, ...]], ...]
    repeat_A: float
    substitute_Z: int | None = None  # the dopant a "substitution" puts into a column


_SQ2 = math.sqrt(2.0)
CRYSTALS: dict[str, ProjectedCell] = {
    "Si_110": ProjectedCell(
        "Si_110", (5.431 / _SQ2, 5.431),
        ((0.0, 0.0, (14,)), (0.0, 0.25, (14,)), (0.5, 0.5, (14,)), (0.5, 0.75, (14,))),
        5.431 / _SQ2, substitute_Z=32,
    ),
    "GaAs_110": ProjectedCell(
        "GaAs_110", (5.653 / _SQ2, 5.653),
        ((0.0, 0.0, (31,)), (0.0, 0.25, (33,)), (0.5, 0.5, (31,)), (0.5, 0.75, (33,))),
        5.653 / _SQ2, substitute_Z=49,
    ),
    "SrTiO3_001": ProjectedCell(
        "SrTiO3_001", (3.905, 3.905),
        ((0.0, 0.0, (38, 8)), (0.5, 0.5, (22,)), (0.5, 0.0, (8,)), (0.0, 0.5, (8,))),
        3.905, substitute_Z=57,
    ),
    "BaTiO3_001": ProjectedCell(
        "BaTiO3_001", (4.0, 4.0),
        ((0.0, 0.0, (56, 8)), (0.5, 0.5, (22,)), (0.5, 0.0, (8,)), (0.0, 0.5, (8,))),
        4.0, substitute_Z=60,
    ),
    "NdBaTiO3_001": ProjectedCell(
        # Nd-doped BaTiO3: a tenth of the A sites hold Nd on average.
        "NdBaTiO3_001", (4.0, 4.0),
        ((0.0, 0.0, (56, 8)), (0.5, 0.5, (22,)), (0.5, 0.0, (8,)), (0.0, 0.5, (8,))),
        4.0, substitute_Z=60,
    ),
    "graphene": ProjectedCell(
        "graphene", (2.46, 2.46 * math.sqrt(3.0)),
        ((0.0, 0.0, (6,)), (0.5, 1 / 6, (6,)), (0.5, 0.5, (6,)), (0.0, 2 / 3, (6,))),
        3.35, substitute_Z=7,
    ),
    "Au_110": ProjectedCell(
        "Au_110", (4.078 / _SQ2, 4.078),
        ((0.0, 0.0, (79,)), (0.5, 0.5, (79,))),
        4.078 / _SQ2, substitute_Z=78,
    ),
    "Pt_001": ProjectedCell(
        "Pt_001", (3.924, 3.924),
        ((0.0, 0.0, (78,)), (0.5, 0.5, (78,)), (0.5, 0.0, (78,)), (0.0, 0.5, (78,))),
        3.924, substitute_Z=77,
    ),
    "MgO_001": ProjectedCell(
        "MgO_001", (4.212, 4.212),
        ((0.0, 0.0, (12, 8)), (0.5, 0.5, (12, 8)), (0.5, 0.0, (8, 12)), (0.0, 0.5, (8, 12))),
        4.212, substitute_Z=26,
    ),
}
#: Materials the shipped classifier trains on; the rest are held out to test it.
TRAINING_MATERIALS: tuple[str, ...] = ("Si_110", "SrTiO3_001", "BaTiO3_001", "graphene",
                                        "Pt_001", "MgO_001")
HELD_OUT_MATERIALS: tuple[str, ...] = ("Au_110", "GaAs_110", "NdBaTiO3_001")
ENVIRONMENTS: tuple[str, ...] = ("bulk", "particle", "edge")


@dataclass(frozen=True)
class ProbeModel:
    """Probe intensity: Gaussian core plus a tail ``t * g^3/(r^2+g^2)^1.5``.

    The tail stands in for aberrations and source size; it is what makes neighbouring
    columns overlap and gives vacuum next to a crystal a faint glow.
    """

    core_fwhm_A: float = 0.9
    tail_weight: float = 0.08
    tail_width_A: float = 1.5

    def intensity(self, r_A: np.ndarray) -> np.ndarray:
        """Probe intensity at distance ``r_A`` (Å), normalised to 1 at the centre (core)."""
        sigma = self.core_fwhm_A / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        core = np.exp(-0.5 * (r_A / sigma) ** 2)
        g = self.tail_width_A
        tail = self.tail_weight * g**3 / (r_A**2 + g**2) ** 1.5
        return core + tail

    @property
    def extent_A(self) -> float:
        """Radius beyond which the probe is negligible for rendering."""
        return max(4.0 * self.core_fwhm_A, 5.0 * self.tail_width_A)


@dataclass
class SimulatedImage:
    """A noise-free simulated HAADF image with its ground truth.

    Attributes
    ----------
    clean
        ``(m, n)`` float32: fraction of the incident beam reaching the detector.
    pixel_size_A
        Pixel size in Å (square pixels).
    material
        Key into :data:`CRYSTALS`.
    column_positions_px
        ``(N, 2)`` (row, column) positions of the rendered atomic columns.
    parameters
        Everything needed to reproduce the image (seed included).
    """

    clean: np.ndarray
    pixel_size_A: float
    material: str
    column_positions_px: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _lattice_columns(
    cell: ProjectedCell, half_diagonal_A: float
) -> tuple[np.ndarray, np.ndarray]:
    """Column positions (Å, centred on 0) and per-repeat sum Z^1.7, covering a disc."""
    width, height = cell.size_A
    nx = int(math.ceil(half_diagonal_A / width)) + 1
    ny = int(math.ceil(half_diagonal_A / height)) + 1
    ii, jj = np.meshgrid(np.arange(-nx, nx + 1), np.arange(-ny, ny + 1), indexing="ij")
    positions, weights = [], []
    for fx, fy, atoms in cell.columns:
        xs = (ii.ravel() + fx) * width
        ys = (jj.ravel() + fy) * height
        positions.append(np.stack([xs, ys], axis=1))
        weights.append(np.full(xs.size, sum(z**Z_EXPONENT for z in atoms)))
    return np.concatenate(positions), np.concatenate(weights)


def _sample_region_mask(
    environment: str, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Boolean (m, n) mask of where the specimen is (vacuum elsewhere)."""
    m, n = shape
    rows, cols = np.mgrid[0:m, 0:n].astype(np.float64)
    if environment == "bulk":
        return np.ones(shape, bool)
    if environment == "particle":
        centre = np.array([m, n]) * rng.uniform(0.35, 0.65, size=2)
        radius = min(m, n) * rng.uniform(0.25, 0.45)
        aspect = rng.uniform(0.75, 1.3)
        return ((rows - centre[0]) / aspect) ** 2 + ((cols - centre[1]) * aspect) ** 2 <= radius**2
    if environment == "edge":
        angle = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(-0.25, 0.25) * min(m, n)
        signed = (rows - m / 2) * math.cos(angle) + (cols - n / 2) * math.sin(angle)
        return signed <= offset
    raise ValueError(f"unknown environment {environment!r}; choose from {ENVIRONMENTS}")


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A slowly varying random field in [-1, 1] (low-order 2D polynomial)."""
    m, n = shape
    y = np.linspace(-1, 1, m)[:, None]
    x = np.linspace(-1, 1, n)[None, :]
    a = rng.normal(size=6)
    field_ = a[0] * x + a[1] * y + a[2] * x * y + a[3] * x**2 + a[4] * y**2 + a[5] * x * y**2
    return field_ / max(float(np.max(np.abs(field_))), 1e-12)


def _render_columns(rc: np.ndarray, weights: np.ndarray, shape: tuple[int, int],
                    pixel: float, probe: ProbeModel) -> np.ndarray:
    """Sum of probe images at sub-pixel column positions.

    The sharp Gaussian core is evaluated exactly in a small window around each column;
    the broad tail is smooth, so the columns are splatted bilinearly onto a padded grid
    and convolved with the sampled tail by FFT (fast even at 0.1 Å pixels).
    """
    from scipy.signal import fftconvolve

    m, n = shape
    image = np.zeros((m, n), np.float64)
    sigma = probe.core_fwhm_A / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    radius = int(math.ceil(4.0 * sigma / pixel)) + 1
    offsets = np.arange(-radius, radius + 1)
    for start in range(0, len(weights), 512):  # bounded memory for large images
        chunk = rc[start:start + 512]
        base = np.floor(chunk).astype(int)
        rows = base[:, 0, None, None] + offsets[None, :, None]
        cols = base[:, 1, None, None] + offsets[None, None, :]
        dist2 = ((rows - chunk[:, 0, None, None]) ** 2
                 + (cols - chunk[:, 1, None, None]) ** 2) * pixel**2
        values = np.exp(-0.5 * dist2 / sigma**2) * weights[start:start + 512, None, None]
        rows_b, cols_b = np.broadcast_arrays(rows, cols)
        valid = (rows_b >= 0) & (rows_b < m) & (cols_b >= 0) & (cols_b < n)
        np.add.at(image, (rows_b[valid], cols_b[valid]), values[valid])
    if probe.tail_weight > 0 and len(weights):
        pad = int(math.ceil(probe.extent_A / pixel))
        grid = np.zeros((m + 2 * pad, n + 2 * pad), np.float64)
        r = rc[:, 0] + pad
        c = rc[:, 1] + pad
        r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
        fr, fc = r - r0, c - c0
        for dr, dc, share in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)),
                              (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
            rr, cc = r0 + dr, c0 + dc
            ok = (rr >= 0) & (rr < grid.shape[0]) & (cc >= 0) & (cc < grid.shape[1])
            np.add.at(grid, (rr[ok], cc[ok]), (weights * share)[ok])
        k = np.arange(-pad, pad + 1) * pixel
        r2 = k[:, None] ** 2 + k[None, :] ** 2
        g = probe.tail_width_A
        kernel = probe.tail_weight * g**3 / (r2 + g**2) ** 1.5
        tail = fftconvolve(grid, kernel, mode="same")
        image += tail[pad:pad + m, pad:pad + n]
    return image


def simulate_haadf(
    material: str,
    *,
    shape: tuple[int, int] = (128, 128),
    pixel_size_A: float | None = None,
    thickness_A: float | None = None,
    rotation_deg: float | None = None,
    environment: str | None = None,
    vacancy_fraction: float | None = None,
    substitution_fraction: float | None = None,
    background: float | None = None,
    probe: ProbeModel | None = None,
    rng: np.random.Generator | int | None = 0,
) -> SimulatedImage:
    """Simulate a noise-free HAADF-STEM image of a crystal in zone axis.

    Every option left as ``None`` is drawn at random from ``rng`` (so one seed gives one
    image), within ranges that resemble real atomic-resolution data.

    Parameters
    ----------
    material
        A key of :data:`CRYSTALS`, e.g. ``"SrTiO3_001"``, ``"Si_110"``, ``"Au_110"``.
    shape
        Image shape in pixels.
    pixel_size_A
        Pixel size in Å; random in 0.1-0.35 Å by default, so columns span 2-9 pixels.
    thickness_A
        Specimen thickness; a random 40-200 Å (a single layer for graphene).
    rotation_deg
        In-plane rotation of the lattice; random by default.
    environment
        ``"bulk"`` (crystal everywhere), ``"particle"`` (a particle in vacuum) or
        ``"edge"`` (a straight crystal edge); random by default.
    vacancy_fraction, substitution_fraction
        Fractions of columns that lose part of their atoms, or hold a heavier dopant.
    background
        Amplitude of a slow background drift (amorphous support, detector offset
        drift), as a fraction of the brightest column.
    probe
        Probe model; random core width 0.7-1.1 Å and tail by default.
    rng
        Seed or generator.

    Returns
    -------
    SimulatedImage
        The image (fraction of the beam on the detector) and its parameters.

    Examples
    --------
    >>> image = simulate_haadf("SrTiO3_001", shape=(64, 64), pixel_size_A=0.2, rng=1)
    >>> image.clean.shape, image.clean.dtype, bool(image.clean.max() < 1)
    ((64, 64), dtype('float32'), True)
    """
    if material not in CRYSTALS:
        raise ValueError(f"unknown material {material!r}; choose from {sorted(CRYSTALS)}")
    m, n = (int(shape[0]), int(shape[1]))
    if m < 8 or n < 8:
        raise ValueError("simulated images must be at least 8x8 pixels")
    generator = _as_rng(rng)
    cell = CRYSTALS[material]
    pixel = float(pixel_size_A) if pixel_size_A is not None else generator.uniform(0.1, 0.35)
    if not 0.01 <= pixel <= 2.0:
        raise ValueError("pixel_size_A must lie between 0.01 and 2 Å")
    single_layer = material == "graphene"
    thickness = (
        float(thickness_A) if thickness_A is not None
        else (cell.repeat_A if single_layer else generator.uniform(40.0, 200.0))
    )
    rotation = float(rotation_deg) if rotation_deg is not None else generator.uniform(0, 360)
    env = environment if environment is not None else str(
        generator.choice(ENVIRONMENTS, p=[0.5, 0.25, 0.25])
    )
    vacancies = (
        float(vacancy_fraction) if vacancy_fraction is not None else generator.uniform(0, 0.04)
    )
    substitutions = (
        float(substitution_fraction) if substitution_fraction is not None
        else (0.1 if material == "NdBaTiO3_001" else generator.uniform(0, 0.03))
    )
    drift = float(background) if background is not None else generator.uniform(0, 0.08)
    probe_model = probe or ProbeModel(
        core_fwhm_A=generator.uniform(0.7, 1.1),
        tail_weight=generator.uniform(0.03, 0.15),
        tail_width_A=generator.uniform(1.0, 2.5),
    )

    half_diagonal = 0.5 * math.hypot(m, n) * pixel + probe_model.extent_A
    positions_A, weights = _lattice_columns(cell, half_diagonal)
    n_atoms = 1.0 if single_layer else thickness / cell.repeat_A
    weights = weights * n_atoms
    theta = math.radians(rotation)
    rotation_matrix = np.array([[math.cos(theta), -math.sin(theta)],
                                [math.sin(theta), math.cos(theta)]])
    shift = generator.uniform(0, 1, size=2) * np.array(cell.size_A)
    xy = (positions_A + shift) @ rotation_matrix.T
    # (x, y) in Å around the image centre -> (row, col) in pixels
    rc = np.stack([xy[:, 1] / pixel + (m - 1) / 2, xy[:, 0] / pixel + (n - 1) / 2], axis=1)
    margin = probe_model.extent_A / pixel
    inside = ((rc[:, 0] > -margin) & (rc[:, 0] < m - 1 + margin)
              & (rc[:, 1] > -margin) & (rc[:, 1] < n - 1 + margin))
    rc, weights = rc[inside], weights[inside]

    region = _sample_region_mask(env, (m, n), generator)
    r_idx = np.clip(np.round(rc[:, 0]).astype(int), 0, m - 1)
    c_idx = np.clip(np.round(rc[:, 1]).astype(int), 0, n - 1)
    keep = region[r_idx, c_idx]
    rc, weights = rc[keep], weights[keep].copy()

    if len(weights):
        vacant = generator.random(len(weights)) < vacancies
        weights[vacant] *= generator.uniform(0.0, 0.7, size=int(vacant.sum()))
        substituted = generator.random(len(weights)) < substitutions
        if cell.substitute_Z is not None and substituted.any():
            heaviest = max(max(atoms) for _, _, atoms in cell.columns)
            gain = (cell.substitute_Z**Z_EXPONENT - heaviest**Z_EXPONENT) / (
                sum(max(atoms) ** Z_EXPONENT for _, _, atoms in cell.columns) / len(cell.columns)
            )
            share = generator.uniform(0.2, 0.6, size=int(substituted.sum()))
            weights[substituted] *= np.maximum(1.0 + gain * share, 0.2)

    image = _render_columns(rc, weights, (m, n), pixel, probe_model)
    image *= SCATTERING_PER_Z17
    peak = float(image.max()) if image.size and image.max() > 0 else SCATTERING_PER_Z17
    image += drift * peak * 0.5 * (1.0 + _smooth_field((m, n), generator))
    clean = (1.0 - np.exp(-image)).astype(np.float32)  # a fraction can never exceed 1

    parameters = {
        "material": material, "shape": [m, n], "pixel_size_A": pixel,
        "thickness_A": thickness, "rotation_deg": rotation, "environment": env,
        "vacancy_fraction": vacancies, "substitution_fraction": substitutions,
        "background": drift, "probe": {
            "core_fwhm_A": probe_model.core_fwhm_A, "tail_weight": probe_model.tail_weight,
            "tail_width_A": probe_model.tail_width_A,
        },
        "n_columns": len(weights), "simulator": "reucid-incoherent-v1",
    }
    return SimulatedImage(clean, pixel, material, rc.astype(np.float32), parameters)


def _pixel_area(pixel_size_A: float | Sequence[float]) -> float:
    sizes = np.atleast_1d(np.asarray(pixel_size_A, dtype=np.float64))
    if sizes.size == 1:
        area = float(sizes[0]) ** 2
    elif sizes.size == 2:
        area = float(sizes[0] * sizes[1])
    else:
        raise ValueError("pixel_size_A is one number or a (row, column) pair")
    if not area > 0:
        raise ValueError("pixel sizes must be positive")
    return area


def expected_counts(
    clean_fraction: np.ndarray, dose_e_per_A2: float, pixel_size_A: float | Sequence[float]
) -> np.ndarray:
    """Expected detector counts per pixel: dose × pixel area × scattered fraction.

    Examples
    --------
    >>> float(expected_counts(np.full((2, 2), 0.1), 1000, 0.2)[0, 0])
    4.0
    """
    if dose_e_per_A2 <= 0:
        raise ValueError("the dose must be positive (electrons per Å²)")
    fraction = np.asarray(clean_fraction, dtype=np.float64)
    return (fraction * dose_e_per_A2 * _pixel_area(pixel_size_A)).astype(np.float32)


def add_dose_noise(
    clean_fraction: np.ndarray,
    dose_e_per_A2: float,
    pixel_size_A: float | Sequence[float],
    *,
    detector_noise: float = 0.05,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Add the paper's noise: Poisson at a dose, plus Gaussian detector noise.

    ``noisy = Poisson(clean) + Normal(0, detector_noise * max(clean))`` where
    ``clean = dose × pixel area × fraction`` are the expected counts
    (see :func:`expected_counts`). The input is not modified.

    Parameters
    ----------
    clean_fraction
        Noise-free image as the fraction of the beam reaching the detector.
    dose_e_per_A2
        Electron dose in e/Å².
    pixel_size_A
        Pixel size in Å (one number or a (row, column) pair).
    detector_noise
        Standard deviation of the Gaussian noise relative to the largest expected count.
    rng
        Seed or generator.

    Returns
    -------
    numpy.ndarray
        Noisy counts, float32, same shape as the input.

    Examples
    --------
    >>> clean = np.full((32, 32), 0.1)
    >>> noisy = add_dose_noise(clean, 1000, 0.2, rng=0)
    >>> round(float(noisy.mean()), 1)
    4.0
    """
    if detector_noise < 0:
        raise ValueError("detector_noise must be non-negative")
    expected = expected_counts(clean_fraction, dose_e_per_A2, pixel_size_A).astype(np.float64)
    if np.any(expected < 0) or not np.all(np.isfinite(expected)):
        raise ValueError("the clean image must be finite and non-negative")
    generator = _as_rng(rng)
    noisy = generator.poisson(expected).astype(np.float64)
    peak = float(expected.max()) if expected.size else 0.0
    if detector_noise > 0 and peak > 0:
        noisy += generator.normal(0.0, detector_noise * peak, size=expected.shape)
    return noisy.astype(np.float32)
