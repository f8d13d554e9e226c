"""PCD, priority-constrained descent (Varam et al.): follow the first task, guarantee the others a share.

The first task is the primary objective. With every gradient normalised by the running RMS of its
norm (g~_i = s_i g_i, s_i = 1 / sqrt(v_i + eps), v_i a bias-corrected moving average of |g_i|^2),
PCD takes the direction closest to the primary gradient that gives each secondary task at least
the fraction tau of the progress its own normalised gradient would:

    d~ = argmin_d 1/2 |d - g~_1|^2   s.t.   g~_j . d >= tau |g~_j|^2,  j = 2..T,

then rescales d~ to the primary gradient's norm. By duality d~ = g~_1 + sum_j mu_j g~_j with mu >= 0
the minimiser of 1/2 mu^T G~ mu - mu^T b over the secondary block of the normalised Gramian,
b_j = tau |g~_j|^2 - g~_j . g~_1: a non-negative quadratic problem, solved exactly (solvers.py).
If no direction meets every constraint (tau > 0 and 0 in the convex hull of the nonzero secondary
gradients), the constraints are dropped and the step is g_1; a zero primary gradient gives a zero step.

Scale: the primary gradient's norm (not the sum convention). Not symmetric in the tasks: reordering
the tasks changes which one is primary.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, dtype_eps, gramian, solver_tolerance
from mtlcore.weighting.solvers import min_norm_weights, nonnegative_quadratic


def pcd_multipliers(gram: np.ndarray, tau: float, tol: float, dependence: float) -> np.ndarray:
    """[1, mu_2, ..., mu_T]: d~ = sum_i w_i g~_i for the normalised Gramian `gram`; [1, 0, ...] when the
    constraints cannot all hold. `dependence` is the relative squared norm below which a convex
    combination of secondary gradients counts as zero."""
    t = gram.shape[0]
    out = np.zeros(t)
    out[0] = 1.0
    if t == 1:
        return out
    secondary = gram[1:, 1:]
    norms = np.diagonal(secondary)
    nonzero = norms > 0
    if tau > 0 and nonzero.sum() >= 2:
        block = secondary[np.ix_(nonzero, nonzero)]
        w = min_norm_weights(block, tol)
        if w @ block @ w <= dependence * block.diagonal().max():
            return out  # infeasible: drop the constraints
    b = tau * norms - gram[1:, 0]
    out[1:] = nonnegative_quadratic(secondary, b, tol)
    return out


@register
class PCD(GradientWeighting):
    name = "pcd"
    title = "PCD (priority-constrained descent)"
    summary = ("Follows the first task's gradient as closely as possible while guaranteeing every other task a "
               "share tau of its own progress.")
    paper = ("Varam et al., Not All Objectives Are Born Equal: Priority-Constrained Descent for Hierarchical "
             "Multi-Objective Optimization, TMLR 2026 (as offered by TorchJD)")
    family = "multi-objective"
    needs = "gradients"
    formula = (r"\tilde d = \arg\min_d \tfrac12 \|d - \tilde g_1\|^2 \ \text{s.t.}\ "
               r"\tilde g_j^\top d \ge \tau \|\tilde g_j\|^2\ (j \ge 2);\ "
               r"\tilde g_i = g_i / \sqrt{\hat v_i + \epsilon};"
               r"\ d = \tfrac{\|g_1\|}{\|\tilde d\|} \tilde d")
    cost = "Gramian plus one exact (T-1)-dimensional non-negative quadratic programme; T norms kept over steps"
    params = (
        Param("tau", "float", 0.02, low=0.0, high=1.0,
              help="fraction of its own normalised progress each non-primary task is guaranteed"),
        Param("beta", "float", 0.999, low=0.0, high=0.999999,
              help="decay of the moving average of each gradient's squared norm"),
        Param("eps", "float", 1e-8, low=0.0, high=1.0, help="added to that average before its inverse square root"),
    )

    def reset(self) -> None:
        self.squared_norm_average: np.ndarray | None = None
        self.step = 0

    def _scales(self, squared_norms: np.ndarray) -> np.ndarray:
        """Update the moving average and return 1 / sqrt(debiased average + eps) (0 for an always-zero row)."""
        beta = self.hp["beta"]
        if self.squared_norm_average is None:
            self.squared_norm_average = np.zeros(self.n_tasks)
        self.step += 1
        self.squared_norm_average = beta * self.squared_norm_average + (1.0 - beta) * squared_norms
        root = np.sqrt(self.squared_norm_average / (1.0 - beta ** self.step) + self.hp["eps"])
        return np.where(root > 0, 1.0 / np.where(root > 0, root, 1.0), 0.0)

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        gram = gramian(jacobian)
        if not np.isfinite(gram).all():  # leave the state alone; the summed rows surface the fault
            ones = np.ones(self.n_tasks)
            return Aggregation(combine(jacobian, ones), as_tensor(ones, jacobian))
        squared_norms = np.diagonal(gram).copy()
        scales = self._scales(squared_norms)
        weights = np.zeros(self.n_tasks)
        if squared_norms[0] > 0:
            normalized = gram * np.outer(scales, scales)
            precision = 10.0 * dtype_eps(jacobian)
            w = pcd_multipliers(normalized, self.hp["tau"], solver_tolerance(jacobian), max(1e-9, precision))
            squared = float(w @ normalized @ w)
            magnitude = float(np.abs(w) @ np.sqrt(np.clip(np.diagonal(normalized), 0.0, None))) ** 2
            if squared > precision * magnitude:  # otherwise d~ is zero up to rounding
                weights = w * scales * math.sqrt(squared_norms[0] / squared)
        return Aggregation(combine(jacobian, weights), as_tensor(weights, jacobian))
