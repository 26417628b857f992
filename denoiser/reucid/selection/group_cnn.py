"""The default method's eigenpatch classifier: a tiny network over per-group eigenpatches.

The paper's CNN (:mod:`.cnn`) judges eigenpatches of one stack by their shape and their
eigenvalue relative to the stack's largest. The default method decomposes *groups* of
similar patches (mean-centred or not, as the method runs) in the variance-stabilised
domain, where the noise level is known; what decides whether a component is signal
there is mostly how far its eigenvalue rises above the Marchenko–Pastur edge of that
noise for that group size. So this network sees, per component:

* the eigenpatch, resized to 25x25, sign-fixed and at unit RMS (as the paper's CNN);
* ``log(eigenvalue / n / edge)`` with ``edge = sigma² (1 + sqrt(p² / n))²`` (the
  :class:`~denoiser.reucid.selection.rules.NoiseEdge` threshold: positive = above it);
* ``log(n)`` (the group size), the component's index, the log gap to the next
  eigenvalue, whether the group was centred (uncentred, the leading component is
  the group's mean direction) and the group's leading log noise-edge ratio (how strong
  the group's signal is: the same component means more in a bright group than in a
  faint one).

A linear term on those numbers sits beside the convolutional path, so the rule it
replaces (one threshold on the first number) is one weight away; the rest learns where
the rule is wrong. Model files are the same kind of ``weights_only`` torch dict as the
paper's, with ``"kind": "group"``; :func:`denoiser.reucid.selection.resolve.resolve_classifier`
reads the kind and loads the right class.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from ..errors import ModelLoadError
from .base import SelectionContext
from .cnn import (
    MODEL_FORMAT,
    builtin_metadata,
    eigenpatch_features,
    max_pool_2x2,
    read_model_file,
    write_model_file,
)

__all__ = [
    "GROUP_KIND",
    "GROUP_MODEL_FORMAT",
    "GROUP_SHIPPED_MODEL_PATH",
    "N_SCALARS",
    "GroupArchitecture",
    "GroupClassifier",
    "GroupEigenpatchNet",
    "group_features",
    "load_group_classifier",
    "model_kind",
    "noise_edge_ratio",
    "save_group_classifier",
]

GROUP_KIND = "group"
GROUP_MODEL_FORMAT = "reucid-group-eigenpatch-net"
GROUP_MODEL_FORMAT_VERSION = 1
#: Scalar inputs per component (see :func:`group_features`).
N_SCALARS = 6
#: Components are indexed relative to this many (the default method shows 25).
INDEX_SCALE = 25.0
GROUP_SHIPPED_MODEL_PATH = Path(__file__).resolve().parent / "models" / "reucid_group_default.pt"
GROUP_SHIPPED_MODEL_CARD_PATH = GROUP_SHIPPED_MODEL_PATH.with_suffix(".json")


@dataclass(frozen=True)
class GroupArchitecture:
    """Shapes of :class:`GroupEigenpatchNet`: two small convolutions and one dense layer."""

    channels: tuple[int, int] = (4, 8)
    dense_width: int = 16

    def __post_init__(self) -> None:
        channels = tuple(int(c) for c in self.channels)
        if len(channels) != 2 or min(channels) < 1 or int(self.dense_width) < 1:
            raise ValueError("two positive channel counts and a positive dense width")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "dense_width", int(self.dense_width))

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the model file."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupArchitecture:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - {"channels", "dense_width"}
        if unknown:
            raise ValueError(f"unknown architecture keys: {sorted(unknown)}")
        return cls(channels=tuple(data.get("channels", (4, 8))),
                   dense_width=data.get("dense_width", 16))


class GroupEigenpatchNet(nn.Module):
    """Logit that a group component is worth keeping, from its shape and its numbers.

    Examples
    --------
    >>> net = GroupEigenpatchNet()
    >>> net(torch.zeros(3, 1, 25, 25), torch.zeros(3, N_SCALARS)).shape
    torch.Size([3])
    """

    def __init__(self, architecture: GroupArchitecture | None = None) -> None:
        super().__init__()
        self.architecture = architecture or GroupArchitecture()
        c1, c2 = self.architecture.channels
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.dense1 = nn.Linear(c2 + N_SCALARS, self.architecture.dense_width)
        self.dense2 = nn.Linear(self.architecture.dense_width, 1)
        # the noise-edge rule is a threshold on the first scalar: a direct linear path
        # makes it reachable at once, the rest of the network corrects it
        self.linear = nn.Linear(N_SCALARS, 1)

    def forward(self, patches: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        """Logits ``(K,)`` for patches ``(K,1,25,25)`` and scalars ``(K, N_SCALARS)``."""
        x = max_pool_2x2(F.elu(self.conv1(patches)))
        x = max_pool_2x2(F.elu(self.conv2(x)))
        x = torch.cat([x.mean(dim=(2, 3)), scalars.to(x.dtype)], dim=1)
        hidden = self.dense2(F.elu(self.dense1(x))).squeeze(1)
        return hidden + self.linear(scalars.to(x.dtype)).squeeze(1)


def noise_edge_ratio(eigenvalues: np.ndarray, n_patches: int, patch_dim: int,
                     noise_variance: float = 1.0) -> NDArray[np.float64]:
    """``eigenvalue / n`` over the Marchenko–Pastur edge ``sigma² (1 + sqrt(P/n))²``.

    Above 1 is what :class:`~denoiser.reucid.selection.rules.NoiseEdge` keeps.

    Examples
    --------
    >>> noise_edge_ratio(np.array([900.0, 225.0]), 100, 100).tolist()
    [2.25, 0.5625]
    """
    n = max(int(n_patches), 1)
    edge = max(float(noise_variance), 1e-12) * (1.0 + math.sqrt(patch_dim / n)) ** 2
    return np.asarray(eigenvalues, dtype=np.float64) / n / edge


def group_features(eigenpatches: np.ndarray, eigenvalues: np.ndarray,
                   context: SelectionContext) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The network's inputs for one group's leading components.

    Parameters
    ----------
    eigenpatches : numpy.ndarray
        ``(K, p, p)`` eigenpatches of the centred group, descending eigenvalue.
    eigenvalues : numpy.ndarray
        ``(K,)`` eigenvalues, sums over the group's ``context.n_patches`` patches.
    context : SelectionContext
        Group size, patch size, the known noise variance (1 if not known) and whether
        the group was centred.

    Returns
    -------
    x, scalars
        ``(K, 1, 25, 25)`` float32 and ``(K, 6)`` float32: log noise-edge ratio,
        ``log(n) / 10``, index / 25, log gap to the next eigenvalue (0 for the last),
        1 for a centred group (else 0), the first component's log noise-edge ratio.

    Examples
    --------
    >>> context = SelectionContext(patch_size=5, n_patches=100, noise_variance=1.0)
    >>> x, s = group_features(np.ones((2, 5, 5)), np.array([900.0, 100.0]), context)
    >>> x.shape, s.shape, round(float(s[0, 0]), 3), round(float(s[1, 2]), 2)
    ((2, 1, 25, 25), (2, 6), 1.386, 0.04)
    """
    x, _ = eigenpatch_features(eigenpatches, eigenvalues)
    values = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    sigma2 = context.noise_variance if context.noise_variance is not None else 1.0
    tiny = 1e-6
    ratio = noise_edge_ratio(values, context.n_patches, context.patch_dim, sigma2)
    logs = np.log(np.maximum(values, tiny))
    gap = np.zeros(len(values))
    if len(values) > 1:
        gap[:-1] = logs[:-1] - logs[1:]
    scalars = np.stack([
        np.log(np.maximum(ratio, tiny)),
        np.full(len(values), math.log(max(context.n_patches, 1)) / 10.0),
        np.arange(len(values)) / INDEX_SCALE,
        np.clip(gap, 0.0, 10.0),
        np.full(len(values), 1.0 if context.centred else 0.0),
        np.full(len(values), math.log(max(float(ratio[0]) if len(ratio) else 0.0, tiny))),
    ], axis=1).astype(np.float32) if len(values) else np.zeros((0, N_SCALARS), np.float32)
    return x, scalars


@dataclass
class GroupClassifier:
    """A :class:`GroupEigenpatchNet` as the default method's selector.

    ``select`` keeps the components whose probability reaches ``threshold``. With a
    ``margin`` it overrides the noise-edge rule only where it is confident: probability
    at least ``threshold + margin`` keeps, at most ``threshold - margin`` drops, and in
    between the rule decides (a learnt correction that cannot stray far from the rule it
    replaces). It needs the context the default method gives (group size, known noise
    variance); the paper's stacks come without a known noise level, and a group model
    refuses them.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> clf = GroupClassifier(GroupEigenpatchNet())
    >>> context = SelectionContext(patch_size=5, n_patches=200, noise_variance=1.0,
    ...                            centred=True)
    >>> clf.select(np.zeros((4, 5, 5)), np.array([900.0, 500.0, 200.0, 100.0]),
    ...            context).dtype
    dtype('bool')
    """

    model: GroupEigenpatchNet
    metadata: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    margin: float = 0.0

    kind = GROUP_KIND

    def __post_init__(self) -> None:
        if not 0.0 < float(self.threshold) < 1.0:
            raise ValueError("threshold must lie strictly between 0 and 1")
        if not 0.0 <= float(self.margin) < 0.5:
            raise ValueError("margin must lie in [0, 0.5)")
        self.model = self.model.to("cpu").eval()

    @property
    def name(self) -> str:
        """``group:<name>`` from the metadata (what results and job records show)."""
        stored = self.metadata.get("name") if isinstance(self.metadata, dict) else None
        return f"group:{stored}" if isinstance(stored, str) and stored else "group"

    def probabilities(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
                      context: SelectionContext | None) -> NDArray[np.float64]:
        """Probability ``(K,)`` that each component is worth keeping."""
        if context is None or context.noise_variance is None:
            raise ValueError(
                "a group classifier judges group eigenpatches of the default method, "
                "whose noise level is known; the paper method needs the paper's CNN "
                "(classifier='cnn')")
        x, scalars = group_features(eigenpatches, eigenvalues, context)
        if len(x) == 0:
            return np.zeros(0, np.float64)
        with torch.no_grad():
            logits = self.model(torch.from_numpy(x), torch.from_numpy(scalars))
        return torch.sigmoid(logits).double().numpy()

    def select(self, eigenpatches: np.ndarray, eigenvalues: np.ndarray,
               context: SelectionContext | None = None) -> NDArray[np.bool_]:
        """Boolean ``(K,)`` mask: probability at least the threshold (see ``margin``)."""
        probability = self.probabilities(eigenpatches, eigenvalues, context)
        if self.margin <= 0:
            return probability >= self.threshold
        assert context is not None  # probabilities() refused a missing context
        rule = noise_edge_ratio(eigenvalues, context.n_patches, context.patch_dim,
                                float(context.noise_variance or 1.0)) > 1.0
        keep = np.where(probability >= self.threshold + self.margin, True, rule)
        return np.where(probability <= self.threshold - self.margin, False, keep)


def save_group_classifier(model: GroupEigenpatchNet | GroupClassifier,
                          path: str | os.PathLike[str], *,
                          metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a group model file atomically (``metadata["kind"]`` is ``"group"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "g.pt"
    >>> _ = save_group_classifier(GroupEigenpatchNet(), out, metadata={"seed": 1})
    >>> loaded = load_group_classifier(out)
    >>> loaded.metadata["kind"], loaded.metadata["seed"], model_kind(out)
    ('group', 1, 'group')
    """
    network = model.model if isinstance(model, GroupClassifier) else model
    if not isinstance(network, GroupEigenpatchNet):
        raise TypeError("save_group_classifier expects a GroupEigenpatchNet or GroupClassifier")
    payload = {
        "format": GROUP_MODEL_FORMAT,
        "format_version": GROUP_MODEL_FORMAT_VERSION,
        "kind": GROUP_KIND,
        "architecture": network.architecture.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
        "metadata": builtin_metadata({**dict(metadata or {}), "kind": GROUP_KIND}),
    }
    return write_model_file(payload, path)


def _read_payload(source: Path) -> dict[str, Any]:
    payload = read_model_file(source)
    if not isinstance(payload, dict):
        raise ModelLoadError(f"{source.name} is not a REUCID classifier model file")
    return payload


def model_kind(path: str | os.PathLike[str]) -> str:
    """``"group"`` (the default method's) or ``"paper"`` (the paper's CNN) for a model file.

    Raises
    ------
    ModelLoadError
        If the file is missing, unreadable or not a REUCID model file.
    """
    source = Path(path)
    payload = _read_payload(source)
    if payload.get("format") == GROUP_MODEL_FORMAT or payload.get("kind") == GROUP_KIND:
        return GROUP_KIND
    if payload.get("format") == MODEL_FORMAT:
        return "paper"
    raise ModelLoadError(f"{source.name} is not a REUCID classifier model file")


def load_group_classifier(path: str | os.PathLike[str], *,
                          threshold: float | None = None) -> GroupClassifier:
    """Read a model file written by :func:`save_group_classifier`.

    Raises
    ------
    ModelLoadError
        If the file is missing or unreadable, is the paper's CNN (kind ``"paper"``), of
        an unknown format version, or its weights do not fit its architecture.
    """
    source = Path(path)
    payload = _read_payload(source)
    if payload.get("format") == MODEL_FORMAT:
        raise ModelLoadError(
            f"{source.name} is a paper-method CNN (kind 'paper'), not a group classifier "
            "for the default method; load it with load_classifier")
    if payload.get("format") != GROUP_MODEL_FORMAT or payload.get("kind") != GROUP_KIND:
        raise ModelLoadError(f"{source.name} is not a REUCID group classifier model file")
    if payload.get("format_version") != GROUP_MODEL_FORMAT_VERSION:
        raise ModelLoadError(
            f"{source.name} has group model format version {payload.get('format_version')!r}; "
            f"this version of REUCID reads version {GROUP_MODEL_FORMAT_VERSION}")
    state, metadata = payload.get("state_dict"), payload.get("metadata", {})
    if not isinstance(state, dict) or not isinstance(metadata, dict):
        raise ModelLoadError(f"{source.name} lacks weights or metadata")
    try:
        network = GroupEigenpatchNet(GroupArchitecture.from_dict(payload.get("architecture") or {}))
        network.load_state_dict(state, strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(
            f"{source.name}: weights do not match the declared architecture ({exc})") from exc
    for name, tensor in network.state_dict().items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(f"{source.name}: weight {name!r} has non-finite values")
    if threshold is None:
        stored = metadata.get("threshold", 0.5)
        threshold = float(stored) if isinstance(stored, (int, float)) and 0 < stored < 1 else 0.5
    stored_margin = metadata.get("margin", 0.0)
    margin = float(stored_margin) if isinstance(stored_margin, (int, float)) \
        and 0 <= stored_margin < 0.5 and min(threshold, 1 - threshold) > stored_margin else 0.0
    return GroupClassifier(network, metadata=metadata, threshold=threshold, margin=margin)


def count_group_parameters(model: GroupEigenpatchNet) -> int:
    """Trainable parameters (a few hundred).

    Examples
    --------
    >>> count_group_parameters(GroupEigenpatchNet()) < 1000
    True
    """
    return int(sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad))

