"""ConFIG (conflict-free inverse gradients): equal cosine with every task gradient, length the sum of
the gradients' projections. The file is named after what it does: `config` is the project's word
for a run configuration.

Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import dtype_eps
from mtlcore.weighting.solvers import mean_scale, pseudo_inverse


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
