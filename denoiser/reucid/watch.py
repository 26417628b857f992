"""Live use: denoise each new frame a microscope writes into a folder (``reucid watch DIR``).

The folder is polled (no file-system events: they need a dependency and miss files on
network shares): every ``interval`` seconds it is listed, and a frame is taken once its
size and modification time did not change between two looks and it can be read, so a
frame still being written is never denoised half. The result goes beside the frame as
``<stem>_reucid.tif``, written under a hidden temporary name in the same folder and
renamed into place (``os.replace``): a reader, or a Ctrl-C, never sees half a result.

With ``method="auto"`` (the default) each frame runs the best variant (the default of
:func:`denoiser.reucid.denoise`) while its measured time per frame fits within the
frame interval the microscope shows (the spacing of the frames' modification times),
and the paper's pipeline (``variant="paper"``, ~35x faster) when it does not; every
progress line says which ran and why.

Examples
--------
>>> import tempfile, numpy as np
>>> from denoiser.reucid import write_tiff
>>> folder = Path(tempfile.mkdtemp())
>>> write_tiff(folder / "frame_001.tif", np.ones((8, 8)))
>>> reports = watch(folder, once=True, interval=0.01, report=lambda line: None,
...                 denoise_frame=lambda image, method: image * 0.5)
>>> [(r.source.name, r.output.name, r.method) for r in reports]
[('frame_001.tif', 'frame_001_reucid.tif', 'best')]
"""
from __future__ import annotations

import fnmatch
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .api import denoise
from .errors import ReucidError
from .io import read_image, write_tiff

__all__ = ["FRAME_EXTENSIONS", "FrameReport", "MethodChooser", "output_path", "watch",
           "write_atomically"]

#: What a microscope's software writes (``read_image`` reads each).
FRAME_EXTENSIONS = (".tif", ".tiff", ".dm3", ".dm4", ".emd", ".ser", ".mrc")
#: A result's name: ``<stem>`` of the frame plus this.
OUTPUT_SUFFIX = "_reucid.tif"
#: Ends the hidden temporary name a result is written under before it is renamed.
PARTIAL_SUFFIX = ".partial.tif"
METHODS = ("auto", "best", "paper")
#: The frame interval is the median of this many recent spacings (one late frame, or
#: a pause of the scan, does not flip the method).
INTERVALS_KEPT = 5
#: Looks at a stable frame that still cannot be read before it is reported and set aside
#: (a file that is not an image, or a writer that paused longer than the poll interval:
#: a frame set aside is tried again once it changes).
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class FrameReport:
    """What happened to one frame: the progress line's content.

    Attributes
    ----------
    source, output : pathlib.Path
        The frame and its result (``output`` None when skipped).
    method : str or None
        "best" or "paper": what ran.
    seconds : float
        Time from reading the frame to its result being in place.
    interval : float or None
        The frame interval observed when it was processed (None before two frames).
    note : str
        Why this method ran.
    error : str
        Why the frame was skipped ("" when it was denoised).
    backlog : int
        Frames complete and waiting behind it when it was done (the watch falls behind).
    """

    source: Path
    output: Path | None
    method: str | None
    seconds: float
    interval: float | None
    note: str = ""
    error: str = ""
    backlog: int = 0

    def line(self) -> str:
        """The progress line printed for this frame."""
        if self.error:
            return f"{self.source.name}: skipped: {self.error}"
        interval = "-" if self.interval is None else f"{self.interval:.2f} s"
        line = (f"{self.source.name} -> {self.output.name}  method {self.method}  "
                f"{self.seconds:.2f} s  frame interval {interval}")
        if self.backlog:
            line += f"  {self.backlog} frame{'s' if self.backlog != 1 else ''} waiting"
        return f"{line}  ({self.note})" if self.note else line


class MethodChooser:
    """Chooses the method of each frame from measured times and the frame interval.

    With "auto", the best variant runs until its measured time per frame (per pixel,
    so a change of frame size is followed) exceeds the observed frame interval; then
    the paper's pipeline runs, until frames come slowly enough again for the best one.

    Examples
    --------
    >>> chooser = MethodChooser("auto")
    >>> chooser.choose(pixels=100, interval=1.0)[0]  # nothing measured yet
    'best'
    >>> chooser.record("best", pixels=100, seconds=3.0)
    >>> chooser.choose(pixels=100, interval=1.0)
    ('paper', 'fallback: the default needs ~3.00 s per frame, frames arrive every 1.00 s')
    >>> chooser.choose(pixels=100, interval=5.0)[0]
    'best'
    """

    def __init__(self, method: str = "auto") -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.method = method
        self.seconds_per_pixel: dict[str, float] = {}

    def record(self, method: str, *, pixels: int, seconds: float) -> None:
        """Remember how long a frame of ``pixels`` pixels took with ``method``."""
        self.seconds_per_pixel[method] = seconds / max(int(pixels), 1)

    def choose(self, *, pixels: int, interval: float | None) -> tuple[str, str]:
        """The method for the next frame, and why."""
        if self.method != "auto":
            return self.method, ""
        rate = self.seconds_per_pixel.get("best")
        if rate is None:
            return "best", "the default, timing it"
        needed = rate * pixels
        if interval is None:
            return "best", f"the default, ~{needed:.2f} s per frame"
        if needed > interval:
            return "paper", (f"fallback: the default needs ~{needed:.2f} s per frame, "
                             f"frames arrive every {interval:.2f} s")
        return "best", (f"the default keeps up: ~{needed:.2f} s per frame, frames "
                        f"every {interval:.2f} s")


def output_path(frame: Path) -> Path:
    """Where the result of a frame goes: ``<stem>_reucid.tif`` beside it.

    Examples
    --------
    >>> output_path(Path("/data/session/frame_0007.dm4")).name
    'frame_0007_reucid.tif'
    """
    return frame.with_name(frame.stem + OUTPUT_SUFFIX)


def _partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}")


def write_atomically(target: Path, image: np.ndarray, *, pixel_size=None,
                     metadata: dict | None = None, write: Callable | None = None) -> None:
    """Write a result TIFF so that ``target`` is either absent or complete.

    The file is written under a hidden name in the same folder (same file system, so the
    rename is atomic) and renamed over ``target``; any interruption, Ctrl-C included,
    removes the partial file before it propagates.
    """
    write = write_tiff if write is None else write
    partial = _partial_path(target)
    try:
        write(partial, image, pixel_size=pixel_size, metadata=metadata)
        os.replace(partial, target)
    finally:
        # after a successful rename there is nothing left to remove
        partial.unlink(missing_ok=True)


def _is_frame(path: Path, pattern: str | None) -> bool:
    name = path.name
    if name.startswith(".") or name.endswith(OUTPUT_SUFFIX):
        return False  # hidden (our partial results, a writer's temporaries) or a result
    if path.suffix.lower() not in FRAME_EXTENSIONS:
        return False
    return pattern is None or fnmatch.fnmatch(name, pattern)


def _is_done(frame: Path, stat: os.stat_result) -> bool:
    """A result newer than the frame exists already (e.g. before a restart)."""
    try:
        return output_path(frame).stat().st_mtime_ns >= stat.st_mtime_ns
    except OSError:
        return False


def _core_denoiser(*, seed: int, classifier: Any, device: str) -> Callable:
    def run(image: np.ndarray, method: str):
        return denoise(image, classifier, variant=method, seed=seed, device=device)

    return run


def _frame_metadata(result: Any, method: str, source: Path, source_format: str,
                    seconds: float, note: str) -> dict:
    metadata: dict[str, Any] = {
        "software": "REUCID watch", "method": method, "note": note,
        "seconds": round(seconds, 4), "source": {"file": source.name, "format": source_format},
    }
    for name in ("patch_size", "n_stacks"):
        value = getattr(result, name, None)
        if isinstance(value, (int, np.integer)):
            metadata[name] = int(value)
    return metadata


Look = tuple[int, int]  # (size, modification time in ns)


def _look(stat: os.stat_result) -> Look:
    return (stat.st_size, stat.st_mtime_ns)


class _Folder:
    """The frames of a folder and what has been seen of them between looks.

    A frame is known by its path and its look (size, modification time): one that is
    written again under the same name (a live view that overwrites one file) is a new
    frame.
    """

    def __init__(self, folder: Path, pattern: str | None) -> None:
        self.folder = folder
        self.pattern = pattern
        self.handled: dict[Path, Look] = {}    # denoised, or refused by the denoiser
        self.set_aside: dict[Path, Look] = {}  # unreadable as it was
        self.looks: dict[Path, Look] = {}      # seen, not yet taken
        self.failures: dict[Path, int] = {}

    def skip_done(self) -> int:
        """Take frames that have an up-to-date result as handled; return their number."""
        count = 0
        for path, stat in self._frames():
            if _is_done(path, stat):
                self.handled[path] = _look(stat)
                count += 1
        return count

    def _frames(self):
        """(path, stat) of the frames not handled or set aside as they are now."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            path = Path(entry.path)
            if not _is_frame(path, self.pattern):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue  # removed between the listing and the look
            look = _look(stat)
            if self.handled.get(path) == look or self.set_aside.get(path) == look:
                continue
            yield path, stat

    def ready(self) -> list[tuple[Path, os.stat_result]]:
        """Frames unchanged since the previous look (non-empty), oldest first."""
        ready, seen = [], set()
        for path, stat in self._frames():
            seen.add(path)
            look = _look(stat)
            if self.looks.get(path) == look and stat.st_size > 0:
                ready.append((path, stat))
            self.looks[path] = look
        for gone in set(self.looks) - seen:
            self.looks.pop(gone, None)
            self.failures.pop(gone, None)
        return sorted(ready, key=lambda item: (item[1].st_mtime_ns, item[0].name))

    @property
    def waiting(self) -> int:
        """Frames seen but not yet taken (still being written, or not yet readable);
        empty files do not count: a writer may have created one and given up."""
        return sum(1 for size, _ in self.looks.values() if size > 0)

    def _take(self, path: Path) -> None:
        self.looks.pop(path, None)
        self.failures.pop(path, None)

    def set_unreadable(self, path: Path, stat: os.stat_result) -> None:
        self._take(path)
        self.set_aside[path] = _look(stat)

    def handle(self, path: Path, stat: os.stat_result) -> None:
        self._take(path)
        self.set_aside.pop(path, None)
        self.handled[path] = _look(stat)


def watch(
    folder: str | Path,
    *,
    method: str = "auto",
    interval: float = 0.5,
    once: bool = False,
    max_frames: int | None = None,
    pattern: str | None = None,
    timeout: float | None = None,
    frame_interval: float | None = None,
    frame: int | None = None,
    seed: int = 0,
    classifier: Any = None,
    device: str = "cpu",
    denoise_frame: Callable[[np.ndarray, str], Any] | None = None,
    write: Callable | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[FrameReport]:
    """Denoise every new frame written into ``folder`` until stopped.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder the microscope writes frames into (not its subfolders).
    method : {"auto", "best", "paper"}
        "auto": the best variant while it keeps up with the frame interval, else the
        paper's pipeline (see :class:`MethodChooser`).
    interval : float
        Seconds between two looks at the folder.
    once : bool
        Denoise the frames there now (waiting for those still being written) and return.
        There is no microscope to keep up with: "auto" runs the best variant unless
        ``frame_interval`` is given.
    max_frames : int, optional
        Return after this many frames were denoised.
    pattern : str, optional
        Only frames whose name matches this glob (e.g. ``"*.dm4"``).
    timeout : float, optional
        Return after this many seconds (measured with ``clock``).
    frame_interval : float, optional
        The microscope's frame time in seconds, if known; else "auto" observes it from
        the spacing of the frames' modification times.
    frame : int, optional
        For files that hold a stack, which frame to denoise.
    seed, classifier, device
        Passed to :func:`denoiser.reucid.denoise`.
    denoise_frame : callable, optional
        ``(image, method) -> DenoiseResult or array`` instead of the core's ``denoise``
        (tests inject slow or instant ones).
    write : callable, optional
        ``(path, image, pixel_size=, metadata=)``, default :func:`write_tiff`.
    clock, sleep : callable, optional
        Time source and pause (tests inject a fake clock).
    report : callable, optional
        Receives each progress line; default: print to stdout.
    stop : callable, optional
        Checked before each look; True ends the watch (e.g. ``threading.Event.is_set``).

    Returns
    -------
    list of FrameReport
        One per frame denoised or skipped, in order.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, after removing a result that was being written.
    ValueError
        For a folder that does not exist or bad options.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    if interval <= 0:
        raise ValueError("the polling interval must be positive")
    chooser = MethodChooser(method)
    say = report or (lambda line: print(line, flush=True))
    run = denoise_frame or _core_denoiser(seed=seed, classifier=classifier, device=device)

    for stale in folder.glob(f".*{OUTPUT_SUFFIX}.*{PARTIAL_SUFFIX}"):
        stale.unlink(missing_ok=True)  # left by a watcher killed outright (SIGKILL)
    frames = _Folder(folder, pattern)
    already = frames.skip_done()
    say(f"reucid watch: {folder} ({pattern or ', '.join(FRAME_EXTENSIONS)}), method "
        f"{method}, looking every {interval:g} s"
        + (f"; {already} frame{'s' if already != 1 else ''} already denoised" if already else "")
        + ("" if once else "; Ctrl-C stops"))
    reports: list[FrameReport] = []
    spacings: list[float] = []
    previous_mtime: int | None = None
    started = clock()
    denoised = 0
    def over() -> bool:
        return ((stop is not None and stop())
                or (timeout is not None and clock() - started >= timeout))

    while not over():
        ready = frames.ready()
        for position, (path, stat) in enumerate(ready):
            if over():
                return reports
            begun = clock()
            try:
                data = read_image(path, frame=frame)
            except (ReucidError, ValueError, OSError) as error:
                failures = frames.failures.get(path, 0) + 1
                frames.failures[path] = failures
                if failures < READ_ATTEMPTS:
                    continue  # perhaps written in bursts: look again
                frames.set_unreadable(path, stat)
                reports.append(FrameReport(path, None, None, 0.0, None, error=str(error)))
                say(reports[-1].line())
                continue
            if previous_mtime is not None and stat.st_mtime_ns >= previous_mtime:
                spacings.append((stat.st_mtime_ns - previous_mtime) / 1e9)
                del spacings[:-INTERVALS_KEPT]
            previous_mtime = stat.st_mtime_ns
            if frame_interval is not None:
                observed = float(frame_interval)
            elif spacings and not once:
                observed = statistics.median(spacings)
            else:
                observed = None
            pixels = int(data.array.size)
            chosen, note = chooser.choose(pixels=pixels, interval=observed)
            target = output_path(path)
            try:
                result = run(data.array, chosen)
                image = np.asarray(getattr(result, "image", result), dtype=np.float32)
                seconds = clock() - begun
                write_atomically(target, image, pixel_size=data.pixel_size, write=write,
                                 metadata=_frame_metadata(result, chosen, path,
                                                          data.source_format, seconds, note))
            except (ReucidError, ValueError, MemoryError) as error:
                # one frame the denoiser refuses must not end a session at the microscope
                frames.handle(path, stat)
                reports.append(FrameReport(path, None, chosen, clock() - begun,
                                           observed, note, error=str(error)))
                say(reports[-1].line())
                continue
            seconds = clock() - begun
            chooser.record(chosen, pixels=pixels, seconds=seconds)
            frames.handle(path, stat)
            denoised += 1
            reports.append(FrameReport(path, target, chosen, seconds, observed, note,
                                       backlog=len(ready) - position - 1))
            say(reports[-1].line())
            if max_frames is not None and denoised >= max_frames:
                return reports
        if once and not frames.waiting:
            break
        sleep(interval)
    return reports


def add_parser(commands) -> None:
    """Register ``reucid watch`` on the CLI's subcommands."""
    parser = commands.add_parser(
        "watch", help="denoise each new frame written into a folder (live use)",
        description="Denoise each new frame a microscope writes into DIR (" +
        ", ".join(FRAME_EXTENSIONS) + "); results go beside the frames as "
        "<stem>_reucid.tif. Ctrl-C stops and leaves no half-written file.")
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="auto (default): the best variant while it keeps up with the "
                             "frame interval, else the paper's pipeline; best; paper")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between looks at the folder (default 0.5)")
    parser.add_argument("--once", action="store_true",
                        help="denoise the frames there now and exit (auto then runs the best "
                             "variant: there is no microscope to keep up with)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="exit after this many frames")
    parser.add_argument("--pattern", default=None,
                        help="only frames whose name matches this glob, e.g. '*.dm4'")
    parser.add_argument("--timeout", type=float, default=None,
                        help="exit after this many seconds")
    parser.add_argument("--frame-interval", type=float, default=None, metavar="SECONDS",
                        help="the microscope's frame time, if known (default: observed from "
                             "the frames' modification times)")
    parser.add_argument("--frame", type=int, default=None,
                        help="for files holding a stack: the frame to denoise")
    parser.add_argument("--classifier", default=None, help="as for 'reucid denoise'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def command(args) -> int:
    """Run ``reucid watch`` from parsed arguments; 0 when done, 130 after Ctrl-C."""
    if _in_main_thread():
        # a service manager's stop (SIGTERM) cleans up like a Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)
    reports: list[FrameReport] = []
    try:
        reports = watch(args.folder, method=args.method, interval=args.interval,
                        once=args.once, max_frames=args.max_frames, pattern=args.pattern,
                        timeout=args.timeout, frame_interval=args.frame_interval,
                        frame=args.frame, seed=args.seed,
                        classifier=args.classifier, device=args.device)
    except KeyboardInterrupt:
        print("reucid watch: stopped (no partial result left)", flush=True)
        return 130
    except ValueError as error:
        print(f"reucid: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the disk is full or the folder went away
        print(f"reucid: error: {error}", file=sys.stderr)
        return 1
    methods = [r.method for r in reports if not r.error]
    print(f"reucid watch: {len(methods)} frame{'s' if len(methods) != 1 else ''} denoised "
          f"(best {methods.count('best')}, paper {methods.count('paper')})", flush=True)
    return 0


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
