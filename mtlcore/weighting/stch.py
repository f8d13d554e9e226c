"""STCH, smooth Tchebycheff scalarisation (Lin et al. 2024): minimise a smooth maximum of the
tasks' log-loss ratios to a nadir point.

Tchebycheff scalarisation minimises the worst task, max_i log(L_i / z_i); its smooth form
mu log sum_i exp(log(L_i / z_i) / mu) tends to that maximum as mu -> 0 and to the mean as mu grows.
The nadir z is each task's mean training loss over the last warm-up epoch; during the warm-up the
total is the sum of the log-losses. The trainer's epoch hook (`end_of_epoch`) delivers those means.

Conventions: the total is multiplied by T, as in the reference code, so at L = z the weights are
1 / L_i, the same as during the warm-up. A weight is d total / d L_i = T softmax(u / mu)_i / L_i with
u_i = log(L_i / z_i). Losses at or below LOSS_FLOOR are held there and get weight 0 (as GLS).
Reference code (LibMTL, from the authors): 4 log-loss epochs, then one more log-loss epoch that
measures the nadir (warmup_epochs = 5 here); our default is 1 because playground runs are short,
and `warmup_steps` counts the warm-up in steps instead (for runs shorter than an epoch, and the toy).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from mtlcore.registry import ConfigError, Param
from mtlcore.weighting.base import LossWeighting, register
from mtlcore.weighting.loss_based import LOSS_FLOOR


@register
class STCH(LossWeighting):
    name: ClassVar[str] = "stch"
    title: ClassVar[str] = "STCH (smooth Tchebycheff)"
    summary: ClassVar[str] = ("Minimises a smooth maximum of each task's log-loss relative to a nadir measured "
                              "after a warm-up of log-loss epochs.")
    paper: ClassVar[str] = ("Lin, Zhang, Yang, Zhang & Zhang, Smooth Tchebycheff Scalarization for Multi-Objective "
                            "Optimization, ICML 2024")
    family: ClassVar[str] = "loss-based"
    formula: ClassVar[str] = (r"\mathcal{L} = T\mu \log \sum_{i=1}^{T} "
                              r"\exp\!\Big(\tfrac{1}{\mu}\log\tfrac{L_i}{z_i}\Big)"
                              r"\ \text{after the warm-up},\quad \mathcal{L} = \sum_i \log L_i \text{ during it}")
    cost: ClassVar[str] = "one backward pass"
    params: ClassVar[tuple[Param, ...]] = (
        Param("mu", "float", 1.0, help="smoothing: small approaches the worst task only, large the mean",
              low=1e-4, high=100.0, log=True),
        Param("warmup_epochs", "int", 1, help="epochs of summed log-losses; the last one's mean losses are the "
              "nadir (the reference code uses 5)", low=1, high=10_000),
        Param("warmup_steps", "int", 0, help="when > 0, warm up for this many steps instead of epochs, the nadir "
              "being their mean losses (runs shorter than an epoch, and the toy, which has no epochs)",
              low=0, high=10_000_000),
    )

    def reset(self) -> None:
        self.epochs_seen = 0
        self.nadir: torch.Tensor | None = None
        self._last: torch.Tensor | None = None
        self._step_sum = torch.zeros(self.n_tasks, dtype=torch.float64)
        self._steps = 0

    def current_weights(self) -> list[float] | None:
        return None if self._last is None else [float(w) for w in self._last.cpu()]

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if losses.shape != (self.n_tasks,):
            raise ConfigError(f"weighting method 'stch' was built for {self.n_tasks} task(s) but got losses of "
                              f"shape {tuple(losses.shape)}")
        above = losses.detach() > LOSS_FLOOR
        floored = torch.where(above, losses, torch.full_like(losses, LOSS_FLOOR))
        if self.nadir is None:
            total = floored.log().sum()
            share = torch.ones_like(floored)
        else:
            scaled = (floored / self.nadir.to(losses.device, losses.dtype)).log() / self.hp["mu"]
            total = self.n_tasks * self.hp["mu"] * torch.logsumexp(scaled, 0)
            share = self.n_tasks * torch.softmax(scaled.detach(), 0)
        weights = torch.where(above, share / floored.detach(), torch.zeros_like(share))
        self._last = weights.detach()
        if self.nadir is None and self.hp["warmup_steps"] > 0:
            self._step_sum += losses.detach().to("cpu", torch.float64)
            self._steps += 1
            if self._steps == self.hp["warmup_steps"]:
                self.nadir = (self._step_sum / self._steps).clamp_min(LOSS_FLOOR)
        return total, self._last

    def end_of_epoch(self, mean_losses: torch.Tensor) -> None:
        """Count the epoch; the last warm-up epoch's mean losses become the nadir."""
        self.epochs_seen += 1
        if self.nadir is None and self.hp["warmup_steps"] == 0 and self.epochs_seen >= self.hp["warmup_epochs"]:
            mean = mean_losses.detach().to("cpu", torch.float64).reshape(-1)
            if mean.numel() != self.n_tasks:
                raise ConfigError(f"stch: expected {self.n_tasks} mean losses, got {mean.numel()}")
            self.nadir = mean.clamp_min(LOSS_FLOOR)
