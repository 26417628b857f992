"""Peak resident memory of this process around one call (Linux ``/proc``).

Peak memory is measured as resident set size, so it includes everything a method
allocates — numpy, torch, FFT and BLAS work buffers — not only what Python's
allocator sees (``tracemalloc`` misses torch and the FFT libraries). On Linux the
kernel's high-water mark ``VmHWM`` is reset before each call by writing ``5`` to
``/proc/self/clear_refs``; where that is not allowed, the lifetime peak
``ru_maxrss`` is used and the report says so.
"""
from __future__ import annotations

import ctypes
import resource
from pathlib import Path

__all__ = ["current_rss_bytes", "peak_rss_bytes", "release_free_heap", "reset_peak"]

_STATUS = Path("/proc/self/status")


def _status_field(name: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def current_rss_bytes() -> int:
    """Resident memory now, in bytes (``ru_maxrss`` where ``/proc`` is missing).

    Examples
    --------
    >>> current_rss_bytes() > 0
    True
    """
    value = _status_field("VmRSS")
    if value is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return value


def release_free_heap() -> None:
    """Hand memory that was freed but kept by the C allocator back to the system.

    Without this, a call reuses what an earlier call freed and its peak increment
    reads too low. Does nothing outside glibc.

    Examples
    --------
    >>> release_free_heap()
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark; False where the kernel does not allow it.

    Examples
    --------
    >>> isinstance(reset_peak(), bool)
    True
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    """Peak resident memory since the last :func:`reset_peak` (or since start), in bytes.

    Examples
    --------
    >>> peak_rss_bytes() >= current_rss_bytes() // 2
    True
    """
    value = _status_field("VmHWM")
    if value is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return value
