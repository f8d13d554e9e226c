"""Random draws of the stochastic gradient methods: the run's generator and random visiting orders.

Orders are drawn from the method's generator: at T = 2 they are forced, and for T > 2 permuting the
tasks permutes the draws, so only the distribution is permutation invariant.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GradientWeighting


def method_generator(method: GradientWeighting) -> torch.Generator:
    """The run's generator, or a default-seeded one kept for the method's lifetime."""
    if method.generator is None:
        method.generator = torch.Generator()
    return method.generator


def visiting_orders(n_tasks: int, generator: torch.Generator) -> np.ndarray:
    """(T, T-1): row i is a uniformly random order of the tasks other than i (one draw for all rows)."""
    keys = torch.rand((n_tasks, n_tasks), generator=generator, dtype=torch.float64)
    keys.fill_diagonal_(float("inf"))
    return torch.argsort(keys, dim=1)[:, : n_tasks - 1].numpy()


def batch_visiting_orders(batch: int, n_tasks: int, generator: torch.Generator) -> np.ndarray:
    """(B, T, T-1) orders as visiting_orders, one draw for the whole stack (B = 1 draws the same numbers)."""
    keys = torch.rand((batch, n_tasks, n_tasks), generator=generator, dtype=torch.float64)
    keys.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return torch.argsort(keys, dim=2)[:, :, : n_tasks - 1].numpy()
