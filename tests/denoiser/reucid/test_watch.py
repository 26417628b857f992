"""``reucid watch DIR``: frames that appear while it runs are denoised beside themselves.

Frames are 64 x 64; the method is "paper" where it does not matter. The fall-back rule is
driven with a fake clock and an injected denoiser, Ctrl-C through the write hook (mid-write)
and through a real SIGINT to a ``python -m denoiser.reucid watch`` process.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from denoiser.reucid import denoise, read_image, write_tiff
from denoiser.reucid.cli import main
from denoiser.reucid.watch import FRAME_EXTENSIONS, MethodChooser, _Folder, output_path, watch
from tests.denoiser.conftest import lattice_image

REPO_ROOT = Path(__file__).resolve().parents[3]


def tiff_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.asarray(image, dtype=np.float32))
    return buffer.getvalue()


def wait_until(condition, timeout: float = 60.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def leftovers(folder: Path) -> list[str]:
    """Hidden files (partial results) left in the folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


class FakeTime:
    """A clock that moves only when the injected denoiser or sleep says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def frames_every(folder: Path, count: int, spacing: float, *, start: float = 1.7e9) -> None:
    """Frames written ``spacing`` seconds apart (their modification times)."""
    for index in range(count):
        path = folder / f"frame_{index:03d}.tif"
        write_tiff(path, lattice_image(64, seed=index))
        os.utime(path, (start + index * spacing, start + index * spacing))


def test_frames_appearing_while_watching_are_denoised(tmp_path):
    lines: list[str] = []
    finished = threading.Event()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["reports"] = watch(tmp_path, method="paper", interval=0.03, max_frames=3,
                                       timeout=120, report=lines.append)
        finally:
            finished.set()

    watcher = threading.Thread(target=run, daemon=True)
    watcher.start()
    images = [lattice_image(64, seed=seed) for seed in range(3)]

    # the first frame arrives in two halves: nothing is read before it is complete
    first = tmp_path / "frame_000.tif"
    data = tiff_bytes(images[0])
    with open(first, "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(0.1)  # ~3 looks at a half-written file
        assert not output_path(first).exists()
        handle.write(data[len(data) // 2:])
    assert wait_until(lambda: output_path(first).exists())

    for index in (1, 2):
        write_tiff(tmp_path / f"frame_{index:03d}.tif", images[index])
    assert finished.wait(120), "the watch did not stop after --max-frames"
    watcher.join(5)

    reports = outcome["reports"]
    assert [r.source.name for r in reports] == [f"frame_{i:03d}.tif" for i in range(3)]
    for index, report in enumerate(reports):
        assert report.error == "" and report.method == "paper" and report.seconds > 0
        result = read_image(report.output)
        expected = denoise(images[index], variant="paper").image
        np.testing.assert_allclose(result.array, expected, rtol=1e-5, atol=1e-4)
        assert result.metadata["reucid"]["method"] == "paper"
        assert result.metadata["reucid"]["source"]["file"] == report.source.name
    frame_lines = [line for line in lines if "->" in line]
    assert len(frame_lines) == 3
    assert all("method paper" in line and "frame interval" in line for line in frame_lines)
    assert "frame_000.tif -> frame_000_reucid.tif" in frame_lines[0]
    assert leftovers(tmp_path) == []


def test_default_falls_back_to_paper_when_slower_than_the_frames(tmp_path):
    frames_every(tmp_path, 5, spacing=1.0)
    fake = FakeTime()
    cost = {"best": 3.0, "paper": 0.2}  # seconds per 64x64 frame

    def slow_default(image, method):
        fake.now += cost[method]
        return image * 0.5

    lines: list[str] = []
    reports = watch(tmp_path, interval=0.5, max_frames=5, timeout=100, report=lines.append,
                    denoise_frame=slow_default, clock=fake.clock, sleep=fake.sleep)
    assert [r.method for r in reports] == ["best", "paper", "paper", "paper", "paper"]
    assert [r.interval for r in reports] == [None, 1.0, 1.0, 1.0, 1.0]
    assert reports[0].seconds == pytest.approx(3.0)
    assert "fallback: the default needs ~3.00 s per frame, frames arrive every 1.00 s" \
        in reports[1].note
    assert "method paper" in lines[2] and "fallback" in lines[2]
    # all five were there at once: the lines say how many wait behind each
    assert [r.backlog for r in reports] == [4, 3, 2, 1, 0]
    assert "  3 frames waiting  (fallback" in lines[2] and "waiting" not in lines[5]
    stored = read_image(reports[1].output).metadata["reucid"]
    assert stored["method"] == "paper" and stored["note"].startswith("fallback")
    np.testing.assert_allclose(read_image(reports[4].output).array,
                               lattice_image(64, seed=4) * 0.5)


def test_default_stays_when_it_keeps_up(tmp_path):
    frames_every(tmp_path, 3, spacing=5.0)
    fake = FakeTime()

    def default(image, method):
        fake.now += 3.0 if method == "best" else 0.2
        return image

    reports = watch(tmp_path, interval=0.5, max_frames=3, timeout=100, report=lambda _: None,
                    denoise_frame=default, clock=fake.clock, sleep=fake.sleep)
    assert [r.method for r in reports] == ["best"] * 3
    assert "keeps up" in reports[2].note
    # a frame time given up front is used instead of the modification times
    for report in reports:
        report.output.unlink()
    reports = watch(tmp_path, interval=0.5, max_frames=3, timeout=100, report=lambda _: None,
                    denoise_frame=default, clock=fake.clock, sleep=fake.sleep,
                    frame_interval=1.0)
    assert [r.method for r in reports] == ["best", "paper", "paper"]
    # a method named explicitly never falls back
    for report in reports:
        report.output.unlink()
    reports = watch(tmp_path, method="best", interval=0.5, once=True, report=lambda _: None,
                    denoise_frame=default, clock=fake.clock, sleep=fake.sleep,
                    frame_interval=1.0)
    assert [r.method for r in reports] == ["best"] * 3


def test_chooser_follows_the_frame_size_and_returns_to_the_default():
    chooser = MethodChooser("auto")
    chooser.record("best", pixels=64 * 64, seconds=0.5)
    assert chooser.choose(pixels=64 * 64, interval=1.0)[0] == "best"
    assert chooser.choose(pixels=4 * 64 * 64, interval=1.0)[0] == "paper"  # 2 s > 1 s
    assert chooser.choose(pixels=4 * 64 * 64, interval=3.0)[0] == "best"
    with pytest.raises(ValueError, match="auto, best, paper"):
        MethodChooser("fastest")


def test_ctrl_c_while_writing_leaves_no_partial_result(tmp_path):
    frames_every(tmp_path, 2, spacing=1.0)
    written: list[Path] = []

    def interrupted_write(path, image, pixel_size=None, metadata=None):
        written.append(Path(path))
        Path(path).write_bytes(tiff_bytes(image)[:100])  # half a file on disk...
        raise KeyboardInterrupt  # ...when Ctrl-C arrives

    with pytest.raises(KeyboardInterrupt):
        watch(tmp_path, method="paper", once=True, interval=0.01, report=lambda _: None,
              denoise_frame=lambda image, method: image, write=interrupted_write)
    assert len(written) == 1 and written[0].parent == tmp_path
    assert written[0].name.startswith(".")  # it was a hidden temporary name...
    assert leftovers(tmp_path) == []        # ...and is gone
    assert not any(p.name.endswith("_reucid.tif") for p in tmp_path.iterdir())

    # the next run denoises both frames; results, hidden files and finished frames are
    # never taken as frames
    (tmp_path / ".frame_009_reucid.tif.999.partial.tif").write_bytes(b"left by SIGKILL")
    reports = watch(tmp_path, method="paper", once=True, interval=0.01, report=lambda _: None,
                    denoise_frame=lambda image, method: image)
    assert [r.source.name for r in reports] == ["frame_000.tif", "frame_001.tif"]
    assert leftovers(tmp_path) == []
    again = watch(tmp_path, method="paper", once=True, interval=0.01, report=lambda _: None,
                  denoise_frame=lambda image, method: image)
    assert again == []


def test_sigint_stops_the_command_without_partial_files(tmp_path):
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "denoiser.reucid", "watch", str(tmp_path), "--method", "paper",
         "--interval", "0.05", "--timeout", "300"],
        cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background (`cmd &` in a script) runs with SIGINT
        # ignored, and a child inherits that: give the watcher the terminal's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        write_tiff(tmp_path / "frame_000.tif", lattice_image(64))
        assert wait_until(lambda: output_path(tmp_path / "frame_000.tif").exists(), 120)
        # a second frame: the signal lands while it is being read, denoised or written
        write_tiff(tmp_path / "frame_001.tif", lattice_image(64, seed=1))
        time.sleep(0.08)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "frame_000.tif -> frame_000_reucid.tif  method paper" in stdout
    assert "stopped (no partial result left)" in stdout
    assert leftovers(tmp_path) == []
    for result in tmp_path.glob("*_reucid.tif"):  # whatever is there is complete
        assert read_image(result).array.shape == (64, 64)


def test_command_once_with_pattern(tmp_path, capsys):
    write_tiff(tmp_path / "a.tif", lattice_image(64))
    write_tiff(tmp_path / "b.tif", lattice_image(64, seed=2))
    (tmp_path / "notes.txt").write_text("not a frame")
    status = main(["watch", str(tmp_path), "--once", "--method", "paper", "--interval",
                   "0.01", "--pattern", "a*"])
    out = capsys.readouterr().out
    assert status == 0
    assert "a.tif -> a_reucid.tif  method paper" in out
    assert "1 frame denoised (best 0, paper 1)" in out
    assert not (tmp_path / "b_reucid.tif").exists()
    assert ".dm4" in FRAME_EXTENSIONS and ".ser" in FRAME_EXTENSIONS

    assert main(["watch", str(tmp_path / "missing"), "--once"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_unreadable_frame_is_reported_and_retried_once_rewritten(tmp_path):
    broken = tmp_path / "frame_000.tif"
    broken.write_bytes(b"II*\x00 not really a tiff")
    lines: list[str] = []
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if any("skipped" in line for line in lines) and broken.stat().st_size < 100:
            write_tiff(broken, lattice_image(64))  # the microscope writes it again

    reports = watch(tmp_path, method="paper", max_frames=1, interval=0.5, timeout=100,
                    report=lines.append, denoise_frame=lambda image, method: image,
                    clock=fake.clock, sleep=sleep)
    assert [r.output for r in reports] == [None, output_path(broken)]
    assert lines[1].startswith("frame_000.tif: skipped: ")  # with the reader's reason
    assert read_image(output_path(broken)).array.shape == (64, 64)


def test_a_frame_is_taken_only_once_unchanged_between_two_looks(tmp_path):
    frames = _Folder(tmp_path, None)
    growing = tmp_path / "frame.dm4"
    growing.write_bytes(b"first block")
    (tmp_path / "empty.ser").write_bytes(b"")
    assert frames.ready() == []  # first look
    with open(growing, "ab") as handle:
        handle.write(b", second block")
    assert frames.ready() == []  # it grew since
    assert [path for path, _ in frames.ready()] == [growing]  # unchanged: ready
    assert frames.waiting == 1  # the empty file does not hold up --once


def test_a_frame_the_denoiser_refuses_does_not_end_the_session(tmp_path):
    frames_every(tmp_path, 3, spacing=1.0)

    def picky(image, method):
        if float(image.sum()) == float(lattice_image(64, seed=1).sum()):
            raise ValueError("the image is smaller than two patches")
        return image

    lines: list[str] = []
    reports = watch(tmp_path, method="paper", once=True, interval=0.01, report=lines.append,
                    denoise_frame=picky)
    assert [(r.source.name, r.output is not None) for r in reports] == [
        ("frame_000.tif", True), ("frame_001.tif", False), ("frame_002.tif", True)]
    assert "frame_001.tif: skipped: the image is smaller than two patches" in lines


def test_timeout_ends_a_backlog(tmp_path):
    frames_every(tmp_path, 4, spacing=1.0)
    fake = FakeTime()

    def slow(image, method):
        fake.now += 2.0
        return image

    reports = watch(tmp_path, method="paper", interval=0.5, timeout=3.0, report=lambda _: None,
                    denoise_frame=slow, clock=fake.clock, sleep=fake.sleep)
    assert len(reports) == 2  # 0.5 s wait for the second look, then 2 s per frame
