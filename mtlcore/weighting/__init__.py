"""Weighting methods: `available()` lists them, `create(name, n_tasks, **params)` builds one.

One file per method, named after it (`uw.py` is UW, `nash_mtl.py` is Nash-MTL; ConFIG lives in
`conflict_free.py` because `config` means a run configuration here). The family a method belongs
to is class metadata (`family`), not a folder. Next to the methods: `base.py` (the interfaces
Weighting, LossWeighting, GradientWeighting, GramianWeighting, and the registry), `jacobian.py`
(Gramian, weighted sums, input checks), `solvers.py` (exact T x T solvers), `two_task.py` (their
two-task closed forms and float path), and small helpers some methods share (`loss_based.py`,
`draws.py`, `norm_clip.py`, `vector_adam.py`).

To add a method:
1. write `mtlcore/weighting/<name>.py`: one class subclassing LossWeighting, GradientWeighting or
   GramianWeighting, with its metadata (name, title, summary, paper, family, needs, formula, cost,
   params) and decorated with `@register`;
2. write its test (tests/test_weighting_loss.py and tests/test_weighting_gradient.py hold the
   properties every method must have; add the method's own cases beside them);
3. add its module name to METHOD_MODULES below, where it should appear in the pages' lists.
Nothing else: the Train page, the method guide, the CLI, sweeps and the torch-free catalog
(mtlcore/catalog.py, refreshed when these files change) all read the registry.
"""

from __future__ import annotations

import importlib
from typing import Any

from mtlcore.weighting.base import (
    WEIGHTINGS,
    Aggregation,
    GradientWeighting,
    GramianWeighting,
    LossWeighting,
    Weighting,
    register,
)

# The one listing of the methods: module names under mtlcore/weighting, in the order pages show them.
METHOD_MODULES: tuple[str, ...] = (
    "static", "ew", "uw", "dwa", "rlw", "gls", "famo",
    "gradnorm", "db_mtl",
    "mgda", "cagrad", "moco",
    "imtl_g", "imtl", "conflict_free",
    "pcgrad", "gradvac", "graddrop",
    "nash_mtl", "fairgrad",
    "aligned_mtl",
    "upgrad", "dualproj",
    "stch", "excess_mtl",
    "modo", "sdmgrad",
    "krum", "trimmed_mean", "cr_mogm", "pcd",
)
for _module in METHOD_MODULES:
    importlib.import_module(f"{__name__}.{_module}")


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
    "Aggregation", "GradientWeighting", "GramianWeighting", "LossWeighting", "Weighting", "WEIGHTINGS",
    "METHOD_MODULES", "available", "create", "describe", "method_class", "register",
]
