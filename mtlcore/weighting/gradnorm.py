"""GradNorm: learned weights that equalise the weighted gradient norms (magnitude balancing).

The weights are updated by their own Adam inside aggregate(), after the direction is taken;
parameters() stays empty, so the model optimiser's weight decay never touches them.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import as_tensor, check_jacobian, combine, require_losses
from mtlcore.weighting.loss_based import LOSS_FLOOR
from mtlcore.weighting.vector_adam import VectorAdam


@register
class GradNorm(GradientWeighting):
    """d = sum_i w_i g_i with the current weights (they sum to T: the sum convention), then one Adam
    step on |w_i |g_i| - mean_k(w_k |g_k|) r_i^alpha|, the target held constant as in the paper,
    r_i = (L_i / L_i(0)) / mean_k(L_k / L_k(0)); weights are floored at 1e-3 and renormalised to sum T.

    The paper measures the norms on the last shared layer; with only the Jacobian given it uses the
    row norms of whatever the Jacobian covers (use the representation mode for the paper's cheap
    variant). State: weights, initial losses, the Adam moments.
    """

    name = "gradnorm"
    title = "GradNorm"
    summary = "Learned weights that equalise weighted gradient norms, adjusted by each task's training rate."
    paper = ("Chen et al., GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep "
             "Multitask Networks, ICML 2018")
    family = "magnitude balancing"
    needs = "gradients"
    supports_representation = True
    formula = (r"L_{\text{grad}} = \sum_i \big| w_i\|g_i\| - \overline{w\|g\|}\, r_i^{\alpha} \big|,\ "
               r"r_i = \frac{L_i/L_i(0)}{\mathrm{mean}_k L_k/L_k(0)};\ d = \sum_i w_i g_i,\ \sum_i w_i = T")
    cost = "T gradient norms and an Adam step on T numbers; needs T gradients and the losses"
    params = (
        Param("alpha", "float", 1.5, low=0.0, high=10.0,
              help="strength of the pull towards equal training rates (0: equal gradient norms)"),
        Param("lr", "float", 0.025, low=1e-6, high=10.0, log=True, help="learning rate of the weights (Adam)"),
    )

    def reset(self) -> None:
        self.task_weights = np.ones(self.n_tasks)
        self.initial_losses: np.ndarray | None = None
        self.optimizer = VectorAdam(self.hp["lr"])

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        loss_values = require_losses(self.name, self.n_tasks, losses)
        w = self.task_weights.copy()
        direction = combine(jacobian, w)
        norms = torch.linalg.vector_norm(jacobian.detach(), dim=1).double().cpu().numpy()
        if np.isfinite(norms).all() and np.isfinite(loss_values).all():
            if self.initial_losses is None:
                self.initial_losses = np.maximum(loss_values, LOSS_FLOOR)
            self._update(w, norms, loss_values)
        return Aggregation(direction, as_tensor(w, jacobian))

    def _update(self, w: np.ndarray, norms: np.ndarray, loss_values: np.ndarray) -> None:
        assert self.initial_losses is not None
        ratio = loss_values / self.initial_losses
        mean_ratio = ratio.mean()
        relative = ratio / mean_ratio if mean_ratio > 0 else np.ones(self.n_tasks)
        weighted = w * norms
        target = weighted.mean() * relative ** self.hp["alpha"]
        new = self.optimizer.step(w, np.sign(weighted - target) * norms)
        new = np.maximum(new, 1e-3)
        self.task_weights = self.n_tasks * new / new.sum()

    def current_weights(self) -> list[float] | None:
        return self.task_weights.tolist()
