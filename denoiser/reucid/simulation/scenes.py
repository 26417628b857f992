"""Fidelity scenes: what real specimens hold, with per-column ground truth (pure numpy).

Each scene is an incoherent HAADF image (the probe and column model of :mod:`.haadf`)
of a specimen that a denoiser must *not* pull toward its lattice average, together
with everything a microscopist measures on it: column positions, true integrated
intensities, which columns are defects, how far each column is displaced. A noisy
image at a dose comes with it, seeded.

Scenes (:data:`SCENES`):

``vacancies_2d``
    A 2D material (MoS2 or graphene, by seed) with rare vacancies and substitutions.
``vacancies_thick``
    A thick crystal (SrTiO3 [001], Au [110] or GaAs [110]) with rare partial
    vacancies and substitutions.
``thickness_steps``
    Terraces and holes where the columns are 20 % thicker or thinner.
``polar_domains``
    A perovskite whose B-site columns are shifted by ±0.15 Å in stripe domains.
``interface``
    A grain or twin boundary (a second grain rotated by a coincidence angle, 10 %
    thicker) with dopants segregated on some boundary columns.
``particle_on_carbon``
    A round Au or Pt particle (thickness falling to its edge) on amorphous carbon.
``scan_distortion``
    Scan-row jitter (each row shifted along the fast axis) and drift.
``row_noise``
    Row-correlated noise on top of the shot noise: per-line offsets and 1/f noise along
    the slow scan axis.

Every scene also holds rare point defects, so defect contrast is measured in each.

Conventions
-----------
* Rows are the slow scan axis (axis 0), columns the fast one (axis 1); positions are
  ``(row, column)`` in pixels.
* Dose in electrons per pixel. Each image is scaled so that its brightest column peaks
  at :data:`PEAK_FRACTION` of the dose (the fraction of the beam a HAADF detector
  collects on a heavy column), so a dose means the same signal-to-noise in every
  scene: ``clean`` is in expected counts, ``noisy = Poisson(clean) + Normal(0,
  (DETECTOR_NOISE * max(clean))²)`` (the project's noise model), plus the row noise of
  ``row_noise``.
* ``seed`` draws the material (from the scene's list), the lattice rotation and offset,
  the pixel size (0.12-0.22 Å), the probe and the defects; the noise is drawn from
  ``(seed, dose)``. Nothing is tuned to one seed: run several.
* The true integrated intensity of a column is the sum of ``clean`` over its Voronoi
  cell (:func:`denoiser.reucid.metrics.fidelity.column_intensities`), the quantity
  StatSTEM calls the scattering cross-section; an estimate is measured the same way.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..metrics.fidelity import column_intensities
from .haadf import CRYSTALS, Z_EXPONENT, ProbeModel, ProjectedCell, _lattice_columns, _render_columns

__all__ = [
    "DETECTOR_NOISE",
    "DOSES",
    "PEAK_FRACTION",
    "SCENES",
    "SCENE_MATERIALS",
    "ColumnTruth",
    "Scene",
    "make_scene",
    "scene_names",
]

#: Doses of the fidelity benchmark, electrons per pixel.
DOSES: tuple[float, ...] = (100.0, 500.0, 1000.0, 10000.0)
#: The brightest column's expected counts as a fraction of the dose per pixel.
PEAK_FRACTION = 0.2
#: Gaussian detector noise, relative to the largest expected count.
DETECTOR_NOISE = 0.05
#: A species is fitted and counted when its brightest column reaches this fraction of
#: the brightest species (oxygen columns beside heavy cations are not).
VISIBLE_FRACTION = 0.09
#: Rare point defects every scene holds (fraction of the visible columns, each kind).
POINT_DEFECT_FRACTION = 0.02
#: Stripe-domain B-site shift (Å) and thickness-step change of ``polar_domains`` and
#: ``thickness_steps``.
POLAR_SHIFT_A = 0.15
THICKNESS_STEP = 0.20

_SQ3 = math.sqrt(3.0)
#: Cells added to :data:`denoiser.reucid.simulation.haadf.CRYSTALS` for these scenes.
EXTRA_CELLS: dict[str, ProjectedCell] = {
    # 2H-MoS2 monolayer seen along c: Mo columns and S2 columns on a honeycomb.
    "MoS2": ProjectedCell("MoS2", (3.16, 3.16 * _SQ3),
                          ((0.0, 0.0, (42,)), (0.5, 0.5, (42,)),
                           (0.5, 1 / 6, (16, 16)), (0.0, 2 / 3, (16, 16))),
                          6.15, substitute_Z=74),
    "PbTiO3_001": ProjectedCell("PbTiO3_001", (3.90, 4.15),
                                ((0.0, 0.0, (82, 8)), (0.5, 0.5, (22,)), (0.5, 0.0, (8,)),
                                 (0.0, 0.5, (8,))), 3.90, substitute_Z=83),
}
_SINGLE_LAYER = {"MoS2", "graphene"}

#: Materials each scene draws from (``materials[seed % len]``).
SCENE_MATERIALS: dict[str, tuple[str, ...]] = {
    "vacancies_2d": ("MoS2", "graphene"),
    "vacancies_thick": ("SrTiO3_001", "Au_110", "GaAs_110"),
    "thickness_steps": ("Au_110", "Pt_001", "SrTiO3_001"),
    "polar_domains": ("PbTiO3_001", "BaTiO3_001", "SrTiO3_001"),
    "interface": ("Au_110", "SrTiO3_001", "Si_110"),
    "particle_on_carbon": ("Au_110", "Pt_001"),
    "scan_distortion": ("SrTiO3_001", "GaAs_110", "Au_110"),
    "row_noise": ("SrTiO3_001", "BaTiO3_001", "Au_110"),
}


def _cell(material: str) -> ProjectedCell:
    if material in EXTRA_CELLS:
        return EXTRA_CELLS[material]
    if material in CRYSTALS:
        return CRYSTALS[material]
    raise ValueError(f"unknown material {material!r}; choose from "
                     f"{sorted(set(CRYSTALS) | set(EXTRA_CELLS))}")


@dataclass(frozen=True)
class ColumnTruth:
    """Per-column ground truth of a scene (``N`` crystal columns).

    Attributes
    ----------
    positions : numpy.ndarray
        ``(N, 2)`` true ``(row, column)`` in the image, in pixels (after any
        displacement and scan distortion).
    ideal_positions : numpy.ndarray
        ``(N, 2)`` where the columns would be without polar displacement.
    displacement : numpy.ndarray
        ``(N, 2)`` ``positions - ideal_positions`` (pixels).
    displaced : numpy.ndarray
        ``(N,)`` bool: the columns the displacement slope is measured on.
    species : numpy.ndarray
        ``(N,)`` int: index into ``species_names`` (columns of one species have the same
        atoms in the perfect crystal).
    species_names : tuple of str
    weight, perfect_weight : numpy.ndarray
        ``(N,)`` scattering weight (sum of Z^1.7 along the column) with and without
        the defects.
    defect : numpy.ndarray
        ``(N,)`` bool: columns whose intensity differs from their species' (vacancy,
        substitution, thickness step, segregation).
    kind : numpy.ndarray
        ``(N,)`` str: ``""`` or the defect kind.
    visible : numpy.ndarray
        ``(N,)`` bool: species bright enough to be fitted.
    evaluated : numpy.ndarray
        ``(N,)`` bool: visible columns far enough from the border (and holding an
        atom) that every metric uses.
    intensity : numpy.ndarray
        ``(N,)`` true integrated intensity (sum of the clean counts over the Voronoi
        cell, capped at ``integration_radius_px``).
    nn_distance_px, fit_radius_px, integration_radius_px, pixel_size_A : float
        Nearest-neighbour distance of visible columns; the window radius of the
        Gaussian fits (0.4 of it, as atomap's default); the cell cap; the pixel size.
    """

    positions: NDArray[np.float64]
    ideal_positions: NDArray[np.float64]
    displacement: NDArray[np.float64]
    displaced: NDArray[np.bool_]
    species: NDArray[np.int64]
    species_names: tuple[str, ...]
    weight: NDArray[np.float64]
    perfect_weight: NDArray[np.float64]
    defect: NDArray[np.bool_]
    kind: NDArray[np.str_]
    visible: NDArray[np.bool_]
    evaluated: NDArray[np.bool_]
    intensity: NDArray[np.float64]
    nn_distance_px: float
    fit_radius_px: float
    integration_radius_px: float
    pixel_size_A: float


@dataclass(frozen=True)
class Scene:
    """One noisy image of a scene, its noise-free counts and its ground truth.

    Attributes
    ----------
    name, material : str
    dose : float
        Electrons per pixel.
    seed : int
    clean : numpy.ndarray
        Expected counts (float64).
    perfect : numpy.ndarray
        Expected counts of the same specimen without its intensity defects (the
        displacements and distortions are kept).
    noisy : numpy.ndarray
        One noisy image (float64).
    noise_gain, noise_sigma : float
        The true Poisson–Gaussian model: ``variance = gain * clean + sigma²``.
    row_noise : numpy.ndarray or None
        ``(rows,)`` the per-line offsets added to ``noisy`` (``row_noise`` scene only).
    truth : ColumnTruth
    defect_mask : numpy.ndarray
        Pixels where the defects change ``clean`` by at least 2 % of its range.
    parameters : dict
        How the scene was made (material, rotation, pixel size, probe, ...).
    """

    name: str
    material: str
    dose: float
    seed: int
    clean: NDArray[np.float64]
    perfect: NDArray[np.float64]
    noisy: NDArray[np.float64]
    noise_gain: float
    noise_sigma: float
    row_noise: NDArray[np.float64] | None
    truth: ColumnTruth
    defect_mask: NDArray[np.bool_]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Spec:
    """A scene before rendering: columns in pixels, weights, flags, extras."""

    material: str
    shape: tuple[int, int]
    pixel: float
    probe: ProbeModel
    positions: NDArray[np.float64]  # ideal, (N, 2) px
    species: NDArray[np.int64]
    species_names: tuple[str, ...]
    perfect_weight: NDArray[np.float64]
    weight: NDArray[np.float64]
    kind: NDArray[np.object_]
    displacement: NDArray[np.float64]
    displaced: NDArray[np.bool_]
    single_layer: bool
    nn_distance_px: float
    extra_positions: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros((0, 2)))  # amorphous support atoms (px)
    extra_weights: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    row_shift: NDArray[np.float64] | None = None  # scan distortion: px per row (fast axis)
    row_scale: float = 1.0  # scan distortion along the slow axis
    row_noise: dict[str, float] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- lattice


def _rotation(degrees: float) -> NDArray[np.float64]:
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def _lattice(cell: ProjectedCell, shape: tuple[int, int], pixel: float, rotation_deg: float,
             shift_frac: NDArray[np.float64], margin_px: float,
             ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64],
                        NDArray[np.float64]]:
    """Columns of a rotated lattice covering the image: (row, col) px, cell-column index,
    per-repeat weight, and the in-cell (x, y) Å of each column before rotation."""
    m, n = shape
    half_diagonal = 0.5 * math.hypot(m, n) * pixel + margin_px * pixel + max(cell.size_A)
    xy_cell, weights = _lattice_columns(cell, half_diagonal)
    per_column = len(xy_cell) // len(cell.columns)
    index = np.repeat(np.arange(len(cell.columns)), per_column)
    xy = (xy_cell + shift_frac * np.array(cell.size_A)) @ _rotation(rotation_deg).T
    rc = np.stack([xy[:, 1] / pixel + (m - 1) / 2, xy[:, 0] / pixel + (n - 1) / 2], axis=1)
    inside = ((rc[:, 0] > -margin_px) & (rc[:, 0] < m - 1 + margin_px)
              & (rc[:, 1] > -margin_px) & (rc[:, 1] < n - 1 + margin_px))
    return rc[inside], index[inside], weights[inside], xy_cell[inside]


def _species_of(cell: ProjectedCell, index: NDArray[np.int64]
                ) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    names: list[str] = []
    lookup = []
    for _, _, atoms in cell.columns:
        label = "+".join(str(z) for z in atoms)
        if label not in names:
            names.append(label)
        lookup.append(names.index(label))
    return np.asarray(lookup, dtype=np.int64)[index], tuple(names)


def _species_atoms(cell: ProjectedCell) -> dict[int, tuple[int, ...]]:
    """Species index -> the atoms of one repeat of that species' columns."""
    species, _ = _species_of(cell, np.arange(len(cell.columns)))
    atoms: dict[int, tuple[int, ...]] = {}
    for index, s in enumerate(species.tolist()):
        atoms.setdefault(s, cell.columns[index][2])
    return atoms


def _nearest_distance(points: NDArray[np.float64]) -> float:
    from scipy.spatial import cKDTree

    if len(points) < 2:
        return float("nan")
    distances, _ = cKDTree(points).query(points, k=2)
    return float(np.median(distances[:, 1]))


def _base_spec(material: str, rng: np.random.Generator, shape: tuple[int, int], *,
               thickness_A: float | None = None, rotation_deg: float | None = None) -> _Spec:
    """A perfect crystal filling the image with random rotation, offset, pixel, probe."""
    cell = _cell(material)
    pixel = float(rng.uniform(0.12, 0.22))
    probe = ProbeModel(core_fwhm_A=float(rng.uniform(0.8, 1.0)),
                       tail_weight=float(rng.uniform(0.03, 0.10)),
                       tail_width_A=float(rng.uniform(1.0, 2.0)))
    rotation = float(rng.uniform(0.0, 360.0)) if rotation_deg is None else rotation_deg
    shift = rng.uniform(0, 1, size=2)
    margin = probe.extent_A / pixel
    rc, index, weights, _ = _lattice(cell, shape, pixel, rotation, shift, margin)
    single = material in _SINGLE_LAYER
    thickness = cell.repeat_A if single else (
        float(rng.uniform(60.0, 150.0)) if thickness_A is None else thickness_A)
    weights = weights * (1.0 if single else thickness / cell.repeat_A)
    species, names = _species_of(cell, index)
    n = len(weights)
    brightest = np.array([weights[species == s].max() for s in range(len(names))])
    visible_species = brightest >= VISIBLE_FRACTION * brightest.max()
    nn = _nearest_distance(rc[visible_species[species]])
    return _Spec(
        material=material, shape=shape, pixel=pixel, probe=probe, positions=rc,
        species=species, species_names=names, perfect_weight=weights.astype(np.float64),
        weight=weights.astype(np.float64).copy(), kind=np.full(n, "", dtype=object),
        displacement=np.zeros((n, 2)), displaced=np.zeros(n, bool), single_layer=single,
        nn_distance_px=nn,
        parameters={"material": material, "pixel_size_A": pixel, "rotation_deg": rotation,
                    "thickness_A": thickness, "probe": {
                        "core_fwhm_A": probe.core_fwhm_A, "tail_weight": probe.tail_weight,
                        "tail_width_A": probe.tail_width_A}},
    )


def _visible_species(spec: _Spec) -> NDArray[np.bool_]:
    brightest = np.array([spec.perfect_weight[spec.species == s].max()
                          for s in range(len(spec.species_names))])
    return (brightest >= VISIBLE_FRACTION * brightest.max())[spec.species]


def _add_point_defects(spec: _Spec, rng: np.random.Generator, fraction: float) -> None:
    """Partial (thick) or whole-atom (2D) vacancies and heavier substitutions on rare
    visible columns that are not defects yet."""
    cell = _cell(spec.material)
    candidates = np.flatnonzero(_visible_species(spec) & (spec.kind == ""))
    count = int(round(fraction * len(candidates)))
    if count == 0 or len(candidates) < 2 * count:
        return
    chosen = rng.choice(candidates, size=2 * count, replace=False)
    vacancies, substitutions = chosen[:count], chosen[count:]
    atoms_of = _species_atoms(cell)
    for i in vacancies:
        atoms = atoms_of[int(spec.species[i])]
        if spec.single_layer:  # one atom of the column goes
            lost = max(atoms) ** Z_EXPONENT / sum(z**Z_EXPONENT for z in atoms)
            factor = 1.0 - lost
        else:
            factor = float(rng.uniform(0.4, 0.75))
        spec.weight[i] *= factor
        spec.kind[i] = "vacancy"
    dopant = cell.substitute_Z or 0
    for i in substitutions:
        atoms = atoms_of[int(spec.species[i])]
        host = max(atoms)
        per_atom = sum(z**Z_EXPONENT for z in atoms)
        gain = (dopant**Z_EXPONENT - host**Z_EXPONENT) / per_atom
        share = 1.0 if spec.single_layer else float(rng.uniform(0.2, 0.5))
        factor = 1.0 + gain * share
        if abs(factor - 1.0) < 0.15:  # a dopant next to its host in Z: make it count
            factor = 1.0 + math.copysign(0.25, gain if gain else 1.0)
        spec.weight[i] *= max(factor, 0.2)
        spec.kind[i] = "substitution"


# ----------------------------------------------------------------------------- scenes


def _vacancies_2d(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    spec = _base_spec(material, rng, shape)
    _add_point_defects(spec, rng, 0.03)
    return spec


def _vacancies_thick(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    spec = _base_spec(material, rng, shape)
    _add_point_defects(spec, rng, 0.03)
    return spec


def _thickness_steps(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    """Two to four islands (terraces +20 %) and holes (-20 %), irregular discs."""
    spec = _base_spec(material, rng, shape)
    m, n = shape
    rc = spec.positions
    changed = np.zeros(len(rc), bool)
    for k in range(int(rng.integers(2, 5))):
        centre = rng.uniform(0.15, 0.85, size=2) * np.array([m, n])
        radius = rng.uniform(0.08, 0.18) * min(m, n)
        angle = np.arctan2(rc[:, 0] - centre[0], rc[:, 1] - centre[1])
        wobble = 1.0 + 0.25 * np.sin(3 * angle + rng.uniform(0, 2 * np.pi))
        inside = np.hypot(*(rc - centre).T) < radius * wobble
        inside &= ~changed
        sign = 1.0 if k % 2 == 0 else -1.0
        spec.weight[inside] *= 1.0 + sign * THICKNESS_STEP
        spec.kind[inside] = "step+" if sign > 0 else "step-"
        changed |= inside
    _add_point_defects(spec, rng, POINT_DEFECT_FRACTION)
    return spec


def _polar_domains(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    """B-site columns (the cell's centre column) shifted ±0.15 Å along the cell's y axis,
    the sign alternating in stripe domains 12-20 Å wide (walls along x or at 45°)."""
    cell = _cell(material)
    spec = _base_spec(material, rng, shape)
    m, n = shape
    rotation = spec.parameters["rotation_deg"]
    # B site: the centre column (0.5, 0.5) of the perovskite cell
    b_index = [i for i, (fx, fy, _) in enumerate(cell.columns) if fx == 0.5 and fy == 0.5][0]
    b_species = _species_of(cell, np.array([b_index]))[0][0]
    is_b = spec.species == b_species
    width_px = rng.uniform(12.0, 20.0) / spec.pixel
    wall_angle = rotation + float(rng.choice([0.0, 45.0, 90.0]))
    normal = np.array([math.cos(math.radians(wall_angle)), math.sin(math.radians(wall_angle))])
    # (x, y) of each column around the image centre, in pixels
    centred = np.stack([spec.positions[:, 1] - (n - 1) / 2,
                        spec.positions[:, 0] - (m - 1) / 2], axis=1)
    phase = rng.uniform(0, width_px)
    domain = np.floor((centred @ normal + phase) / width_px).astype(int)
    sign = np.where(domain % 2 == 0, 1.0, -1.0)
    # polarisation along the cell's y axis, rotated into the image (x, y) -> (row, col)
    direction_xy = _rotation(rotation) @ np.array([0.0, 1.0])
    direction_rc = np.array([direction_xy[1], direction_xy[0]])
    shift = POLAR_SHIFT_A / spec.pixel
    spec.displacement[is_b] = (sign[is_b, None] * shift) * direction_rc[None, :]
    spec.displaced[:] = is_b
    spec.parameters.update(domain_width_A=width_px * spec.pixel, wall_angle_deg=wall_angle,
                           polar_shift_A=POLAR_SHIFT_A)
    _add_point_defects(spec, rng, POINT_DEFECT_FRACTION)
    return spec


def _interface(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    """Grain A | grain B (the lattice turned by a coincidence angle, 10 % thicker) along a
    straight boundary through the centre; dopants on half of the boundary columns."""
    cell = _cell(material)
    spec = _base_spec(material, rng, shape)
    m, n = shape
    turn = float(rng.choice([36.87, 53.13, 70.53]))
    wall = float(rng.uniform(0, 180))
    normal = np.array([math.cos(math.radians(wall)), math.sin(math.radians(wall))])  # (row, col)
    centre = np.array([(m - 1) / 2, (n - 1) / 2]) + rng.uniform(-0.1, 0.1, 2) * np.array([m, n])
    side_a = (spec.positions - centre) @ normal < 0
    margin = spec.probe.extent_A / spec.pixel
    rc_b, index_b, weights_b, _ = _lattice(
        cell, shape, spec.pixel, spec.parameters["rotation_deg"] + turn,
        rng.uniform(0, 1, size=2), margin)
    weights_b = weights_b * (spec.parameters["thickness_A"] / cell.repeat_A) * 1.1
    keep_b = (rc_b - centre) @ normal >= 0
    rc_b, index_b, weights_b = rc_b[keep_b], index_b[keep_b], weights_b[keep_b]
    # no two columns closer than 0.6 nearest-neighbour distances across the boundary
    from scipy.spatial import cKDTree

    tree = cKDTree(spec.positions[side_a])
    distance, _ = tree.query(rc_b) if side_a.any() else (np.full(len(rc_b), np.inf), None)
    keep_b = distance > 0.6 * spec.nn_distance_px
    rc_b, index_b, weights_b = rc_b[keep_b], index_b[keep_b], weights_b[keep_b]
    species_b, _ = _species_of(cell, index_b)
    positions = np.concatenate([spec.positions[side_a], rc_b])
    species = np.concatenate([spec.species[side_a], species_b])
    weights = np.concatenate([spec.perfect_weight[side_a], weights_b])
    count = len(weights)
    new = _Spec(
        material=spec.material, shape=shape, pixel=spec.pixel, probe=spec.probe,
        positions=positions, species=species, species_names=spec.species_names,
        perfect_weight=weights.copy(), weight=weights.copy(),
        kind=np.full(count, "", dtype=object), displacement=np.zeros((count, 2)),
        displaced=np.zeros(count, bool), single_layer=spec.single_layer,
        nn_distance_px=spec.nn_distance_px, parameters=dict(spec.parameters))
    # the perfect twin of a grain-B column is a grain-B column: its weight already
    # holds the 10 % extra thickness; segregation is the defect
    at_boundary = np.abs((positions - centre) @ normal) < 0.8 * spec.nn_distance_px
    at_boundary &= _visible_species(new)
    segregated = at_boundary & (rng.random(count) < 0.5)
    new.weight[segregated] *= rng.uniform(1.25, 1.5, size=int(segregated.sum()))
    new.kind[segregated] = "segregation"
    new.parameters.update(boundary_turn_deg=turn, boundary_angle_deg=wall)
    _add_point_defects(new, rng, POINT_DEFECT_FRACTION)
    return new


def _particle_on_carbon(material: str, rng: np.random.Generator, shape: tuple[int, int]
                        ) -> _Spec:
    """A round particle whose thickness falls like a sphere's toward its edge, on an
    amorphous carbon film (random light atoms, 4-8 % of the column peak on average)."""
    spec = _base_spec(material, rng, shape)
    m, n = shape
    centre = np.array([m, n]) * rng.uniform(0.4, 0.6, size=2)
    radius = min(m, n) * rng.uniform(0.30, 0.42)
    r = np.hypot(*(spec.positions - centre).T) / radius
    inside = r < 1.0
    profile = np.sqrt(np.clip(1.0 - r**2, 0.0, None))
    # thickness from 15 % (the rim) to 100 % (the centre) of the drawn thickness
    factor = 0.15 + 0.85 * profile
    spec.positions = spec.positions[inside]
    spec.species = spec.species[inside]
    spec.perfect_weight = spec.perfect_weight[inside] * factor[inside]
    spec.weight = spec.perfect_weight.copy()
    count = int(inside.sum())
    spec.kind = np.full(count, "", dtype=object)
    spec.displacement = np.zeros((count, 2))
    spec.displaced = np.zeros(count, bool)
    # amorphous carbon: 1.5 atoms per Å² at random positions over the whole field
    area_A2 = m * n * spec.pixel**2
    atoms = int(1.5 * area_A2)
    spec.extra_positions = rng.uniform(0, 1, size=(atoms, 2)) * np.array([m - 1, n - 1])
    spec.extra_weights = rng.uniform(0.5, 1.5, size=atoms)  # scaled at rendering
    spec.parameters.update(particle_radius_A=radius * spec.pixel,
                           carbon_fraction=float(rng.uniform(0.04, 0.08)))
    _add_point_defects(spec, rng, POINT_DEFECT_FRACTION)
    return spec


def _scan_distortion(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    """Each scan row shifted along the fast axis by white jitter (0.2-0.5 px) plus a slow
    random walk (drift), and the slow axis stretched by up to ±3 %."""
    spec = _base_spec(material, rng, shape)
    m = shape[0]
    jitter = rng.normal(0.0, rng.uniform(0.2, 0.5), size=m)
    walk = np.cumsum(rng.normal(0.0, 0.05, size=m))
    drift = np.linspace(0.0, rng.uniform(-2.0, 2.0), m)
    spec.row_shift = jitter + walk - walk.mean() + drift
    spec.row_scale = float(1.0 + rng.uniform(-0.03, 0.03))
    spec.parameters.update(jitter_px=float(np.std(jitter)), row_scale=spec.row_scale)
    _add_point_defects(spec, rng, POINT_DEFECT_FRACTION)
    return spec


def _row_noise(material: str, rng: np.random.Generator, shape: tuple[int, int]) -> _Spec:
    """Per-line offsets (white, 0.3-0.6 of the shot noise at the mean count) plus 1/f
    noise along the slow axis (0.4-0.8 of it)."""
    spec = _base_spec(material, rng, shape)
    spec.row_noise = {"line": float(rng.uniform(0.3, 0.6)),
                      "pink": float(rng.uniform(0.4, 0.8))}
    spec.parameters.update(row_noise=spec.row_noise)
    _add_point_defects(spec, rng, POINT_DEFECT_FRACTION)
    return spec


#: Scene name -> builder ``(material, rng, shape) -> spec``.
SCENES: dict[str, Callable[[str, np.random.Generator, tuple[int, int]], _Spec]] = {
    "vacancies_2d": _vacancies_2d,
    "vacancies_thick": _vacancies_thick,
    "thickness_steps": _thickness_steps,
    "polar_domains": _polar_domains,
    "interface": _interface,
    "particle_on_carbon": _particle_on_carbon,
    "scan_distortion": _scan_distortion,
    "row_noise": _row_noise,
}


def scene_names() -> tuple[str, ...]:
    """The scene names, in benchmark order.

    Examples
    --------
    >>> scene_names()[:2]
    ('vacancies_2d', 'vacancies_thick')
    """
    return tuple(SCENES)


# ----------------------------------------------------------------------------- render


def _render(spec: _Spec, weights: NDArray[np.float64], positions: NDArray[np.float64]
            ) -> NDArray[np.float64]:
    """Noise-free image (arbitrary units) of the columns at ``positions`` (px)."""
    return _render_columns(positions, weights, spec.shape, spec.pixel, spec.probe)


def _distort(image: NDArray[np.float64], spec: _Spec) -> NDArray[np.float64]:
    """Resample a rendered image as the distorted scan saw it (cubic spline)."""
    if spec.row_shift is None:
        return image
    from scipy.ndimage import map_coordinates

    m, n = image.shape
    rows = np.arange(m, dtype=np.float64)
    source_rows = (rows - (m - 1) / 2) * spec.row_scale + (m - 1) / 2
    rr = np.repeat(source_rows[:, None], n, axis=1)
    cc = np.arange(n, dtype=np.float64)[None, :] + spec.row_shift[:, None]
    return map_coordinates(image, [rr, cc], order=3, mode="nearest")


def _distort_positions(positions: NDArray[np.float64], spec: _Spec) -> NDArray[np.float64]:
    """Where columns at undistorted ``positions`` appear in the distorted image."""
    if spec.row_shift is None:
        return positions
    m = spec.shape[0]
    row = (positions[:, 0] - (m - 1) / 2) / spec.row_scale + (m - 1) / 2
    shift = np.interp(row, np.arange(m), spec.row_shift)
    return np.stack([row, positions[:, 1] - shift], axis=1)


def _pink_noise(length: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Unit-variance noise with a 1/f power spectrum."""
    spectrum = rng.normal(size=length // 2 + 1) + 1j * rng.normal(size=length // 2 + 1)
    frequency = np.fft.rfftfreq(length)
    frequency[0] = np.inf
    signal = np.fft.irfft(spectrum / np.sqrt(frequency * length), n=length)
    signal -= signal.mean()
    return signal / max(float(signal.std()), 1e-12)


def make_scene(name: str, dose: float, *, seed: int = 0, size: int | tuple[int, int] = 256,
               material: str | None = None) -> Scene:
    """Simulate one fidelity scene at a dose.

    Parameters
    ----------
    name : str
        One of :func:`scene_names`.
    dose : float
        Electrons per pixel (:data:`DOSES`: 100, 500, 1000, 10000).
    seed : int, optional
        Draws the material (``SCENE_MATERIALS[name][seed % len]``), rotation, offset,
        pixel size, probe and defects; the same seed gives the same specimen at every
        dose. The noise is drawn from ``(seed, dose)``.
    size : int or (int, int), optional
        Image shape in pixels.
    material : str, optional
        Override the drawn material (a key of ``CRYSTALS`` or ``EXTRA_CELLS``).

    Returns
    -------
    Scene

    Examples
    --------
    >>> scene = make_scene("polar_domains", 1000, seed=1, size=96)
    >>> scene.noisy.shape, scene.truth.positions.shape[1]
    ((96, 96), 2)
    >>> bool(scene.truth.displaced.any()), bool(scene.truth.defect.any())
    (True, True)
    >>> round(float(scene.clean.max() / scene.dose), 2) <= 0.2
    True
    """
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; choose from {scene_names()}")
    if not dose > 0:
        raise ValueError("the dose must be positive (electrons per pixel)")
    shape = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if min(shape) < 32:
        raise ValueError("fidelity scenes need at least 32x32 pixels")
    rng = np.random.default_rng([int(seed), sum(map(ord, name))])
    chosen = material or SCENE_MATERIALS[name][int(seed) % len(SCENE_MATERIALS[name])]
    spec = SCENES[name](chosen, rng, shape)

    true_positions_undistorted = spec.positions + spec.displacement
    image = _render(spec, spec.weight, true_positions_undistorted)
    perfect = _render(spec, spec.perfect_weight, true_positions_undistorted)
    scale = PEAK_FRACTION / max(float(perfect.max()), 1e-300)
    image, perfect = image * scale, perfect * scale
    if len(spec.extra_weights):
        support = _render_columns(spec.extra_positions, spec.extra_weights, shape, spec.pixel,
                                  spec.probe)
        support *= spec.parameters["carbon_fraction"] * PEAK_FRACTION / max(
            float(support.mean()), 1e-300)
        image, perfect = image + support, perfect + support
    image, perfect = _distort(image, spec), _distort(perfect, spec)
    clean = np.clip(image, 0.0, None) * float(dose)
    perfect_counts = np.clip(perfect, 0.0, None) * float(dose)

    noise_rng = np.random.default_rng([int(seed), int(round(float(dose))), 7919])
    sigma = DETECTOR_NOISE * float(clean.max())
    noisy = noise_rng.poisson(clean).astype(np.float64) + noise_rng.normal(0.0, sigma, shape)
    offsets = None
    if spec.row_noise is not None:
        level = math.sqrt(float(clean.mean()) + sigma**2)
        offsets = level * (spec.row_noise["line"] * noise_rng.normal(size=shape[0])
                           + spec.row_noise["pink"] * _pink_noise(shape[0], noise_rng))
        noisy += offsets[:, None]

    truth = _truth(spec, clean, perfect_counts)
    defect = clean - perfect_counts
    mask = np.abs(defect) >= 0.02 * float(np.ptp(clean))
    return Scene(name=name, material=chosen, dose=float(dose), seed=int(seed), clean=clean,
                 perfect=perfect_counts, noisy=noisy, noise_gain=1.0, noise_sigma=sigma,
                 row_noise=offsets, truth=truth, defect_mask=mask,
                 parameters={"scene": name, "dose_e_per_px": float(dose), "seed": int(seed),
                             "shape": list(shape), **spec.parameters})


def _truth(spec: _Spec, clean: NDArray[np.float64], perfect: NDArray[np.float64]
           ) -> ColumnTruth:
    ideal = _distort_positions(spec.positions, spec)
    positions = _distort_positions(spec.positions + spec.displacement, spec)
    m, n = spec.shape
    nn = spec.nn_distance_px
    fit_radius = max(0.4 * nn, 1.5)
    integration_radius = nn
    visible = _visible_species(spec)
    border = fit_radius + 2.0
    inside = ((positions[:, 0] >= border) & (positions[:, 0] <= m - 1 - border)
              & (positions[:, 1] >= border) & (positions[:, 1] <= n - 1 - border))
    evaluated = visible & inside
    intensity = column_intensities(clean, positions, max_radius=integration_radius)
    defect = np.asarray(spec.kind != "", dtype=bool)
    return ColumnTruth(
        positions=positions, ideal_positions=ideal, displacement=positions - ideal,
        displaced=spec.displaced & evaluated, species=spec.species,
        species_names=spec.species_names, weight=spec.weight, perfect_weight=spec.perfect_weight,
        defect=defect, kind=spec.kind.astype(str), visible=visible, evaluated=evaluated,
        intensity=intensity, nn_distance_px=float(nn), fit_radius_px=float(fit_radius),
        integration_radius_px=float(integration_radius), pixel_size_A=spec.pixel,
    )
