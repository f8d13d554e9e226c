"""MoDo (Chen, Fernando et al. 2023): stochastic MGDA with double sampling of the weights' gradient.

MGDA's weights solve min_{lambda in simplex} |J^T lambda|^2; on mini-batches the Gramian J J^T is a
biased estimate of that objective's curvature. MoDo keeps lambda across steps and moves it by one
projected gradient step on the product of two independent batches' Jacobians, J_1 J_2^T, which is
unbiased, then steps the model along a third batch's J_3^T lambda:

    lambda <- Proj_simplex(lambda - gamma (J_1 J_2^T lambda + rho lambda)),   d = T J_3^T lambda.

So a step costs three forward passes and three Jacobians (`batches_per_step` = 3: the trainer draws
the two extra batches). Called with one Jacobian (`aggregate`), all three are that one, which is
the biased single-batch form. Defaults gamma = rho = 0.1 as the authors' code. Scale: sum convention.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine
from mtlcore.weighting.solvers import project_simplex


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


@register
class MoDo(GradientWeighting):
    name = "modo"
    title = "MoDo"
    summary = ("Stochastic MGDA: the weights take one projected step per batch on the product of two "
               "independent batches' gradients (3 batches per step).")
    paper = ("Chen, Fernando, Ying & Chen, Three-Way Trade-Off in Multi-Objective Learning: Optimization, "
             "Generalization and Conflict-Avoidance, NeurIPS 2023")
    family = "multi-objective"
    needs = "gradients"
    batches_per_step: ClassVar[int] = 3
    formula = (r"\lambda \leftarrow \Pi_\Delta\big(\lambda - \gamma\,(J_1 J_2^\top \lambda + \rho\,\lambda)\big);"
               r"\quad d = T\, J_3^\top \lambda \quad (J_1, J_2, J_3 \text{ from independent batches})")
    cost = "three forward passes and three Jacobians per step (two extra batches), a T x T product"
    params = (
        Param("gamma", "float", 0.1, low=0.0, high=1e6, help="step size of the weights lambda"),
        Param("rho", "float", 0.1, low=0.0, high=1e6, help="l2 regularisation of the weights' subproblem"),
    )

    def reset(self) -> None:
        self.lam = np.full(self.n_tasks, 1.0 / self.n_tasks)

    def current_weights(self) -> list[float] | None:
        return [float(self.n_tasks * x) for x in self.lam]

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        return self.aggregate_batches([jacobian], [] if losses is None else [losses])

    def aggregate_batches(self, jacobians: list[torch.Tensor], losses: list[torch.Tensor]) -> Aggregation:
        step, first, second = independent_triple(self, jacobians)
        a = cross_gramian(first, second)
        if np.isfinite(a).all():
            self.lam = onto_simplex(self.lam - self.hp["gamma"] * (a @ self.lam + self.hp["rho"] * self.lam))
        w = self.n_tasks * self.lam
        return Aggregation(combine(step, w), as_tensor(w, step))
