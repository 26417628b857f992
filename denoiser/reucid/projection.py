"""Fast projection and placement: steps 5–6 of Algorithm 1 without a patch matrix.

For an eigenpatch ``E`` (``p x p``) the coefficient of the patch whose top-left corner
is ``(i, j)`` is the valid correlation ``c[i, j] = sum_ab X[i+a, j+b] E[a, b]``, and
placing ``c[i, j] E`` back at ``(i, j)`` for every position in a stack is the full
convolution of the masked coefficients with ``E``. Both are done with real FFTs at
(a fast length >= ) the image size: circular correlation is exact at every valid
position, the stack's position mask zeroes the rest, and the full convolution of an
``(m-p+1) x (n-p+1)`` map with a ``p x p`` kernel is exactly ``m x n`` long, so no
wrap-around ever reaches a result.

When a stack holds *every* position (``d = 1``) the interior of the result (pixels at
least ``p-1`` from each border) is a single correlation of the image with
``H = sum_k autocorr(E_k)``, a ``(2p-1)^2`` kernel: three FFTs in all. The border strips
``p-1`` wide are computed exactly on ``(2p-2)``-wide sub-images, whose patch positions
are exactly the image's positions that touch those strips.

Everything runs at float32 with ``scipy.fft`` (``workers``) or, with
``backend="torch"``, with ``torch.fft`` on any device (``device="cuda"`` for a GPU).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

__all__ = ["project_stack", "component_contributions"]

# Bytes of FFT work arrays allowed per batch of components.
_BATCH_BYTES = 192 * 1024**2


class _Backend:
    """The handful of array operations the projection needs, for numpy or torch."""

    def __init__(self, backend: str = "numpy", device: str = "cpu", workers: int = -1) -> None:
        if device != "cpu" and backend == "numpy":
            backend = "torch"
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        self.name = backend
        self.device = device
        self.workers = workers
        if backend == "torch":
            import torch

            self.torch = torch
            try:
                self.torch_device = torch.device(device)
                torch.empty(1, device=self.torch_device)
            except (RuntimeError, AssertionError) as exc:
                raise ValueError(f"device {device!r} is not available: {exc}") from exc

    def fast_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        return (scipy.fft.next_fast_len(int(shape[0]), real=True),
                scipy.fft.next_fast_len(int(shape[1]), real=True))

    def asarray(self, array: np.ndarray) -> Any:
        array = np.ascontiguousarray(array, dtype=np.float32)
        if self.name == "numpy":
            return array
        return self.torch.from_numpy(array).to(self.torch_device)

    def to_numpy(self, array: Any) -> np.ndarray:
        if self.name == "numpy":
            return np.asarray(array)
        return array.detach().cpu().numpy()

    def rfft2(self, array: Any, shape: tuple[int, int]) -> Any:
        if self.name == "numpy":
            return scipy.fft.rfft2(array, s=shape, axes=(-2, -1), workers=self.workers)
        return self.torch.fft.rfft2(array, s=shape, dim=(-2, -1))

    def irfft2(self, spectrum: Any, shape: tuple[int, int]) -> Any:
        if self.name == "numpy":
            return scipy.fft.irfft2(spectrum, s=shape, axes=(-2, -1), workers=self.workers)
        return self.torch.fft.irfft2(spectrum, s=shape, dim=(-2, -1))

    def conj(self, spectrum: Any) -> Any:
        return np.conj(spectrum) if self.name == "numpy" else spectrum.conj()

    def zeros(self, shape: tuple[int, ...], *, complex_: bool = False) -> Any:
        if self.name == "numpy":
            return np.zeros(shape, dtype=np.complex64 if complex_ else np.float32)
        dtype = self.torch.complex64 if complex_ else self.torch.float32
        return self.torch.zeros(shape, dtype=dtype, device=self.torch_device)

    def sum0(self, array: Any) -> Any:
        return array.sum(axis=0) if self.name == "numpy" else array.sum(dim=0)


def project_stack(
    image: ArrayLike,
    eigenpatches: ArrayLike,
    position_mask: ArrayLike | None = None,
    *,
    backend: str = "numpy",
    device: str = "cpu",
    workers: int = -1,
) -> NDArray[np.float64]:
    """Sum over a stack's patches of their projection onto the eigenpatches, placed back.

    Equals ``sum_{(i,j) in stack} place((P_ij . E^T) E, at=(i,j))`` with ``P_ij`` the
    patch at top-left ``(i, j)`` and ``E`` the ``(K, p^2)`` eigenpatch matrix.

    Parameters
    ----------
    image : array_like
        ``(m, n)`` image.
    eigenpatches : array_like
        ``(K, p, p)`` eigenpatches (``K`` may be 0).
    position_mask : array_like of bool, optional
        ``(m-p+1, n-p+1)`` map of the stack's top-left positions; None = all positions
        (uses the single-filter shortcut).
    backend : {"numpy", "torch"}, optional
        FFT implementation.
    device : str, optional
        Torch device (``"cuda"`` implies the torch backend).
    workers : int, optional
        scipy.fft worker threads (-1 = all cores).

    Returns
    -------
    numpy.ndarray
        ``(m, n)`` float64 canvas (not yet divided by the terrain).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(size=(20, 24))
    >>> basis = np.eye(9).reshape(9, 3, 3)   # a full basis keeps every patch
    >>> from denoiser.reucid.terrain import patch_terrain
    >>> terrain = patch_terrain(np.ones((18, 22), bool), 3)
    >>> bool(np.allclose(project_stack(image, basis) / terrain, image, atol=1e-5))
    True
    """
    ops = _Backend(backend, device, workers)
    x = np.asarray(image, dtype=np.float64)
    e = np.asarray(eigenpatches, dtype=np.float64)
    _check_shapes(x, e, position_mask)
    if e.shape[0] == 0:
        return np.zeros(x.shape, dtype=np.float64)
    if position_mask is None or np.all(position_mask):
        return _all_positions(ops, x, e, per_component=False)
    return _masked(ops, x, e, np.asarray(position_mask, dtype=bool), per_component=False)


def component_contributions(
    image: ArrayLike,
    eigenpatches: ArrayLike,
    position_mask: ArrayLike | None = None,
    *,
    backend: str = "numpy",
    device: str = "cpu",
    workers: int = -1,
) -> NDArray[np.float32]:
    """Per-eigenpatch placed-back projections ``(K, m, n)``; they sum to :func:`project_stack`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> image, basis = rng.normal(size=(16, 16)), np.eye(16).reshape(16, 4, 4)[:3]
    >>> parts = component_contributions(image, basis)
    >>> parts.shape, bool(np.allclose(parts.sum(0), project_stack(image, basis), atol=1e-4))
    ((3, 16, 16), True)
    """
    ops = _Backend(backend, device, workers)
    x = np.asarray(image, dtype=np.float64)
    e = np.asarray(eigenpatches, dtype=np.float64)
    _check_shapes(x, e, position_mask)
    if e.shape[0] == 0:
        return np.zeros((0, *x.shape), dtype=np.float32)
    if position_mask is None or np.all(position_mask):
        return _all_positions(ops, x, e, per_component=True)
    return _masked(ops, x, e, np.asarray(position_mask, dtype=bool), per_component=True)


def _check_shapes(x: np.ndarray, e: np.ndarray, mask: ArrayLike | None) -> None:
    if x.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {x.shape}")
    if e.ndim != 3 or e.shape[1] != e.shape[2]:
        raise ValueError(f"eigenpatches must have shape (K, p, p), got {e.shape}")
    p = e.shape[1]
    m, n = x.shape
    if p > min(m, n):
        raise ValueError(f"patch size {p} does not fit a {m}x{n} image")
    if mask is not None and np.shape(mask) != (m - p + 1, n - p + 1):
        raise ValueError(f"position_mask must have shape {(m - p + 1, n - p + 1)}")


def _batch_size(shape: tuple[int, int], n_components: int) -> int:
    per_component = shape[0] * shape[1] * 16  # one float32 map and one complex64 spectrum
    return int(max(1, min(n_components, _BATCH_BYTES // max(per_component, 1))))


def _masked(ops: _Backend, x: np.ndarray, e: np.ndarray, mask: np.ndarray, *,
            per_component: bool) -> np.ndarray:
    """General path: correlate, mask to the stack's positions, convolve back."""
    m, n = x.shape
    k, p, _ = e.shape
    shape = ops.fast_shape((m, n))
    mask_full = np.zeros(shape, dtype=np.float32)
    mask_full[: m - p + 1, : n - p + 1] = mask
    mask_dev = ops.asarray(mask_full)
    image_spectrum = ops.rfft2(ops.asarray(x), shape)
    batch = _batch_size(shape, k)
    if per_component:
        parts = np.empty((k, m, n), dtype=np.float32)
    else:
        total = ops.zeros((shape[0], shape[1] // 2 + 1), complex_=True)
    for start in range(0, k, batch):
        kernel_spectrum = ops.rfft2(ops.asarray(e[start:start + batch]), shape)
        coefficients = ops.irfft2(image_spectrum * ops.conj(kernel_spectrum), shape)
        coefficients *= mask_dev
        placed = ops.rfft2(coefficients, shape) * kernel_spectrum
        del coefficients
        if per_component:
            parts[start:start + batch] = ops.to_numpy(ops.irfft2(placed, shape)[..., :m, :n])
        else:
            total += ops.sum0(placed)
    if per_component:
        return parts
    return ops.to_numpy(ops.irfft2(total, shape))[:m, :n].astype(np.float64)


def _autocorrelation_kernels(e: np.ndarray) -> np.ndarray:
    """``(K, 2p-1, 2p-1)`` linear autocorrelations of the eigenpatches, lag 0 at the centre."""
    p = e.shape[1]
    side = 2 * p - 1
    spectrum = np.fft.rfft2(e, s=(side, side))
    circular = np.fft.irfft2(np.abs(spectrum) ** 2, s=(side, side))
    return np.fft.fftshift(circular, axes=(-2, -1))


def _all_positions(ops: _Backend, x: np.ndarray, e: np.ndarray, *,
                   per_component: bool) -> np.ndarray:
    """``d = 1`` path: one filter for the interior, exact sub-images for the borders."""
    m, n = x.shape
    k, p, _ = e.shape
    if min(m, n) < 4 * p:
        return _masked(ops, x, e, np.ones((m - p + 1, n - p + 1), bool),
                       per_component=per_component)
    shape = ops.fast_shape((m, n))
    kernels = _autocorrelation_kernels(e)
    if not per_component:
        kernels = kernels.sum(axis=0, keepdims=True)
    wrapped = np.zeros((kernels.shape[0], *shape), dtype=np.float32)
    wrapped[:, : 2 * p - 1, : 2 * p - 1] = kernels
    wrapped = np.roll(wrapped, (-(p - 1), -(p - 1)), axis=(1, 2))
    image_spectrum = ops.rfft2(ops.asarray(x), shape)
    batch = _batch_size(shape, kernels.shape[0])
    result = np.empty((kernels.shape[0], m, n), dtype=np.float32)
    for start in range(0, kernels.shape[0], batch):
        filtered = ops.irfft2(
            image_spectrum * ops.conj(ops.rfft2(ops.asarray(wrapped[start:start + batch]), shape)),
            shape,
        )
        result[start:start + batch] = ops.to_numpy(filtered[..., :m, :n])
    # H is symmetric (an autocorrelation), so correlating with it equals convolving.
    band = 2 * p - 2
    strips = (x[:band], x[m - band:], x[:, :band], x[:, n - band:])
    if per_component:
        top, bottom, left, right = (
            _masked(ops, strip, e, np.ones((strip.shape[0] - p + 1, strip.shape[1] - p + 1),
                                           bool), per_component=True)
            for strip in strips)
    else:
        top, bottom, left, right = (_direct_all_positions(strip, e)[None] for strip in strips)
    edge = p - 1
    result[:, :edge, :] = top[:, :edge, :]
    result[:, m - edge:, :] = bottom[:, band - edge:, :]
    result[:, :, :edge] = left[:, :, :edge]
    result[:, :, n - edge:] = right[:, :, band - edge:]
    if per_component:
        return result
    return result[0].astype(np.float64)


def _direct_all_positions(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Projection of every patch of a small (strip) image, placed back, in float64.

    For the thin border strips this patch-matrix product is cheaper than K FFTs.
    """
    k, p, _ = e.shape
    windows = sliding_window_view(x, (p, p))
    rows, cols = windows.shape[:2]
    basis = e.reshape(k, p * p)
    patches = windows.reshape(rows * cols, p * p)
    reconstructed = ((patches @ basis.T) @ basis).reshape(rows, cols, p, p)
    canvas = np.zeros(x.shape, dtype=np.float64)
    for a in range(p):
        for b in range(p):
            canvas[a:a + rows, b:b + cols] += reconstructed[:, :, a, b]
    return canvas
