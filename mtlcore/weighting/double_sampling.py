"""Methods that step on one batch and take their weights from two other, independent batches
(MoDo, SDMGrad): the product J_1 J_2^T of two batches' Jacobians is an unbiased estimate of the
Gramian a single batch would bias. The trainer draws `batches_per_step` = 3 batches for them; called
with one Jacobian (`aggregate`), all three are that one (the biased single-batch form).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting.base import Aggregation, GradientWeighting
from mtlcore.weighting.jacobian import check_jacobian
from mtlcore.weighting.solvers import project_simplex


class DoubleSamplingWeighting(GradientWeighting):
    """Subclasses implement `step_on(step, cross)`: the step's Jacobian and J_1 J_2^T (float64)."""

    batches_per_step: ClassVar[int] = 3

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        return self.aggregate_batches([jacobian], [] if losses is None else [losses])

    def aggregate_batches(self, jacobians: list[torch.Tensor], losses: list[torch.Tensor]) -> Aggregation:
        step, first, second = independent_triple(self, jacobians)
        return self.step_on(step, cross_gramian(first, second))

    def step_on(self, step: torch.Tensor, cross: np.ndarray) -> Aggregation:
        raise NotImplementedError


def independent_triple(method: GradientWeighting, jacobians: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(the step's Jacobian, two independent ones for the weights); with fewer, the step's is reused."""
    if not 1 <= len(jacobians) <= 3:
        raise ConfigError(f"{method.name}: expected 1 to 3 Jacobians of independent batches, got {len(jacobians)}")
    for jac in jacobians:
        check_jacobian(method.name, method.n_tasks, jac)
        if jac.shape != jacobians[0].shape:
            raise ConfigError(f"{method.name}: the batches' Jacobians differ in shape "
                              f"({tuple(jac.shape)} vs {tuple(jacobians[0].shape)})")
    if len(jacobians) == 3:
        return jacobians[0], jacobians[1], jacobians[2]
    return jacobians[0], jacobians[0], jacobians[-1]  # two batches: the weights from both, the step from the first


def onto_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex, shifted so the largest entry is 0 first (the projection
    ignores a common shift): steps far outside the simplex then keep their vertex instead of losing it
    to rounding."""
    return project_simplex(v - v.max())


def cross_gramian(first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    """J_1 J_2^T as float64 (the GEMM in the Jacobians' dtype): not symmetric in general."""
    a, b = first.detach(), second.detach()
    if a.dtype in (torch.float16, torch.bfloat16):
        a, b = a.float(), b.float()
    return (a @ b.T).double().cpu().numpy()
