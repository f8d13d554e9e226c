"""Impartial directions: the update makes the same angle with every task's gradient.

IMTL-G asks for equal projections on the unit gradients (weights summing to one); IMTL adds IMTL-L,
learned loss scales e^{s_i} that fix the magnitude each task contributes; ConFIG takes the same
equal-angle direction from the pseudo-inverse of the unit gradients and sets its length to the sum of
the gradients' projections. On a full-rank Jacobian IMTL-G and ConFIG point the same way and differ
in length only.

Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian_tools import (
    GramianWeighting, VectorAdam, as_tensor, check_jacobian, combine, dtype_eps, gramian, require_losses,
)
from mtlcore.weighting.solvers import mean_scale, pseudo_inverse


def imtl_g_weights(gram: np.ndarray, eps: float) -> np.ndarray:
    """Weights summing to 1 whose combination has equal projection on every unit task gradient.

    Closed form: G w must be proportional to the norms n, so w = G^+ n / sum(G^+ n) (the pseudo-
    inverse extends it to dependent rows). One deviation from the paper: when sum(G^+ n) < 0, dividing
    by it would make the update conflict with every task; we divide by its absolute value instead,
    so the common projection is always positive. Zero when no such direction exists (e.g. g, -g).
    """
    t = gram.shape[0]
    scale = mean_scale(gram)
    if not scale > 0:
        return np.zeros(t)
    g = gram / scale
    norms = np.sqrt(np.clip(np.diag(g), 0.0, None))
    v = pseudo_inverse(g, t * eps) @ norms
    total = float(v.sum())
    if abs(total) <= 1e-9 * float(np.abs(v).sum()) or not np.isfinite(total):
        return np.zeros(t)
    return v / abs(total)


@register
class IMTLG(GramianWeighting):
    name = "imtl_g"
    title = "IMTL-G"
    summary = "Closed-form weights giving the update equal projections on every task's unit gradient."
    paper = "Liu et al., Towards Impartial Multi-task Learning, ICLR 2021"
    family = "impartial"
    needs = "gradients"
    supports_representation = True
    formula = (r"d^\top \tfrac{g_i}{\|g_i\|} \ \text{equal for all}\ i:\ "
               r"w = \tfrac{G^+ n}{|1^\top G^+ n|},\ d = T J^\top w")
    cost = "Gramian plus one T x T eigendecomposition (microseconds); T gradients per step"

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        return self.n_tasks * imtl_g_weights(gram, dtype_eps(jacobian))


@register
class IMTL(GradientWeighting):
    """IMTL-G applied to the gradients of the scaled losses e^{s_i} L_i, with s learned by IMTL-L.

    IMTL-L minimises sum_i e^{s_i} L_i - s_i, whose gradient in s is e^{s_i} L_i - 1 (optimum: every
    scaled loss equal to 1). s is updated inside aggregate() by its own Adam (learning rate `lr`),
    after the direction is taken, so parameters() is empty. `weights` are on the raw gradients:
    T * alpha_i * e^{s_i}. State: s and its optimiser.
    """

    name = "imtl"
    title = "IMTL (IMTL-G + IMTL-L)"
    summary = "Hybrid IMTL: learned loss scales e^s (IMTL-L) then equal-projection weights (IMTL-G)."
    paper = "Liu et al., Towards Impartial Multi-task Learning, ICLR 2021"
    family = "impartial"
    needs = "gradients"
    supports_representation = True
    formula = (r"\tilde g_i = e^{s_i} g_i,\ w = \text{IMTL-G}(\tilde G),\ d = T \sum_i w_i \tilde g_i;\ "
               r"s \leftarrow s - \eta\,\mathrm{Adam}(e^{s} L - 1)")
    cost = "as IMTL-G, plus an Adam step on T scalars; needs the losses"
    params = (Param("lr", "float", 1e-2, low=1e-6, high=10.0, log=True,
                    help="learning rate of the loss scales s (Adam)"),)

    def reset(self) -> None:
        self.log_scales = np.zeros(self.n_tasks)
        self.optimizer = VectorAdam(self.hp["lr"])

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        loss_values = require_losses(self.name, self.n_tasks, losses)
        gram = gramian(jacobian)
        scales = np.exp(self.log_scales)
        if np.isfinite(gram).all():
            alpha = imtl_g_weights(gram * np.outer(scales, scales), dtype_eps(jacobian))
            w = self.n_tasks * alpha * scales
        else:
            w = np.ones(self.n_tasks)
        if np.isfinite(loss_values).all():
            self.log_scales = self.optimizer.step(self.log_scales, scales * loss_values - 1.0)
        return Aggregation(combine(jacobian, w), as_tensor(w, jacobian))


@register
class ConFIG(GramianWeighting):
    """d = (sum_i g_i . u) u with u the unit vector of pinv(U) 1, U the unit gradients.

    Computed in task space: pinv(U) 1 = J^T D^+ (U U^T)^+ 1 with D the gradient norms. The pseudo-
    inverse drops singular values of U below max(T, n) * eps * the largest, the default of
    torch.linalg.pinv that the reference implementation relies on.
    """

    name = "config"
    title = "ConFIG"
    summary = "Conflict-free direction with equal cosine to every task gradient, length = sum of projections."
    paper = "Liu et al., ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks, ICLR 2025"
    family = "impartial"
    needs = "gradients"
    formula = (r"u = \frac{U^+ \mathbf{1}}{\|U^+ \mathbf{1}\|},\ U = [g_i/\|g_i\|]_i;\quad "
               r"d = \Big(\sum_i g_i^\top u\Big) u")
    cost = "Gramian plus one T x T eigendecomposition; T gradients per step"

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        t = self.n_tasks
        scale = mean_scale(gram)
        if not scale > 0:
            return np.zeros(t)
        g = gram / scale
        norms = np.sqrt(np.clip(np.diag(g), 0.0, None))
        inv_norms = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
        unit_gram = g * np.outer(inv_norms, inv_norms)
        rtol = (max(t, jacobian.shape[1]) * dtype_eps(jacobian)) ** 2  # on eigenvalues = squared singular values
        w = inv_norms * (pseudo_inverse(unit_gram, rtol) @ np.ones(t))
        best_sq = float(w @ g @ w)
        if not best_sq > 1e-24:
            return np.zeros(t)
        return (float(np.ones(t) @ g @ w) / best_sq) * w
