"""Command line: ``reucid denoise IN -o OUT.tif`` and ``reucid watch DIR`` (live use)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .api import denoise
from .errors import ReucidError
from .io import read_image, write_tiff
from .paper import PaperResult
from .watch import add_parser as add_watch_parser
from .watch import command as watch_command

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
                          "(default: the method's own: noise-edge for the default method, "
                          "the shipped CNN model with --paper)")
    run.add_argument("--patch-size", type=int, default=None, help="patch side in pixels")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--frame", type=int, default=None, help="frame of a 3D stack to denoise")
    run.add_argument("--quiet", action="store_true", help="print nothing on success")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--paper", dest="variant", action="store_const", const="paper",
                       default="best",
                       help="the paper's Algorithm 1 (random stacks, one pass): the fast "
                            "live-view path")
    which.add_argument("--best", dest="variant", action="store_const", const="best",
                       help="the default method (stabilised, similar-patch groups, weighted "
                            "passes); the default")
    paper = run.add_argument_group("options of the paper method (--paper)")
    paper.add_argument("--stacks", type=int, default=None, help="number of stacks d")
    paper.add_argument("--mode", choices=("fast", "reference"), default=None)
    paper.add_argument("--device", default=None, help="cpu or a torch device such as cuda")
    best = run.add_argument_group("options of the default method")
    best.add_argument("--groups", type=int, default=None, help="groups of similar patches")
    best.add_argument("--passes", type=int, choices=(1, 2), default=None)
    best.add_argument("--aggregation", choices=("flat", "weighted"), default=None)
    best.add_argument("--pilot", choices=("coarse", "none"), default=None,
                      help="first estimate of the grouped passes: the paper's pipeline on "
                           "the 2x2-binned image (coarse) or none")
    best.add_argument("--no-stabilize", dest="stabilize", action="store_const", const=False,
                      default=None, help="skip the generalised Anscombe transform")
    best.add_argument("--no-local-means", dest="local_means", action="store_const",
                      const=False, default=None,
                      help="keep the groups' own coarse scales (smoother, but column "
                           "intensities pulled toward their group) instead of the data's")
    run.add_argument("--components", type=int, default=None,
                     help="eigenpatches computed per stack / judged per group (default 25)")
    add_watch_parser(commands)  # reucid watch DIR: live use (denoiser/reucid/watch.py)
    return parser


def method_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, named as the core names them.

    An option of the other method is passed on too, so that the core refuses it with an
    error naming it instead of ignoring it.

    Examples
    --------
    >>> method_options(build_parser().parse_args(["denoise", "a.tif", "-o", "b.tif",
    ...                                            "--pilot", "none"]))
    {'pilot': None}
    """
    given = {"n_stacks": args.stacks, "mode": args.mode, "device": args.device,
             "n_groups": args.groups, "passes": args.passes, "aggregation": args.aggregation,
             "pilot": args.pilot, "stabilize": args.stabilize, "n_components": args.components,
             "local_means": args.local_means}
    return {name: None if value == "none" else value
            for name, value in given.items() if value is not None}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    if args.command == "watch":
        return watch_command(args)
    try:
        data = read_image(args.input, frame=args.frame)
        result = denoise(data.array, args.classifier, variant=args.variant,
                         patch_size=args.patch_size, seed=args.seed, **method_options(args))
        # a hundred groups of eigenpatches would bloat the TIFF: keep their spectra only
        metadata = result.to_metadata(include_eigenpatches=isinstance(result, PaperResult))
        metadata["source"] = {"file": args.input.name, "format": data.source_format}
        write_tiff(args.output, result.image, pixel_size=data.pixel_size, metadata=metadata)
    except (ReucidError, ValueError, TypeError, OSError) as exc:
        print(f"reucid: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        summary = {
            "output": str(args.output),
            "patch_size": result.patch_size,
            "method": result.method,
            "classifier": result.classifier,
            **({"n_stacks": result.n_stacks, "kept_per_stack": [s.n_kept for s in result.stacks]}
               if isinstance(result, PaperResult) else
               {"n_groups": result.n_groups, "kept_per_group": [g.n_kept for g in result.last_pass]}),
            "seconds": round(result.timings["total"], 3),
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
