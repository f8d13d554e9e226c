"""ExcessMTL (He et al. 2024): raise the weight of the tasks that are furthest from their best loss.

Each task's excess risk (how much its loss could still fall) is estimated from its gradient with a
diagonal, AdaGrad-like curvature: E_i = sum_c g_ic^2 / sqrt(S_ic + 1e-7), S the running sum of the
squared gradients (a T x n buffer). Divided by a baseline (the mean E_i over the first
`warmup_steps` steps, during which the weights stay equal), it drives an exponentiated-gradient step
on the weights: w <- w exp(eta E_i / E_i^0), renormalised (done as a softmax in log space, so a huge
ratio saturates a weight instead of overflowing).

Scale: the authors' (and the sum convention): weights sum to T, starting at 1 each. With
warmup_steps = 1 this is the official code, whose first step only records the baseline; the paper
collects the baseline over 3 epochs (warmup_steps = 3 x steps per epoch). Baseline + 1e-7 in the
division is ours, so a task whose first gradient was zero cannot divide by zero.
"""

from __future__ import annotations

import math

import torch

from mtlcore.registry import Param
from mtlcore.weighting.base import Aggregation, GradientWeighting, register
from mtlcore.weighting.jacobian import check_jacobian

_CURVATURE_EPS = 1e-7  # the official code's constant inside the square root, and our baseline floor


@register
class ExcessMTL(GradientWeighting):
    name = "excess_mtl"
    title = "ExcessMTL"
    summary = ("Weights each task by its estimated excess risk (distance to its best loss), updated by "
               "exponentiated gradient steps.")
    paper = "He, Zhou, Han & Zhao, Robust Multi-Task Learning with Excess Risks, ICML 2024"
    family = "distributionally robust"
    needs = "gradients"
    formula = (r"S \mathrel{+}= J \odot J,\ E_i = \sum_c \frac{g_{ic}^2}{\sqrt{S_{ic} + 10^{-7}}};\ "
               r"w \leftarrow T \operatorname{softmax}\big(\log w + \eta\, E / E^0\big);\ d = J^\top w")
    cost = "one pass over the T x n Jacobian per step and a T x n buffer of squared gradients in memory"
    params = (
        Param("robust_step_size", "float", 1e-2, low=1e-8, high=100.0, log=True,
              help="eta: step size of the exponentiated weight update (official default 0.01)"),
        Param("warmup_steps", "int", 1, low=1, high=10_000_000,
              help="steps with equal weights whose mean excess risk is the baseline (1 = official code)"),
    )

    def reset(self) -> None:
        self.squared_sum: torch.Tensor | None = None
        self.log_weights: torch.Tensor | None = None  # log of the simplex weights
        self.baseline: torch.Tensor | None = None
        self.warmup_sum: torch.Tensor | None = None
        self.step = 0

    def current_weights(self) -> list[float] | None:
        if self.log_weights is None:
            return None
        return [float(w) for w in self.n_tasks * torch.softmax(self.log_weights, 0)]

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        j = jacobian.detach()
        if self.squared_sum is None or self.squared_sum.shape != j.shape or self.squared_sum.dtype != j.dtype:
            self.squared_sum = torch.zeros_like(j)
            self.log_weights = torch.full((self.n_tasks,), -math.log(self.n_tasks), dtype=j.dtype, device=j.device)
            self.baseline, self.warmup_sum, self.step = None, torch.zeros_like(j[:, 0]), 0
        assert self.log_weights is not None and self.warmup_sum is not None
        if bool(torch.isfinite(j).all()):  # a non-finite Jacobian must not poison the buffer
            squared = j * j
            self.squared_sum += squared
            risk = (squared / torch.sqrt(self.squared_sum + _CURVATURE_EPS)).sum(dim=1)
            if self.step < self.hp["warmup_steps"]:
                self.warmup_sum += risk
            else:
                if self.baseline is None:
                    self.baseline = self.warmup_sum / self.hp["warmup_steps"]
                ratio = risk / (self.baseline + _CURVATURE_EPS)
                self.log_weights = torch.log_softmax(self.log_weights + self.hp["robust_step_size"] * ratio, 0)
            self.step += 1
        w = self.n_tasks * torch.exp(self.log_weights)
        return Aggregation(w @ j, w.clone())
