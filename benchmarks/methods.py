"""The one registry of benchmarked methods: name -> ``callable(noisy, *, context) -> estimate``.

Every benchmark command takes its rows from here, by name: quality, real images and
fidelity run the rows of the everyday families (``REUCID``, ``REUCID variant``,
``baseline``, ``oracle``); the speed benchmark and the issue-9 ablation
(``python -m benchmarks.beyond``) also name rows of the opt-in families
(:data:`OPT_IN_FAMILIES`: ``speed``, ``ablation``), which run only when named.

Adding a row to the benchmarks is one call::

    from benchmarks.methods import register_method

    register_method(
        "REUCID default, two passes",
        lambda noisy, *, context: denoise(noisy, seed=context.seed, passes=2).image,
        family="REUCID variant",
    )

Rows defined in this package are registered by :func:`default_methods`; modules named
in ``EXTRA_METHOD_MODULES`` are imported after them so other parts of the project can
add rows without editing the benchmark code.
"""
from __future__ import annotations

import importlib
from argparse import ArgumentTypeError
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from denoiser.reucid.noise import PoissonGaussianNoise

__all__ = [
    "EXTRA_METHOD_MODULES",
    "OPT_IN_FAMILIES",
    "DenoiseFunction",
    "Method",
    "MethodContext",
    "MethodUnavailable",
    "default_methods",
    "method_names",
    "register_method",
    "registered_methods",
    "select_methods",
]


class MethodUnavailable(RuntimeError):
    """Raised by a method that cannot run here (missing model, package...): the row
    is reported as "not available" with this message rather than as a failure."""


@dataclass(frozen=True)
class MethodContext:
    """What a method may know besides the noisy image.

    Attributes
    ----------
    noise : PoissonGaussianNoise
        The noise model: the true one on simulations, an estimate on real images.
    clean : numpy.ndarray or None
        Ground truth, for oracle rows only (``None`` on real images).
    classifier : object
        What REUCID rows pass as ``classifier=`` (a model path or ``None`` for the
        shipped model).
    seed : int
        Seed for any randomness.
    extra : dict
        Free-form options for rows added elsewhere.
    """

    noise: PoissonGaussianNoise
    clean: NDArray[np.float64] | None = None
    classifier: Any = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class DenoiseFunction(Protocol):
    """A benchmarked method: returns the estimate (or ``(estimate, note)``, the note
    saying what it chose), never modifies ``noisy``."""

    def __call__(
        self, noisy: NDArray[np.float64], *, context: MethodContext
    ) -> NDArray[np.floating] | tuple[NDArray[np.floating], str]: ...


@dataclass(frozen=True)
class Method:
    """One row of the benchmarks.

    Attributes
    ----------
    name : str
        Row label.
    run : DenoiseFunction
        The method.
    family : str
        Grouping shown in the tables (``"REUCID"``, ``"baseline"``, ``"oracle"``...).
    needs_ground_truth : bool
        Oracle rows: skipped where there is no clean image.
    available : callable
        Returns ``None`` when the method can run here, else the reason it cannot.
    description : str
        One line for the documentation.
    """

    name: str
    run: DenoiseFunction
    family: str = "baseline"
    needs_ground_truth: bool = False
    available: Callable[[], str | None] = lambda: None
    description: str = ""


_REGISTRY: dict[str, Method] = {}

#: Families whose rows run only when named (or chosen by family): ``speed`` (the paper
#: path's modes, timed by the speed benchmark) and ``ablation`` (one step of the default
#: method changed, for ``python -m benchmarks.beyond``).
OPT_IN_FAMILIES: frozenset[str] = frozenset({"speed", "ablation"})

#: Modules imported by :func:`default_methods` after the built-in rows; each registers
#: its own rows on import. A module that is not there yet is skipped.
EXTRA_METHOD_MODULES: list[str] = ["benchmarks.variants"]


def register_method(
    name: str,
    run: DenoiseFunction,
    *,
    family: str = "baseline",
    needs_ground_truth: bool = False,
    available: Callable[[], str | None] | None = None,
    description: str = "",
) -> Method:
    """Add (or replace) a row of the benchmarks.

    Parameters
    ----------
    name : str
        Row label, unique.
    run : DenoiseFunction
        ``run(noisy, *, context) -> estimate``.
    family : str, optional
        Group label.
    needs_ground_truth : bool, optional
        True for oracle rows.
    available : callable, optional
        ``() -> None | str``: the reason the method cannot run here, if any.
    description : str, optional
        One line for the docs.

    Returns
    -------
    Method

    Examples
    --------
    >>> m = register_method("identity", lambda noisy, *, context: noisy.copy())
    >>> m.run(np.ones(2), context=MethodContext(noise=PoissonGaussianNoise()))
    array([1., 1.])
    >>> _ = _REGISTRY.pop("identity")
    """
    method = Method(
        name=name,
        run=run,
        family=family,
        needs_ground_truth=needs_ground_truth,
        available=available or (lambda: None),
        description=description,
    )
    _REGISTRY[name] = method
    return method


def registered_methods() -> dict[str, Method]:
    """A copy of the registry, in registration order.

    Examples
    --------
    >>> isinstance(registered_methods(), dict)
    True
    """
    return dict(_REGISTRY)


def default_methods() -> dict[str, Method]:
    """Register the built-in rows (REUCID, baselines) and any extra modules; return them all.

    Examples
    --------
    >>> "BM3D + GAT" in default_methods()
    True
    """
    importlib.import_module("benchmarks.reucid_methods")
    importlib.import_module("benchmarks.baselines")
    for module in EXTRA_METHOD_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
    return registered_methods()


def method_names(text: str) -> tuple[str, ...]:
    """Parse a ``--methods`` option: names separated by ``|`` (names contain commas).

    Examples
    --------
    >>> method_names("BM3D + GAT | Gaussian, sigma 1 px")
    ('BM3D + GAT', 'Gaussian, sigma 1 px')
    """
    names = tuple(n.strip() for n in text.split("|") if n.strip())
    if not names:
        raise ArgumentTypeError("--methods needs at least one name")
    return names


def select_methods(names: Sequence[str] | None, *, family: str | None = None
                   ) -> dict[str, Method]:
    """Registered methods by name (unknown names raise), in the order given.

    Without ``names``: every row of ``family`` when given, else every row outside the
    opt-in families (:data:`OPT_IN_FAMILIES`), in registration order.

    Examples
    --------
    >>> list(select_methods(["NLM (scikit-image)"]))
    ['NLM (scikit-image)']
    >>> any(m.family in OPT_IN_FAMILIES for m in select_methods(None).values())
    False
    """
    methods = default_methods()
    if names is None:
        if family is not None:
            return {n: m for n, m in methods.items() if m.family == family}
        return {n: m for n, m in methods.items() if m.family not in OPT_IN_FAMILIES}
    unknown = [n for n in names if n not in methods]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; registered: {list(methods)}")
    return {n: methods[n] for n in names}
