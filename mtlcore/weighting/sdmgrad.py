"""SDMGrad (Xiao, Ban & Ji 2023): stochastic direction-oriented MGDA, pulled toward the mean gradient.

The weights w solve min_{w in simplex} 1/2 |J^T (w + lam w~)|^2 (w~ = 1/T: the mean gradient as the
preferred direction), estimated without bias from two independent batches, A = J_1 J_2^T, and solved
by n_iter projected SGD steps with momentum from the last step's w. The model then steps along a
third batch: d = T J_3^T (w + lam w~) / (1 + lam). A is first divided by the square of the mean of
sqrt(max(A_ii, 0)) (+1e-8), so the inner step size does not depend on the gradients' scale.

`batches_per_step` = 3 (the trainer draws two extra batches); `aggregate` with one Jacobian uses it
three times (the biased single-batch form). Defaults as the authors' code: inner lr 10, momentum 0.5,
20 iterations, lam 0.3 (their experiments; their class default is 0.6), update clipped to norm 1.
Scale: sum convention before clipping (the authors' code multiplies by T too).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, register
from mtlcore.weighting.double_sampling import DoubleSamplingWeighting, onto_simplex
from mtlcore.weighting.jacobian import as_tensor, combine


def sdmgrad_inner(a: np.ndarray, w: np.ndarray, lam: float, lr: float, momentum: float, n_iter: int) -> np.ndarray:
    """n_iter projected heavy-ball steps on 1/2 (w + lam w~)^T A (w + lam w~) from w (A scale-normalised)."""
    t = a.shape[0]
    scale = float(np.mean(np.sqrt(np.clip(np.diagonal(a), 0.0, None))))
    a = a / (scale * scale + 1e-8)
    preferred = np.full(t, lam / t)
    velocity: np.ndarray | None = None
    for _ in range(n_iter):
        grad = a @ (w + preferred)
        velocity = grad if velocity is None else momentum * velocity + grad
        w = onto_simplex(w - lr * velocity)
    return w


@register
class SDMGrad(DoubleSamplingWeighting):
    name = "sdmgrad"
    title = "SDMGrad"
    summary = ("Stochastic MGDA steered toward the mean gradient; weights from two independent batches, "
               "the step from a third.")
    paper = ("Xiao, Ban & Ji, Direction-oriented Multi-objective Learning: Simple and Provable Stochastic "
             "Algorithms, NeurIPS 2023")
    family = "multi-objective"
    needs = "gradients"
    formula = (r"w = \arg\min_{w \in \Delta} \tfrac12 (w + \lambda \tilde w)^\top J_1 J_2^\top (w + \lambda \tilde w)"
               r"\ \text{(n\_iter SGD steps)};\ d = \tfrac{T}{1 + \lambda} J_3^\top (w + \lambda \tilde w),"
               r"\ \tilde w = \tfrac1T \mathbf{1}")
    cost = ("three forward passes and three Jacobians per step (two extra batches), n_iter T x T products; "
            "norm clipped to max_norm")
    params = (
        Param("lam", "float", 0.3, low=0.0, high=1e6,
              help="pull toward the mean gradient (0 = stochastic MGDA; large = equal weighting)"),
        Param("lr", "float", 10.0, low=1e-6, high=1e6, log=True, help="step size of the inner weight solver"),
        Param("momentum", "float", 0.5, low=0.0, high=0.999, help="momentum of the inner weight solver"),
        Param("n_iter", "int", 20, low=1, high=10_000, help="inner solver steps per training step"),
        Param("max_norm", "float", 1.0, low=0.0, high=1e6, help="clip the update's norm to this (0 = off)"),
    )

    def reset(self) -> None:
        self.w = np.full(self.n_tasks, 1.0 / self.n_tasks)

    def task_weights(self) -> np.ndarray:
        """T (w + lam w~) / (1 + lam): the weights of the step's Jacobian before clipping."""
        lam = self.hp["lam"]
        return self.n_tasks * (self.w + lam / self.n_tasks) / (1.0 + lam)

    def current_weights(self) -> list[float] | None:
        return [float(x) for x in self.task_weights()]

    def step_on(self, step: torch.Tensor, a: np.ndarray) -> Aggregation:
        if np.isfinite(a).all():
            hp = self.hp
            self.w = sdmgrad_inner(a, self.w, hp["lam"], hp["lr"], hp["momentum"], hp["n_iter"])
        w = self.task_weights()
        direction = combine(step, w)
        max_norm = self.hp["max_norm"]
        norm = float(torch.linalg.vector_norm(direction))
        if max_norm > 0 and max_norm < norm < float("inf"):
            w = w * (max_norm / norm)
            direction = combine(step, w)
        return Aggregation(direction, as_tensor(w, step))
