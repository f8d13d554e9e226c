"""UPGrad: project every task gradient onto the dual cone, then sum the projections.

Dual-cone projections (Jacobian descent, Quinton & Rey 2024) keep only updates that no task opposes,
i.e. directions d with J d >= 0, by projecting onto that cone; the result lies in the cone, so
g_i . d >= 0 for every task. Each projection is a T-dimensional non-negative quadratic programme on
the Gramian, solved exactly (solvers.py).

Scale: sum convention. The reference implementation averages (preference 1/T); we sum, which is T
times the same vector (projection onto a cone is positively homogeneous), so T identical gradients
give T g and one task gives its gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import solver_tolerance
from mtlcore.weighting.solvers import dual_cone_weights


@register
class UPGrad(GramianWeighting):
    name = "upgrad"
    title = "UPGrad"
    summary = "Projects each task gradient onto the cone of non-conflicting directions, then sums them."
    paper = "Quinton & Rey, Jacobian Descent for Multi-Objective Optimization, 2024"
    family = "dual cone"
    needs = "gradients"
    formula = (r"d = \sum_i \pi_J(g_i),\ \pi_J(g) = \arg\min_{J x \ge 0} \|x - g\|;\ "
               r"\pi_J(J^\top u) = J^\top v,\ v = \arg\min_{v \ge u} v^\top G v")
    cost = "Gramian plus T exact T-dimensional quadratic programmes (well under a millisecond at T <= 10)"

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        return dual_cone_weights(gram, np.eye(self.n_tasks), solver_tolerance(jacobian)).sum(axis=0)
