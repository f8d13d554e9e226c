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

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, register
from mtlcore.weighting.double_sampling import DoubleSamplingWeighting, onto_simplex
from mtlcore.weighting.jacobian import as_tensor, combine


@register
class MoDo(DoubleSamplingWeighting):
    name = "modo"
    title = "MoDo"
    summary = ("Stochastic MGDA: the weights take one projected step per batch on the product of two "
               "independent batches' gradients (3 batches per step).")
    paper = ("Chen, Fernando, Ying & Chen, Three-Way Trade-Off in Multi-Objective Learning: Optimization, "
             "Generalization and Conflict-Avoidance, NeurIPS 2023")
    family = "multi-objective"
    needs = "gradients"
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

    def step_on(self, step: torch.Tensor, a: np.ndarray) -> Aggregation:
        if np.isfinite(a).all():
            self.lam = onto_simplex(self.lam - self.hp["gamma"] * (a @ self.lam + self.hp["rho"] * self.lam))
        w = self.n_tasks * self.lam
        return Aggregation(combine(step, w), as_tensor(w, step))
