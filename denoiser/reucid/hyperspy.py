"""HyperSpy in, HyperSpy out: ``denoise_signal(signal)`` for notebook users.

HyperSpy is optional (``pip install "reucid[hyperspy]"``); this module imports it only
when called. The signal's data goes through :func:`denoiser.reucid.denoise`, and the
result is a copy of the signal (same axes, calibration, metadata and original metadata)
whose data is the reconstruction, with REUCID's parameters under
``metadata.Processing.REUCID``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .api import denoise

__all__ = ["denoise_signal"]


def denoise_signal(signal: Any, classifier: Any = None, **options: Any) -> Any:
    """Denoise a HyperSpy ``Signal2D`` and return a new ``Signal2D``.

    Parameters
    ----------
    signal : hyperspy.signals.Signal2D
        One 2-D image (no navigation axes). A stack: denoise ``signal.inav[i]`` in a loop.
    classifier : optional
        As for :func:`denoiser.reucid.denoise` (None: the method's default rule).
    **options
        Any other keyword of :func:`denoiser.reucid.denoise` (``variant="paper"``,
        ``patch_size=``, ``seed=`` ...).

    Returns
    -------
    hyperspy.signals.Signal2D
        A deep copy of ``signal`` with the reconstruction (float32) as data, the title
        suffixed ", denoised by REUCID", and ``metadata.Processing.REUCID`` holding the
        variant, patch size, classifier and seed.

    Raises
    ------
    TypeError
        If ``signal`` is not a 2-D HyperSpy signal.

    Examples
    --------
    >>> import hyperspy.api as hs  # doctest: +SKIP
    >>> from denoiser.reucid.hyperspy import denoise_signal  # doctest: +SKIP
    >>> clean = denoise_signal(hs.load("frame.dm4"), variant="paper")  # doctest: +SKIP
    """
    axes_manager = getattr(signal, "axes_manager", None)
    if axes_manager is None or not hasattr(signal, "deepcopy"):
        raise TypeError(f"denoise_signal expects a HyperSpy Signal2D, got {type(signal).__name__}")
    if axes_manager.signal_dimension != 2 or axes_manager.navigation_dimension != 0:
        raise TypeError(
            "denoise_signal expects one 2-D image (signal dimension 2, no navigation axes); "
            f"got {axes_manager.navigation_dimension} navigation and "
            f"{axes_manager.signal_dimension} signal dimensions. For a stack, denoise "
            "signal.inav[i] for each frame."
        )
    data = np.asarray(signal.data)  # a lazy signal computes here
    result = denoise(data, classifier, **options)
    output = signal.deepcopy()
    output.data = np.asarray(result.image, dtype=np.float32)
    title = signal.metadata.get_item("General.title", default="") or "image"
    output.metadata.set_item("General.title", f"{title}, denoised by REUCID")
    output.metadata.set_item("Processing.REUCID", {
        "variant": str(options.get("variant", "best")),
        "patch_size": int(result.patch_size),
        "classifier": str(classifier) if classifier is not None else "default",
        "seed": int(options.get("seed", 0)),
    })
    return output
