"""DSelect-k (Hazimeh et al. 2021): MMoE whose gates learn to select k experts, differentiably.

A softmax gate gives every expert some weight; DSelect-k's gate is a mixture of k "selectors", each
of which picks one expert by its binary code: with m = log2(n_experts) logits z, the selector's
weight on expert e is prod_b S(z_b) or (1 - S(z_b)) by the b-th bit of e, where S is a smooth step
that is exactly 0 below -gamma/2 and exactly 1 above gamma/2. As the logits leave that band each
selector commits to a single expert, so a task ends up reading at most k of them. Per-example gates
(logits from the input), as in LibMTL.

Shared: the experts; task-specific: each task's selector logits, selector mixture and head. The
paper's entropy regulariser (weighted 1e-6 in LibMTL) is not used. n_experts is a power of two, so
every code is an expert and each gate's weights sum to 1 exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from mtlcore.models.base import ModelInfo, register
from mtlcore.models.heads import HEAD_PARAMS
from mtlcore.models.mmoe import MixtureOfExpertsModel
from mtlcore.models.trunks import TRUNK_PARAMS
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec


def smooth_step(t: torch.Tensor, gamma: float) -> torch.Tensor:
    """0 for t <= -gamma/2, 1 for t >= gamma/2, the cubic -2 t^3 / gamma^3 + 3 t / (2 gamma) + 1/2 between."""
    cubic = -2.0 / gamma ** 3 * t ** 3 + 1.5 / gamma * t + 0.5
    return torch.where(t <= -gamma / 2, torch.zeros_like(t), torch.where(t >= gamma / 2, torch.ones_like(t), cubic))


class DSelectGate(nn.Module):
    """Per-example weights over n_experts: a softmax mixture of k binary-code selectors."""

    def __init__(self, n_in: int, n_experts: int, k: int, gamma: float) -> None:
        super().__init__()
        self.bits = int(math.log2(n_experts))
        self.k, self.gamma = k, gamma
        self.selector_logits = nn.Linear(n_in, k * self.bits)
        self.mixture_logits = nn.Linear(n_in, k)
        with torch.no_grad():  # start inside the smooth band, near an even split (LibMTL's ranges)
            for p in self.selector_logits.parameters():
                p.uniform_(-gamma / 100, gamma / 100)
            for p in self.mixture_logits.parameters():
                p.uniform_(-0.05, 0.05)
        codes = [[(e >> (self.bits - 1 - b)) & 1 for b in range(self.bits)] for e in range(n_experts)]
        self.register_buffer("codes", torch.tensor(codes, dtype=torch.bool), persistent=False)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        z = self.selector_logits(flat).view(flat.shape[0], self.k, 1, self.bits)
        s = smooth_step(z, self.gamma)
        selectors = torch.where(self.codes, s, 1.0 - s).prod(dim=-1)  # (B, k, n_experts)
        mixture = torch.softmax(self.mixture_logits(flat), dim=-1)  # (B, k)
        return torch.einsum("bk,bke->be", mixture, selectors)


class DSelectKModel(MixtureOfExpertsModel):
    """Shared expert trunks (as MMoE); per task a DSelect-k gate on the input and a head on the mixture."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec], **params: Any) -> None:
        k, gamma = params.pop("k"), params.pop("gamma")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"dselect_k k must be a whole number >= 1, got {k!r}")
        if not isinstance(gamma, (int, float)) or not gamma > 0:
            raise ConfigError(f"dselect_k gamma must be > 0, got {gamma!r}")
        self.selector = (k, float(gamma))  # read by make_gate, which the parent's __init__ calls
        super().__init__(input_shape, tasks, **params)

    def check_experts(self, n_experts: Any) -> None:
        if n_experts not in (2, 4, 8, 16):
            raise ConfigError(f"dselect_k n_experts must be 2, 4, 8 or 16, got {n_experts!r}")

    def make_gate(self, n_in: int, n_experts: int) -> nn.Module:
        return DSelectGate(n_in, n_experts, *self.selector)

    def mix(self, scores: torch.Tensor) -> torch.Tensor:
        return scores  # a DSelect gate already returns weights over the experts


DSELECT_K = register(ModelInfo(
    name="dselect_k",
    title="DSelect-k",
    summary="Shared expert trunks, as MMoE, but each task's gate mixes k differentiable selectors that each "
            "settle on one expert, so a task ends up reading at most k experts. Shared: the experts; "
            "task-specific: gates and heads.",
    build=DSelectKModel,
    params=(
        Param("n_experts", "choice", 4, "number of shared expert trunks (a power of two)", choices=(2, 4, 8, 16)),
        Param("k", "int", 2, "experts each task may select", low=1, high=16),
        Param("gamma", "float", 1.0, "width of the smooth step's band; outside it a selector has chosen",
              low=1e-3, high=100.0, log=True),
    ) + TRUNK_PARAMS + HEAD_PARAMS,
    paper="Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong & Chi, DSelect-k: Differentiable "
          "Selection in the Mixture of Experts with Applications to Multi-Task Learning, NeurIPS 2021",
    shares_parameters=True,
    has_representation=False,  # each head reads its own gate's mixture
))
