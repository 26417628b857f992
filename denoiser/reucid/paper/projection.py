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
from numpy.typing import ArrayLike, NDArray

__all__ = ["check_device", "component_contributions", "project_stack"]

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

    def sum1(self, array: Any) -> Any:
        return array.sum(axis=1) if self.name == "numpy" else array.sum(dim=1)


def check_device(backend: str = "numpy", device: str = "cpu") -> None:
    """Raise ``ValueError`` early if the FFT backend or torch device cannot be used.

    Examples
    --------
    >>> check_device("numpy", "cpu")
    """
    _Backend(backend, device)


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
    >>> from denoiser.reucid.paper.terrain import patch_terrain
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
    """General path: correlate, mask to the stack's positions, convolve back.

    ``x`` is one ``(m, n)`` image or a batch ``(B, m, n)`` sharing the mask; the
    eigenpatch spectra are computed once for the whole batch.
    """
    single = x.ndim == 2
    images = x[None] if single else x
    n_images, m, n = images.shape
    k, p, _ = e.shape
    shape = ops.fast_shape((m, n))
    mask_full = np.zeros(shape, dtype=np.float32)
    mask_full[: m - p + 1, : n - p + 1] = mask
    mask_dev = ops.asarray(mask_full)
    image_spectra = ops.rfft2(ops.asarray(images), shape)[:, None]
    batch = max(1, _batch_size(shape, k * n_images) // n_images)
    if per_component:
        parts = np.empty((n_images, k, m, n), dtype=np.float32)
    else:
        total = ops.zeros((n_images, shape[0], shape[1] // 2 + 1), complex_=True)
    for start in range(0, k, batch):
        kernel_spectrum = ops.rfft2(ops.asarray(e[start:start + batch]), shape)[None]
        coefficients = ops.irfft2(image_spectra * ops.conj(kernel_spectrum), shape)
        coefficients *= mask_dev
        placed = ops.rfft2(coefficients, shape) * kernel_spectrum
        del coefficients
        if per_component:
            parts[:, start:start + batch] = ops.to_numpy(ops.irfft2(placed, shape)[..., :m, :n])
        else:
            total += ops.sum1(placed)
    if per_component:
        return parts[0] if single else parts
    canvas = ops.to_numpy(ops.irfft2(total, shape))[..., :m, :n].astype(np.float64)
    return canvas[0] if single else canvas


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
    image_spectrum = ops.rfft2(ops.asarray(x), shape)
    if per_component:
        # |F(E_k)|^2 is the spectrum of E_k's autocorrelation; no need to build H_k.
        result = np.empty((k, m, n), dtype=np.float32)
        batch = _batch_size(shape, k)
        for start in range(0, k, batch):
            kernel_spectrum = ops.rfft2(ops.asarray(e[start:start + batch]), shape)
            power = kernel_spectrum.real**2 + kernel_spectrum.imag**2
            filtered = ops.irfft2(image_spectrum * power, shape)
            result[start:start + batch] = ops.to_numpy(filtered[..., :m, :n])
    else:
        kernel = _autocorrelation_kernels(e).sum(axis=0)
        wrapped = np.zeros(shape, dtype=np.float32)
        wrapped[: 2 * p - 1, : 2 * p - 1] = kernel
        wrapped = np.roll(wrapped, (-(p - 1), -(p - 1)), axis=(0, 1))
        filtered = ops.irfft2(image_spectrum * ops.rfft2(ops.asarray(wrapped), shape), shape)
        result = ops.to_numpy(filtered[:m, :n])[None].astype(np.float64)
    # H is symmetric (an autocorrelation), so correlating with it equals convolving; the
    # border strips replace the wrapped values with exact sub-image results.
    band = 2 * p - 2
    rows_pair = np.stack([x[:band], x[m - band:]])
    cols_pair = np.stack([x[:, :band], x[:, n - band:]])
    top, bottom = _masked(ops, rows_pair, e, np.ones((band - p + 1, n - p + 1), bool),
                          per_component=per_component)
    left, right = _masked(ops, cols_pair, e, np.ones((m - p + 1, band - p + 1), bool),
                          per_component=per_component)
    if not per_component:
        top, bottom, left, right = (part[None] for part in (top, bottom, left, right))
    edge = p - 1
    result[:, :edge, :] = top[:, :edge, :]
    result[:, m - edge:, :] = bottom[:, band - edge:, :]
    result[:, :, :edge] = left[:, :, :edge]
    result[:, :, n - edge:] = right[:, :, band - edge:]
    if per_component:
        return result
    return result[0]

