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
Nothing else: every module of this package is imported (`registry.import_all`), so the new file is
found; its name in METHOD_ORDER below only places it in the pages' lists (unlisted ones come last).
The Train page, the method guide, the CLI, sweeps and the torch-free catalog (mtlcore/catalog.py,
refreshed when these files change) all read the registry.
"""

from __future__ import annotations

from typing import Any

from mtlcore.registry import import_all
from mtlcore.weighting.base import (
    WEIGHTINGS,
    Aggregation,
    GradientWeighting,
    GramianWeighting,
    LossWeighting,
    Weighting,
    register,
)

# The order pages list the methods in (module names); a method module not named here comes after them.
METHOD_ORDER: tuple[str, ...] = (
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
import_all(__name__, METHOD_ORDER)


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
    "METHOD_ORDER", "available", "create", "describe", "method_class", "register",
]
