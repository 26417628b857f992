"""Draw README's picture: a simulated low-dose HAADF image before and after REUCID.

    python scripts/make_readme_image.py [docs/images/before_after.png]

Everything comes from the project itself: the built-in incoherent-imaging simulator
(``denoiser.reucid.simulation``), the dose-noise model and ``denoiser.reucid.denoise``: its
default (the best variant) and the paper's pipeline (``variant="paper"``, the shipped
classifier, the live-view path). Seeded, so the picture is the same on every run of the
same code.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np

from denoiser.reucid import denoise
from denoiser.reucid.metrics import psnr
from denoiser.reucid.simulation import add_dose_noise, expected_counts, simulate_haadf

SEED = 7
MATERIAL = "SrTiO3_001"
ENVIRONMENT = "particle"
SHAPE = (256, 256)
PIXEL_SIZE_A = 0.15
DOSE_E_PER_A2 = 2000.0


def main(target: Path) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pyplot picks its backend when imported

    simulated = simulate_haadf(
        MATERIAL, shape=SHAPE, pixel_size_A=PIXEL_SIZE_A, environment=ENVIRONMENT, rng=SEED
    )
    noisy = add_dose_noise(simulated.clean, DOSE_E_PER_A2, PIXEL_SIZE_A, rng=SEED)
    clean = expected_counts(simulated.clean, DOSE_E_PER_A2, PIXEL_SIZE_A)
    paper = denoise(noisy, seed=SEED, variant="paper")
    best = denoise(noisy, seed=SEED)

    panels = [
        ("noisy input", noisy, psnr(clean, noisy)),
        ("REUCID paper (CNN, live)", paper.image, psnr(clean, paper.image)),
        ("REUCID default", best.image, psnr(clean, best.image)),
        ("ground truth", clean, None),
    ]
    low, high = np.percentile(clean, [0.5, 99.5])
    figure, axes = plt.subplots(1, 4, figsize=(12.8, 3.6), dpi=100)
    for axis, (title, image, score) in zip(axes, panels):
        axis.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        label = title if score is None else f"{title}\nPSNR {score:.1f} dB"
        axis.set_title(label, fontsize=10)
        axis.set_axis_off()
    figure.suptitle(
        f"Simulated {MATERIAL.replace('_', ' ')} HAADF, {DOSE_E_PER_A2:.0f} e/Å², "
        f"{PIXEL_SIZE_A} Å/pixel; paper: patch {paper.patch_size} px, {paper.n_stacks} "
        f"stack(s); default: groups of {best.patch_size} px patches, coarse pilot",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/images/before_after.png"))
