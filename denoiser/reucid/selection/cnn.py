"""The paper's eigenpatch classifier: a small CNN, its input features and its model file.

The network sees one eigenpatch (bilinearly resized to 25x25) plus its eigenvalue divided
by the largest eigenvalue of the same stack, and outputs the probability that the
eigenpatch carries signal ("useful") rather than noise.

Model files are plain dicts written with :func:`torch.save` and read back with
``torch.load(..., weights_only=True)`` so that loading a file never runs code::

    {"format": "reucid-eigenpatch-cnn", "format_version": 1,
     "architecture": {...}, "state_dict": {...}, "metadata": {...}}
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError

MODEL_FORMAT = "reucid-eigenpatch-cnn"
MODEL_FORMAT_VERSION = 1
FEATURE_SIDE = 25
SELECTION_MODES: tuple[str, ...] = ("independent", "leading")
SHIPPED_MODEL_PATH = Path(__file__).resolve().parent / "models" / "reucid_default.pt"
SHIPPED_MODEL_CARD_PATH = SHIPPED_MODEL_PATH.with_suffix(".json")


@dataclass(frozen=True)
class CNNArchitecture:
    """Hyper-parameters that fix the shapes of :class:`EigenpatchCNN`.

    The defaults are the paper's network: Conv 14@5x5 (padding 1), ELU, max-pool 2;
    Conv 15@3x3 (padding 1), ELU, max-pool 2; global average pool; eigenvalue appended;
    dense 16, ELU; dense 1.
    """

    channels: tuple[int, int] = (14, 15)
    kernel_sizes: tuple[int, int] = (5, 3)
    padding: int = 1
    dense_width: int = 16

    def __post_init__(self) -> None:
        channels = tuple(int(c) for c in self.channels)
        kernels = tuple(int(k) for k in self.kernel_sizes)
        if len(channels) != 2 or len(kernels) != 2:
            raise ValueError("the eigenpatch CNN has exactly two convolution layers")
        if min(channels) < 1 or min(kernels) < 1 or int(self.dense_width) < 1:
            raise ValueError("channels, kernel sizes and dense width must be positive")
        if int(self.padding) < 0:
            raise ValueError("padding must be non-negative")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "kernel_sizes", kernels)
        object.__setattr__(self, "padding", int(self.padding))
        object.__setattr__(self, "dense_width", int(self.dense_width))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and ``weights_only``-safe form of the architecture."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        data["kernel_sizes"] = list(self.kernel_sizes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CNNArchitecture:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - {"channels", "kernel_sizes", "padding", "dense_width"}
        if unknown:
            raise ValueError(f"unknown architecture keys: {sorted(unknown)}")
        return cls(
            channels=tuple(data.get("channels", (14, 15))),
            kernel_sizes=tuple(data.get("kernel_sizes", (5, 3))),
            padding=data.get("padding", 1),
            dense_width=data.get("dense_width", 16),
        )


class EigenpatchCNN(nn.Module):
    """The paper's CNN; ``forward`` returns logits (apply a sigmoid for probabilities).

    Parameters
    ----------
    architecture
        Channel counts, kernel sizes, padding and dense width; the paper's by default.

    Examples
    --------
    >>> import torch
    >>> net = EigenpatchCNN()
    >>> net(torch.zeros(3, 1, 25, 25), torch.ones(3)).shape
    torch.Size([3])
    """

    def __init__(self, architecture: CNNArchitecture | None = None) -> None:
        super().__init__()
        self.architecture = architecture or CNNArchitecture()
        arch = self.architecture
        self.conv1 = nn.Conv2d(1, arch.channels[0], arch.kernel_sizes[0], padding=arch.padding)
        self.conv2 = nn.Conv2d(
            arch.channels[0], arch.channels[1], arch.kernel_sizes[1], padding=arch.padding
        )
        self.dense1 = nn.Linear(arch.channels[1] + 1, arch.dense_width)
        self.dense2 = nn.Linear(arch.dense_width, 1)
        side = FEATURE_SIDE
        for kernel in arch.kernel_sizes:
            side = (side + 2 * arch.padding - kernel + 1) // 2
        if side < 1:
            raise ValueError(f"architecture {arch} shrinks a 25x25 input to nothing")

    def forward(self, patches: torch.Tensor, eigenvalues: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(K,)`` for patches ``(K,1,25,25)`` and eigenvalues ``(K,)``."""
        x = max_pool_2x2(F.elu(self.conv1(patches)))
        x = max_pool_2x2(F.elu(self.conv2(x)))
        x = x.mean(dim=(2, 3))
        x = torch.cat([x, eigenvalues.reshape(-1, 1).to(x.dtype)], dim=1)
        x = F.elu(self.dense1(x))
        return self.dense2(x).squeeze(1)


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)``, the same values.

    Without gradients (inference) it takes two elementwise maxima of strided views,
    about ten times faster than ``max_pool2d`` on the small maps of these networks (which
    run once per group and pass when a classifier selects). With gradients it is
    ``max_pool2d`` itself, so training is unchanged (the two differ only in how a tie
    shares its gradient).

    Examples
    --------
    >>> x = torch.arange(30.0).reshape(1, 1, 5, 6)
    >>> with torch.no_grad():
    ...     bool(torch.equal(max_pool_2x2(x), F.max_pool2d(x, 2)))
    True
    """
    rows, cols = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    if torch.is_grad_enabled() or not rows or not cols:
        # (a map too small to pool: max_pool2d's own error)
        return F.max_pool2d(x, 2)
    x = x[..., :rows, :cols]
    pairs = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
    return torch.maximum(pairs[..., 0::2], pairs[..., 1::2])


def eigenpatch_features(
    eigenpatches: np.ndarray, eigenvalues: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Turn one stack's eigenpatches and eigenvalues into CNN inputs.

    Each eigenpatch is bilinearly resized to 25x25, its sign is fixed so that its
    third moment is non-negative (an eigenvector's sign is arbitrary), and it is scaled
    to unit root-mean-square so that the input does not depend on the patch size.
    Each eigenvalue is divided by the largest eigenvalue of the stack.

    Parameters
    ----------
    eigenpatches
        ``(K, p, p)`` eigenpatches of one stack.
    eigenvalues
        ``(K,)`` matching eigenvalues (non-negative).

    Returns
    -------
    x, lam
        ``x`` is ``(K, 1, 25, 25)`` float32, ``lam`` is ``(K,)`` float32 in ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> x, lam = eigenpatch_features(np.random.default_rng(0).normal(size=(4, 9, 9)),
    ...                              np.array([4.0, 2.0, 1.0, 0.5]))
    >>> x.shape, lam.tolist()
    ((4, 1, 25, 25), [1.0, 0.5, 0.25, 0.125])
    """
    patches = np.asarray(eigenpatches, dtype=np.float32)
    values = np.asarray(eigenvalues, dtype=np.float64)
    if patches.ndim != 3 or patches.shape[1] != patches.shape[2]:
        raise ValueError(f"eigenpatches must have shape (K, p, p), got {patches.shape}")
    if values.shape != (patches.shape[0],):
        raise ValueError(
            f"eigenvalues must have shape ({patches.shape[0]},), got {values.shape}"
        )
    if not (np.all(np.isfinite(patches)) and np.all(np.isfinite(values))):
        raise ValueError("eigenpatches and eigenvalues must be finite")
    if patches.shape[0] == 0:
        return np.zeros((0, 1, FEATURE_SIDE, FEATURE_SIDE), np.float32), np.zeros(0, np.float32)
    tensor = torch.from_numpy(patches.copy()).unsqueeze(1)
    if patches.shape[1] != FEATURE_SIDE:
        tensor = F.interpolate(
            tensor, size=(FEATURE_SIDE, FEATURE_SIDE), mode="bilinear", align_corners=False
        )
    x = tensor.numpy().astype(np.float32, copy=True)
    flat = x.reshape(len(x), -1).astype(np.float64)
    squares = flat * flat
    # products, not ** 3 (numpy's general power is fifty times slower, and this runs for
    # every group of every pass when a classifier selects)
    sign = np.where(np.einsum("ij,ij->i", squares, flat) < 0, -1.0, 1.0)
    rms = np.sqrt(np.mean(squares, axis=1))
    scale = np.divide(sign, rms, out=np.zeros_like(rms), where=rms > 0)
    x *= scale.astype(np.float32)[:, None, None, None]
    largest = float(np.max(np.abs(values)))
    lam = (values / largest if largest > 0 else np.zeros_like(values)).astype(np.float32)
    return x, lam


@dataclass
class CNNClassifier:
    """An :class:`EigenpatchCNN` wrapped as an eigenpatch classifier for the denoiser.

    ``select`` is deterministic (eval mode, no gradients) and never mutates its inputs.

    Examples
    --------
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> clf = CNNClassifier(EigenpatchCNN())
    >>> clf.select(np.zeros((5, 8, 8)), np.linspace(5, 1, 5)).dtype
    dtype('bool')
    """

    model: EigenpatchCNN
    metadata: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    device: str = "cpu"
    selection: str = "independent"
    n_components: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < float(self.threshold) < 1.0:
            raise ValueError("threshold must lie strictly between 0 and 1")
        if self.selection not in SELECTION_MODES:
            raise ValueError(f"selection must be one of {SELECTION_MODES}")
        if self.n_components is not None and (
                isinstance(self.n_components, bool) or int(self.n_components) != self.n_components
                or int(self.n_components) < 1):
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
        self.model = self.model.to(self.device).eval()

    @property
    def n_components_required(self) -> int | None:
        """Eigenpatches per stack the model was trained to rank (None: the caller's default).

        A model trained on the leading K eigenpatches can only keep up to K, so the
        denoiser computes at least this many (see ``classifiers.required_components``).
        """
        return None if self.n_components is None else int(self.n_components)

    def probabilities(
        self, eigenpatches: np.ndarray, eigenvalues: np.ndarray, context: Any = None
    ) -> np.ndarray:
        """Probability ``(K,)`` that each eigenpatch is useful."""
        x, lam = eigenpatch_features(eigenpatches, eigenvalues)
        if len(x) == 0:
            return np.zeros(0, np.float64)
        with torch.no_grad():
            logits = self.model(
                torch.from_numpy(x).to(self.device), torch.from_numpy(lam).to(self.device)
            )
        return torch.sigmoid(logits).double().cpu().numpy()

    def select(
        self, eigenpatches: np.ndarray, eigenvalues: np.ndarray, context: Any = None
    ) -> np.ndarray:
        """Boolean ``(K,)`` mask of the useful eigenpatches.

        ``selection="independent"`` (the paper) keeps every eigenpatch whose probability
        reaches the threshold; ``"leading"`` counts those, k, and keeps the k eigenpatches
        with the largest eigenvalues (a rank, like the labels it was trained on).
        """
        mask = self.probabilities(eigenpatches, eigenvalues, context) >= self.threshold
        if self.selection == "leading":
            order = np.argsort(-np.asarray(eigenvalues, dtype=np.float64), kind="stable")
            leading = np.zeros_like(mask)
            leading[order[: int(mask.sum())]] = True
            return leading
        return mask


def builtin_metadata(value: Any) -> Any:
    """Convert metadata to builtins only, so ``weights_only=True`` can read it back.

    Examples
    --------
    >>> builtin_metadata({"k": np.int64(3), "a": np.arange(2)})
    {'k': 3, 'a': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(k): builtin_metadata(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [builtin_metadata(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def save_classifier(
    model: EigenpatchCNN | CNNClassifier,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model file (atomically: a partial file never replaces a good one).

    Parameters
    ----------
    model
        The network, or a classifier wrapping it.
    path
        Destination ``.pt`` file; parent folders are created.
    metadata
        Training data summary, metrics, code version, creation time, seed...
        Stored as plain builtins.

    Returns
    -------
    pathlib.Path
        The written path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
    >>> save_classifier(EigenpatchCNN(), out, metadata={"seed": 0}).name
    'm.pt'
    >>> load_classifier(out).metadata["seed"]
    0
    """
    network = model.model if isinstance(model, CNNClassifier) else model
    if not isinstance(network, EigenpatchCNN):
        raise TypeError("save_classifier expects an EigenpatchCNN or a CNNClassifier")
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "architecture": network.architecture.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
        "metadata": builtin_metadata(dict(metadata or {})),
    }
    return write_model_file(payload, path)


def write_model_file(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a model payload atomically: ``path`` is either the old file or the new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a model file is not secret
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def read_model_file(path: str | os.PathLike[str], *, map_location: str = "cpu") -> Any:
    """The payload of a model file, read without running code (``weights_only``).

    Raises
    ------
    ModelLoadError
        If the file is missing or torch cannot read it.
    """
    source = Path(path)
    if not source.is_file():
        raise ModelLoadError(f"classifier model file not found: {source}")
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/unsafe files
        raise ModelLoadError(
            f"{source.name} is not a readable classifier model file ({type(exc).__name__})"
        ) from exc


def load_classifier(
    path: str | os.PathLike[str], *, device: str = "cpu", threshold: float | None = None,
    selection: str | None = None, n_components: int | None = None,
) -> CNNClassifier:
    """Read a model file written by :func:`save_classifier`.

    The decision threshold, selection mode and number of eigenpatches per stack are the
    arguments if given, else the ``metadata["threshold"]`` / ``metadata["selection"]`` /
    ``metadata["n_components"]`` stored with the model, else 0.5 / ``"independent"`` /
    None (the denoiser's default, 25).

    Raises
    ------
    ModelLoadError
        If the file is missing, unreadable, not a REUCID eigenpatch-CNN file, of an
        unknown format version, or its weights do not fit its architecture.

    Examples
    --------
    >>> load_classifier("/nonexistent.pt")
    Traceback (most recent call last):
    ...
    denoiser.reucid.errors.ModelLoadError: classifier model file not found: /nonexistent.pt
    """
    source = Path(path)
    payload = read_model_file(source, map_location=device)
    if isinstance(payload, dict) and payload.get("kind") == "group":
        raise ModelLoadError(
            f"{source.name} is a group classifier (kind 'group') for the default method, "
            "not the paper's CNN; load it with group_cnn.load_group_classifier or "
            "resolve_classifier")
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelLoadError(f"{source.name} is not a REUCID eigenpatch-CNN model file")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelLoadError(
            f"{source.name} has model format version {payload.get('format_version')!r}; "
            f"this version of REUCID reads version {MODEL_FORMAT_VERSION}"
        )
    state = payload.get("state_dict")
    metadata = payload.get("metadata", {})
    if not isinstance(state, dict) or not isinstance(metadata, dict):
        raise ModelLoadError(f"{source.name} lacks weights or metadata")
    try:
        architecture = CNNArchitecture.from_dict(payload.get("architecture") or {})
        network = EigenpatchCNN(architecture)
        network.load_state_dict(state, strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(
            f"{source.name}: weights do not match the declared architecture ({exc})"
        ) from exc
    for name, tensor in network.state_dict().items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(f"{source.name}: weight {name!r} has non-finite values")
    if threshold is None:
        stored = metadata.get("threshold", 0.5)
        threshold = float(stored) if isinstance(stored, (int, float)) and 0 < stored < 1 else 0.5
    if selection is None:
        stored_mode = metadata.get("selection", "independent")
        selection = stored_mode if stored_mode in SELECTION_MODES else "independent"
    if n_components is None:
        stored_k = metadata.get("n_components")
        n_components = stored_k if isinstance(stored_k, int) and not isinstance(stored_k, bool) \
            and stored_k >= 1 else None
    return CNNClassifier(network, metadata=metadata, threshold=threshold, device=device,
                         selection=selection, n_components=n_components)


def count_parameters(model: EigenpatchCNN) -> int:
    """Number of trainable parameters (the paper's network has about 3.6 thousand)."""
    return int(sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad))
