"""DualProj: project the summed gradient onto the dual cone.

UPGrad's sibling (upgrad.py says what the dual cone is, how the projection is solved and why we sum
where the reference averages): here one projection, of the summed gradient, instead of one per task.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.weighting.base import GramianWeighting, register
from mtlcore.weighting.jacobian import solver_tolerance
from mtlcore.weighting.solvers import dual_cone_weights


@register
class DualProj(GramianWeighting):
    name = "dualproj"
    title = "DualProj"
    summary = "Projects the summed gradient onto the cone of directions no task opposes."
    paper = "Quinton & Rey, Jacobian Descent for Multi-Objective Optimization, 2024 (after GEM, 2017)"
    family = "dual cone"
    needs = "gradients"
    formula = r"d = \pi_J\Big(\sum_i g_i\Big),\ \pi_J(J^\top u) = J^\top v,\ v = \arg\min_{v \ge u} v^\top G v"
    cost = "Gramian plus one exact T-dimensional quadratic programme (microseconds)"

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        return dual_cone_weights(gram, np.ones(self.n_tasks), solver_tolerance(jacobian))
