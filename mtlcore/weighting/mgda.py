"""MGDA: the min-norm point of the convex hull of the task gradients, a direction no task disagrees with.

Scale (the project's sum convention): simplex weights are multiplied by T, so T identical gradients
g give exactly T g, the same as equal weighting of the summed losses, and one task gives its own
gradient.

Also the gradient normalisers of Sener & Koltun's code (divide each gradient by 1, |g_i|, L_i or
L_i |g_i| before solving).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import masked_nonfinite, require_batch_losses, require_losses, solver_tolerance
from mtlcore.weighting.solvers import frank_wolfe_min_norm, min_norm_weights
from mtlcore.weighting.two_task import TwoTaskRule, min_norm_row, two_task_min_norm

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


def gradient_normalizers(kind: str, gram: np.ndarray, losses: np.ndarray | None) -> np.ndarray:
    """Per-task divisors of Sener & Koltun's code: 1, |g_i|, L_i or L_i |g_i| (zero stays zero)."""
    norms = np.sqrt(np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0.0, None))  # (T,) or (B, T) for a stack
    if kind == "none":
        out = np.ones(norms.shape)
    elif kind == "l2":
        out = norms
    elif kind == "loss":
        out = np.asarray(losses, dtype=np.float64)
    elif kind == "loss+":
        out = np.asarray(losses, dtype=np.float64) * norms
    else:
        raise ConfigError(f"unknown gradient normalisation {kind!r}; choose one of {list(NORMALIZATIONS)}")
    return np.where(out > 1e-30, out, 1.0)


_NORMALIZATION = Param(
    "normalization", "choice", "none", choices=NORMALIZATIONS,
    help="divide each gradient by 1, its norm, its loss, or loss x norm before solving "
         "(Sener & Koltun's code); the weights then apply to the raw gradients",
)


@register
class MGDA(GramianWeighting):
    """Weights found on the (optionally normalised) Gramian, applied to the raw gradients.

    With normalisation 'none' the direction is T times the min-norm point, so every task's
    directional derivative is >= |d|^2 / T >= 0. With a normalisation, Sener & Koltun apply the
    weights of the normalised problem to the unnormalised losses; that keeps their behaviour but
    not the no-conflict guarantee.
    """

    name = "mgda"
    title = "MGDA"
    summary = "Min-norm point of the convex hull of the task gradients: a direction every task agrees with."
    paper = "Sener & Koltun, Multi-Task Learning as Multi-Objective Optimization, NeurIPS 2018"
    family = "multi-objective"
    needs = "gradients"
    supports_representation = True  # on the representation this is MGDA-UB
    formula = (r"w^\star = \arg\min_{w \in \Delta_T} \Big\| \sum_i w_i \tfrac{g_i}{n_i} \Big\|^2,"
               r"\quad d = T \sum_i w^\star_i g_i")
    cost = ("one T x T Gramian of the per-task gradients plus an exact active-set solve in T dimensions "
            "(microseconds); needs T gradients per step (one batched backward)")
    params = (
        _NORMALIZATION,
        Param("solver", "choice", "exact", choices=("exact", "frank_wolfe"),
              help="exact active-set solver, or the paper's Frank-Wolfe iterations (approximate)"),
        Param("max_iter", "int", 250, low=1, high=100000, help="Frank-Wolfe iterations at most"),
        Param("tol", "float", 1e-5, low=1e-15, high=1.0, log=True, help="Frank-Wolfe stops below this step size"),
    )

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        kind = self.hp["normalization"]
        loss_values = require_losses(self.name, self.n_tasks, losses) if kind in ("loss", "loss+") else None
        scale = gradient_normalizers(kind, gram, loss_values)
        normalized = gram / np.outer(scale, scale)
        if self.hp["solver"] == "exact":
            w = min_norm_weights(normalized, solver_tolerance(jacobian))
        else:
            w = frank_wolfe_min_norm(normalized, self.hp["max_iter"], self.hp["tol"])
        return self.n_tasks * w

    def two_task_rule(self) -> TwoTaskRule | None:
        if self.hp["normalization"] != "none" or self.hp["solver"] != "exact":
            return None

        def rule(p: float, q: float, s: float) -> tuple[float, float]:
            x = min_norm_row(p, q, s)
            return 2.0 * x, 2.0 * (1.0 - x)
        return rule

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """Two tasks with the exact solver: the closed form for a whole stack at once."""
        if self.n_tasks != 2 or self.hp["solver"] != "exact":
            return super().batch_weights(grams, jacobians, losses)
        kind = self.hp["normalization"]
        loss_values = (require_batch_losses(self.name, self.n_tasks, losses, grams.shape[0])
                       if kind in ("loss", "loss+") else None)
        grams, finite = masked_nonfinite(grams)
        if kind != "none":
            with np.errstate(invalid="ignore"):
                scale = gradient_normalizers(kind, grams, loss_values)
            grams = grams / (scale[:, :, None] * scale[:, None, :])
        w = two_task_min_norm(grams)
        w *= self.n_tasks
        return w if finite is None else np.where(finite[:, None], w, 1.0)
