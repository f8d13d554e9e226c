"""Weighting methods: `available()` lists them, `create(name, n_tasks, **params)` builds one.

Each family module registers its classes with `@register` on import; importing this package imports
every family, so a new method only needs its module listed in `_FAMILIES` once.
"""

from __future__ import annotations

import importlib
from typing import Any

from mtlcore.weighting.base import (
    WEIGHTINGS, Aggregation, GradientWeighting, LossWeighting, Weighting, register,
)

_FAMILIES = (
    "mtlcore.weighting.loss",
    "mtlcore.weighting.balancing",
    "mtlcore.weighting.min_norm",
    "mtlcore.weighting.impartial",
    "mtlcore.weighting.surgery",
    "mtlcore.weighting.bargaining",
    "mtlcore.weighting.alignment",
    "mtlcore.weighting.dual_cone",
    *(f"mtlcore.weighting.{m}" for m in ("stch", "excess_mtl", "modo", "sdmgrad", "krum", "trimmed_mean", "cr_mogm",
                                         "pcd")),
)
for _module in _FAMILIES:
    importlib.import_module(_module)


def available() -> list[str]:
    """Names of every registered method, in registration order."""
    return WEIGHTINGS.names()


def describe() -> list[dict[str, Any]]:
    """Metadata of every method (JSON-able) for pages and the CLI."""
    return [entry.to_dict() for entry in WEIGHTINGS]


def method_class(name: str) -> type[Weighting]:
    return WEIGHTINGS.get(name).factory


def create(name: str, n_tasks: int, **params: Any) -> Weighting:
    """Build a fresh method (fresh state) for one run."""
    return method_class(name)(n_tasks, **params)


__all__ = [
    "Aggregation", "GradientWeighting", "LossWeighting", "Weighting", "WEIGHTINGS",
    "available", "create", "describe", "method_class", "register",
]
