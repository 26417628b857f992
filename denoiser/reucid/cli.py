"""Command line: ``reucid denoise IN -o OUT.tif`` (also ``python -m denoiser.reucid``)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ReucidError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``reucid`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="reucid",
        description="REUCID eigenpatch denoising of atomic-resolution STEM images.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("denoise", help="denoise one image and write a float32 TIFF")
    run.add_argument("input", type=Path, help="image file (.tif .png .npy .dm3 .dm4 .emd "
                     ".ser .mrc .hspy .hdf5)")
    run.add_argument("-o", "--output", type=Path, required=True, help="output .tif")
    run.add_argument("--classifier", default=None,
                     help="mp | gd | k=N | k=all | noise-edge | cnn | path to a model file "
                          "(default: the variant's own: noise-edge for the best variant, "
                          "the shipped CNN model with --paper)")
    run.add_argument("--patch-size", type=int, default=None, help="patch side in pixels")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--stacks", type=int, default=None, help="number of stacks d")
    run.add_argument("--components", type=int, default=25, help="eigenpatches per stack")
    run.add_argument("--frame", type=int, default=None, help="frame of a 3D stack to denoise")
    run.add_argument("--mode", choices=("fast", "reference"), default="fast")
    run.add_argument("--device", default="cpu", help="cpu or a torch device such as cuda")
    run.add_argument("--quiet", action="store_true", help="print nothing on success")
    method = run.add_argument_group(
        "method",
        "default: the best variant of docs/beyond_the_paper.md (Anscombe transform, coarse "
        "pilot, two passes over groups of similar patches, weighted aggregation); the "
        "single options below change one step of the chosen variant")
    which = method.add_mutually_exclusive_group()
    which.add_argument("--paper", dest="variant", action="store_const", const="paper",
                       default="best",
                       help="the paper's Algorithm 1 (random stacks, one pass): about 35x faster")
    which.add_argument("--best", dest="variant", action="store_const", const="best",
                       help="the measured best combination (the default; kept for scripts)")
    method.add_argument("--stabilize", choices=("anscombe", "none"), default=None,
                        help="generalised Anscombe transform with an estimated noise model")
    method.add_argument("--grouping", choices=("random", "similar"), default=None,
                        help="stacks of random (paper) or similar patches")
    method.add_argument("--passes", type=int, choices=(1, 2), default=None)
    method.add_argument("--aggregation", choices=("flat", "weighted"), default=None)
    method.add_argument("--pilot", choices=("coarse", "none"), default=None,
                        help="first estimate of the grouped passes: the paper's pipeline on "
                             "the 2x2-binned image (coarse) or none")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The single options given on the command line ("none" meaning None)."""
    given = {"stabilize": args.stabilize, "grouping": args.grouping, "passes": args.passes,
             "aggregation": args.aggregation, "pilot": args.pilot}
    return {name: None if value == "none" else value
            for name, value in given.items() if value is not None}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    from .io import read_image, write_tiff
    from .pipeline import denoise

    try:
        data = read_image(args.input, frame=args.frame)
        from .variants import resolve_variant

        options = resolve_variant(args.variant, **_overrides(args))
        result = denoise(
            data.array, classifier=args.classifier, patch_size=args.patch_size,
            n_stacks=args.stacks, seed=args.seed, device=args.device, mode=args.mode,
            n_components=args.components, variant=options,
        )
        # a hundred groups of eigenpatches would bloat the TIFF: keep their spectra only
        metadata = result.to_metadata(include_eigenpatches=options.grouping == "random")
        metadata["source"] = {"file": args.input.name, "format": data.source_format}
        write_tiff(args.output, result.image, pixel_size=data.pixel_size, metadata=metadata)
    except (ReucidError, ValueError, OSError) as exc:
        print(f"reucid: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        summary = {
            "output": str(args.output),
            "patch_size": result.patch_size,
            "n_stacks": result.n_stacks,
            "classifier": result.classifier,
            "kept_per_stack": [s.n_kept for s in result.stacks],
            "seconds": round(result.timings["total"], 3),
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
