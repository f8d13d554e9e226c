"""Fair-share methods: weights w > 0 with G w = w^(-p), so each task's share of the update follows a
utility of its own directional derivative.

Nash-MTL (p = 1) is the Nash bargaining solution, g_i^T d = 1 / w_i; FairGrad (p = 1 / alpha)
generalises it to alpha-fairness, alpha = 1 being Nash-MTL and alpha -> 0 equal weights. Both keep
their papers' own scale (not the sum convention): the weights have units of 1 / |g|, so the
direction's norm does not grow with the gradients (Nash-MTL: T identical gradients g give
sqrt(T) g / |g|), and both are solved by a damped Newton method in T dimensions (solvers.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian_tools import GramianWeighting, as_tensor, check_jacobian, combine, gramian
from mtlcore.weighting.solvers import power_balance_weights


def _clip(direction: torch.Tensor, weights: np.ndarray, max_norm: float) -> tuple[torch.Tensor, np.ndarray]:
    """Scale direction and weights down to max_norm (0 disables), as the reference code clips."""
    if max_norm > 0:
        norm = float(torch.linalg.vector_norm(direction))
        if math.isfinite(norm) and norm > max_norm:
            factor = max_norm / norm
            return direction * factor, weights * factor
    return direction, weights


_MAX_NORM_HELP = "clip the update's norm to this value (0 turns clipping off)"


@register
class NashMTL(GradientWeighting):
    """Solve G alpha = 1 / alpha every `update_every` steps (warm-started at the last alpha).

    Between solves the last alpha is reused with the current Jacobian, as in the paper's speed-up.
    A tiny ridge keeps alpha finite at Pareto-stationary points (0 in the convex hull), where the
    bargaining problem has no solution; the update is then clipped by max_norm.
    State: alpha and the step count.
    """

    name = "nash_mtl"
    title = "Nash-MTL"
    summary = "Nash bargaining over the update: weights with g_i . d = 1 / alpha_i for every task."
    paper = "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022"
    family = "bargaining"
    needs = "gradients"
    formula = r"G\alpha = 1/\alpha,\ \alpha > 0;\quad d = J^\top \alpha \ \text{(norm clipped to max\_norm)}"
    cost = ("Gramian plus a few Newton steps in T dimensions (tens of microseconds; the reference code "
            "rebuilds a convex programme every step instead); T gradients per step")
    params = (
        Param("update_every", "int", 1, low=1, high=10000, help="solve for new weights every k steps"),
        Param("max_norm", "float", 1.0, low=0.0, high=1e6, help=_MAX_NORM_HELP),
    )

    def reset(self) -> None:
        self.alpha: np.ndarray | None = None
        self.step = 0

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        if self.alpha is None or self.step % self.hp["update_every"] == 0:
            gram = gramian(jacobian)
            if np.isfinite(gram).all():
                self.alpha = power_balance_weights(gram, 1.0, init=self.alpha)
            elif self.alpha is None:
                self.alpha = np.ones(self.n_tasks)
        self.step += 1
        direction, w = _clip(combine(jacobian, self.alpha), self.alpha, self.hp["max_norm"])
        return Aggregation(direction, as_tensor(w, jacobian))


@register
class FairGrad(GramianWeighting):
    """Solve G w = w^(-1/alpha); alpha = 0 is the limit w = 1 (equal weights, the EW sum)."""

    name = "fairgrad"
    title = "FairGrad"
    summary = "alpha-fair allocation of the update: G w = w^(-1/alpha); alpha = 1 is Nash-MTL."
    paper = "Ban & Ji, Fair Resource Allocation in Multi-Task Learning, ICML 2024"
    family = "bargaining"
    needs = "gradients"
    formula = r"G w = w^{-1/\alpha},\ w > 0;\quad d = J^\top w"
    cost = "Gramian plus a few Newton steps in T dimensions; T gradients per step"
    params = (
        Param("alpha", "float", 2.0, low=0.0, high=100.0,
              help="fairness: 0 = equal weights, 1 = proportional (Nash), large = max-min"),
        Param("max_norm", "float", 0.0, low=0.0, high=1e6, help=_MAX_NORM_HELP),
    )

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        agg = super().aggregate(jacobian, losses)
        if self.hp["max_norm"] > 0 and agg.weights is not None:
            direction, w = _clip(agg.direction, agg.weights.double().cpu().numpy(), self.hp["max_norm"])
            return Aggregation(direction, as_tensor(w, jacobian))
        return agg

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        alpha = self.hp["alpha"]
        if alpha < 1e-3:
            return np.ones(self.n_tasks)
        return power_balance_weights(gram, 1.0 / alpha)
