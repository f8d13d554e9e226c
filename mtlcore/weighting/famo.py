"""FAMO: weights that make every task's log-loss fall at the same rate (one extra forward pass)."""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.registry import Param, per_task_numbers
from mtlcore.weighting.base import register
from mtlcore.weighting.loss_based import FAMILY, LOSS_FLOOR, RecordedLossWeighting


@register
class FAMO(RecordedLossWeighting):
    """Fast Adaptive Multitask Optimization: balance the *rate* at which the log-losses fall.

    Keeps logits xi (z = softmax(xi)) and weights each loss by c z_i / (L_i - L*_i + eps), with c
    normalising the weights to sum 1: the gradient is that of sum z_i log(L_i - L*_i) up to the
    scale c. After the model step the trainer re-evaluates the same batch; xi then takes one Adam
    step (weight decay gamma) on the gradient of z . delta, delta_i the fall of log(L_i - L*_i), which
    raises the weight of the tasks that improved least. The logits have their own optimiser, not the
    model's, so `parameters()` is empty. As in the official code the shared parameters' gradient is
    clipped to `max_norm` before the model's step (`shared_max_norm`).
    """

    name: ClassVar[str] = "famo"
    title: ClassVar[str] = "FAMO"
    summary: ClassVar[str] = ("Adapts weights so every task's log-loss falls at the same rate, at the cost of one "
                              "extra forward pass.")
    paper: ClassVar[str] = ("Liu, Feng, Stone, Liu. FAMO: Fast Adaptive Multitask Optimization. NeurIPS 2023")
    family: ClassVar[str] = FAMILY
    formula: ClassVar[str] = (r"z = \operatorname{softmax}(\xi), \quad "
                              r"w_i = \frac{z_i / (L_i - L_i^* + \epsilon)}{\sum_j z_j / (L_j - L_j^* + \epsilon)}; "
                              r"\quad \xi \leftarrow \operatorname{Adam}"
                              r"\big(\nabla_\xi\, z^\top \delta + \gamma\,\xi\big), "
                              r"\quad \delta_i = "
                              r"\log\frac{L_i^{\mathrm{before}} - L_i^*}{L_i^{\mathrm{after}} - L_i^*}")
    cost: ClassVar[str] = "one backward pass plus one extra forward pass (no gradient) on the same batch"
    departures: ClassVar[str] = (
        "Defaults as the official code: gamma 0.01, logits' learning rate 0.025, the shared parameters' gradient "
        "clipped to norm 1 after the backward pass (earlier versions here: gamma 0.001, no clipping). In a "
        "Session given a representation tensor as shared=, nothing is clipped (the clip acts on parameters).")
    params: ClassVar[tuple[Param, ...]] = (
        Param("lr", "float", 0.025, help="learning rate of the task logits (their own Adam, not the model's)",
              low=1e-5, high=1.0, log=True),
        Param("gamma", "float", 0.01, help="weight decay on the logits; pulls the weights back toward equal "
              "(0.01 as in the official code)", low=0.0, high=1.0),
        Param("max_norm", "float", 1.0, help="clip the gradient on the shared parameters to this norm after the "
              "backward pass, as the official code does (0 turns clipping off)", low=0.0, high=1e6),
        Param("min_losses", "floats", None, help="lowest reachable loss L* of each task; empty means all 0",
              per_task=True),
    )
    wants_losses_after_step: ClassVar[bool] = True

    def shared_max_norm(self) -> float:
        return float(self.hp["max_norm"])

    _device: torch.device = torch.device("cpu")

    def reset(self) -> None:
        super().reset()
        given = self.hp["min_losses"]
        minima = [0.0] * self.n_tasks if given is None else per_task_numbers(
            given, self.n_tasks, "famo min_losses", non_negative=False)
        self._min_losses = torch.tensor(minima, dtype=torch.float32, device=self._device)
        self.logits = torch.zeros(self.n_tasks, device=self._device, requires_grad=True)
        self._optimizer = self._new_optimizer()

    def _new_optimizer(self) -> torch.optim.Adam:
        return torch.optim.Adam([self.logits], lr=float(self.hp["lr"]), weight_decay=float(self.hp["gamma"]))

    def to(self, device: torch.device | str) -> "FAMO":
        self._device = torch.device(device)
        state = self._optimizer.state_dict()
        self.logits = self.logits.detach().to(self._device).requires_grad_(True)
        self._min_losses = self._min_losses.to(self._device)
        self._optimizer = self._new_optimizer()
        self._optimizer.load_state_dict(state)  # moves Adam's moments next to the logits
        return self

    def _gaps(self, losses: torch.Tensor) -> torch.Tensor:
        """L - L* + eps, with L below L* treated as L* (the paper assumes L >= L*)."""
        losses = losses.detach().to(self._device, torch.float32)
        return (losses - self._min_losses).clamp_min(0.0) + LOSS_FLOOR

    def task_probabilities(self) -> torch.Tensor:
        """z = softmax(logits): the weights FAMO would apply if every loss gap were equal."""
        return torch.softmax(self.logits.detach(), 0)

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_losses(losses)
        scaled = self.task_probabilities() / self._gaps(losses)
        return self._weighted_sum(losses, scaled / scaled.sum())

    def after_step(self, losses_before: torch.Tensor, losses_after: torch.Tensor) -> None:
        """One Adam step on the logits from the fall of each log-loss over the model's step."""
        delta = self._gaps(losses_before).log() - self._gaps(losses_after).log()
        if not bool(torch.isfinite(delta).all()):
            return  # a diverged re-evaluation; the trainer fails the run on the next step's losses
        z = self.task_probabilities()
        # d(z . delta)/d logits = J_softmax^T delta = z * (delta - z . delta)
        self.logits.grad = z * (delta - (z * delta).sum())
        self._optimizer.step()
        self.logits.grad = None
