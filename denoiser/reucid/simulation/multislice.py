"""Multislice HAADF-STEM simulation with abTEM (optional extra: ``pip install 'reucid[simulation]'``).

Slower but physically faithful counterpart of :mod:`denoiser.reucid.simulation`: crystals are
built with ASE, one periodic cell is scanned with abTEM (channelling, thickness effects)
and tiled to the requested field of view, like ``shared/data/sim`` (see its README).
abTEM and ASE are imported only when a function here is called.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .haadf import SimulatedImage

ABTEM_MATERIALS: tuple[str, ...] = ("Si_110", "SrTiO3_001", "BaTiO3_001", "NdBaTiO3_001",
                                    "graphene", "Au_110")


def _perovskite(a_site: str, a: float, repeats_z: int) -> Any:
    from ase import Atoms

    cell = Atoms(
        symbols=[a_site, "Ti", "O", "O", "O"],
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5),
                          (0, 0.5, 0.5)],
        cell=[a, a, a], pbc=True,
    )
    return cell * (1, 1, repeats_z)


def build_structure(material: str, *, thickness_A: float = 50.0,
                    rng: np.random.Generator | None = None) -> Any:
    """An orthogonal ASE cell of ``material`` in zone axis, about ``thickness_A`` thick.

    Examples
    --------
    >>> atoms = build_structure("SrTiO3_001", thickness_A=20)  # doctest: +SKIP
    """
    import abtem
    from ase.build import bulk, graphene, surface

    generator = rng or np.random.default_rng(0)
    if material in ("SrTiO3_001", "BaTiO3_001", "NdBaTiO3_001"):
        a = 3.905 if material == "SrTiO3_001" else 4.0
        site = "Sr" if material == "SrTiO3_001" else "Ba"
        atoms = _perovskite(site, a, max(1, round(thickness_A / a)))
        if material == "NdBaTiO3_001":
            barium = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "Ba")
            chosen = barium[generator.random(barium.size) < 0.1]
            symbols = atoms.get_chemical_symbols()
            for index in chosen:
                symbols[index] = "Nd"
            atoms.set_chemical_symbols(symbols)
        return atoms
    if material in ("Si_110", "Au_110"):
        element, structure, a = ("Si", "diamond", 5.431) if material == "Si_110" \
            else ("Au", "fcc", 4.078)
        crystal = bulk(element, structure, a=a, cubic=True)
        layers = max(1, round(thickness_A / (a / math.sqrt(2))))
        slab = surface(crystal, (1, 1, 0), layers, periodic=True)
        return abtem.orthogonalize_cell(slab)
    if material == "graphene":
        sheet = graphene(formula="C2", a=2.46, size=(1, 1, 1), vacuum=2.0)
        return abtem.orthogonalize_cell(sheet)
    raise ValueError(f"abTEM simulation knows {ABTEM_MATERIALS}, not {material!r}")


def simulate_abtem_haadf(
    material: str,
    *,
    shape: tuple[int, int] = (128, 128),
    pixel_size_A: float = 0.2,
    thickness_A: float = 50.0,
    energy_keV: float = 200.0,
    semiangle_mrad: float = 22.0,
    detector_mrad: tuple[float, float] = (70.0, 180.0),
    potential_sampling_A: float = 0.04,
    source_fwhm_A: float = 0.45,
    seed: int = 0,
) -> SimulatedImage:
    """Multislice HAADF image (fraction of the beam on the detector) of a periodic crystal.

    One cell is scanned at ``pixel_size_A`` and tiled to ``shape``; an incoherent source
    size is applied as a Gaussian blur of ``source_fwhm_A``. The parameters default to
    those of ``shared/data/sim``. Needs the optional ``abtem`` and ``ase`` packages.
    """
    import abtem
    from scipy.ndimage import gaussian_filter

    atoms = build_structure(material, thickness_A=thickness_A, rng=np.random.default_rng(seed))
    potential = abtem.Potential(atoms, sampling=potential_sampling_A, slice_thickness=1.0,
                                projection="infinite", parametrization="kirkland")
    probe = abtem.Probe(energy=energy_keV * 1e3, semiangle_cutoff=semiangle_mrad)
    probe.grid.match(potential)
    extent = np.asarray(potential.extent, dtype=float)
    scan = abtem.GridScan(start=(0, 0), end=tuple(extent), sampling=pixel_size_A,
                          endpoint=False)
    detector = abtem.AnnularDetector(inner=detector_mrad[0], outer=detector_mrad[1])
    measurement = probe.scan(potential, scan=scan, detectors=detector).compute()
    cell_image = np.asarray(measurement.array, dtype=np.float64)
    # (x, y) scan axes -> (row, column) image axes
    cell_image = cell_image.T
    sampling = extent[::-1] / np.array(cell_image.shape)
    sigma_px = source_fwhm_A / (2 * math.sqrt(2 * math.log(2))) / sampling
    cell_image = gaussian_filter(cell_image, sigma=sigma_px, mode="wrap")
    reps = (math.ceil(shape[0] / cell_image.shape[0]), math.ceil(shape[1] / cell_image.shape[1]))
    clean = np.tile(cell_image, reps)[:shape[0], :shape[1]].astype(np.float32)
    parameters = {
        "material": material, "shape": list(shape), "pixel_size_A": float(np.mean(sampling)),
        "thickness_A": thickness_A, "energy_keV": energy_keV,
        "semiangle_mrad": semiangle_mrad, "detector_mrad": list(detector_mrad),
        "potential_sampling_A": potential_sampling_A, "source_fwhm_A": source_fwhm_A,
        "seed": seed, "simulator": f"abtem {getattr(abtem, '__version__', '?')}",
    }
    return SimulatedImage(clean, float(np.mean(sampling)), material,
                          np.zeros((0, 2), np.float32), parameters)
