"""IMTL-G: the update makes the same projection on every task's unit gradient (closed form).

On a full-rank Jacobian IMTL-G and ConFIG point the same way and differ in length only.

Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import dtype_eps
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
