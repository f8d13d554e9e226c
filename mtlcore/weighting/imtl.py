"""IMTL: IMTL-G's equal-projection weights on the gradients of learned scaled losses e^{s_i} L_i (IMTL-L).

Scale: sum convention (T identical gradients g give T g; one task gives its gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import WEIGHTED_HEADS_NOTE, Aggregation, GradientWeighting, register
from mtlcore.weighting.imtl_g import imtl_g_weights
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, dtype_eps, gramian, require_losses
from mtlcore.weighting.vector_adam import VectorAdam


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
    departures = WEIGHTED_HEADS_NOTE.replace("the reference code", "LibMTL's IMTL code")
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
