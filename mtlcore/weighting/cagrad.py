"""CAGrad: the best worst-task improvement inside a ball around the mean gradient."""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import masked_nonfinite, solver_tolerance
from mtlcore.weighting.solvers import cagrad_weights
from mtlcore.weighting.two_task import TwoTaskRule, cagrad_row, two_task_cagrad


@register
class CAGrad(GramianWeighting):
    """d = T / (1 + c) * (g0 + c |g0| g_w / |g_w|), g0 the mean gradient, w from the exact dual.

    The paper's d = g0 + c|g0| g_w/|g_w| is rescaled by T / (1 + c) so identical gradients give the
    EW sum T g; the official code divides by 1 + c^2 by default instead (a constant learning-rate
    factor). When g_w vanishes (0 in the convex hull) the perturbation is undefined and d = T g0 / (1+c).
    """

    name = "cagrad"
    title = "CAGrad"
    summary = "Best worst-task improvement within a ball of radius c|g0| around the mean gradient."
    paper = "Liu et al., Conflict-Averse Gradient Descent for Multi-task Learning, NeurIPS 2021"
    family = "multi-objective"
    needs = "gradients"
    formula = (r"\max_{d} \min_i g_i^\top d \ \text{s.t.}\ \|d - g_0\| \le c\|g_0\|;\ "
               r"d = \tfrac{T}{1+c}\Big(g_0 + c\|g_0\| \tfrac{g_w}{\|g_w\|}\Big),\ "
               r"w = \arg\min_{w\in\Delta} g_w^\top g_0 + c\|g_0\|\|g_w\|")
    cost = ("Gramian plus a one-dimensional root search whose every step is an exact T-dimensional "
            "min-norm solve (well under a millisecond at T <= 10); T gradients per step")
    params = (Param("c", "float", 0.4, low=0.0, high=100.0,
                    help="radius of the ball around the mean gradient, relative to its norm (0 = EW)"),)

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        c = self.hp["c"]
        return self.n_tasks / (1.0 + c) * cagrad_weights(gram, c, solver_tolerance(jacobian))

    def two_task_rule(self) -> TwoTaskRule | None:
        c = self.hp["c"]
        scale = self.n_tasks / (1.0 + c)

        def rule(p: float, q: float, s: float) -> tuple[float, float]:
            w1, w2 = cagrad_row(p, q, s, c) if c != 0 else (0.5, 0.5)
            return scale * w1, scale * w2
        return rule

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """Two tasks: the closed form of the one-dimensional dual for a whole stack at once."""
        if self.n_tasks != 2:
            return super().batch_weights(grams, jacobians, losses)
        c = self.hp["c"]
        grams, finite = masked_nonfinite(grams)
        w = two_task_cagrad(grams, c)
        w *= self.n_tasks / (1.0 + c)
        return w if finite is None else np.where(finite[:, None], w, 1.0)
