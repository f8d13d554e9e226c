"""Applying a weighting method inside someone else's training loop.

The user's loop ends in `total.backward(); optimizer.step()`, so every method has to come out as one
scalar whose gradient is the method's update. The method itself is the trainer's own object
(`mtlcore.weighting.create`), called through the same entry points (`LossWeighting.combine`,
`GradientWeighting.aggregate`); only how its result reaches the parameters differs:

- loss-based methods (static weights included): `combine(losses)` is the total, as in the trainer.
- gradient methods: the per-task gradients on the shared part (parameters, or a representation
  tensor) are taken with `mtlcore.gradients.jacobian`, aggregated, and returned as a *surrogate*
  `sum_i c_i L_i + <s, d - sum_i c_i g_i> - <s, d - sum_i c_i g_i>.detach()` for the shared tensors s,
  with c from `mtlcore.gradients.head_coefficients` (the task weights, or 1: `heads`). Its gradient
  is the aggregated direction d on the shared part and c_i times task i's gradient on the parts only
  that task uses, as in the trainer.
- a loss-based method that clips the shared gradient (FAMO's `shared_max_norm`): when the shared
  tensors are parameters, the surrogate adds the correction that scales their gradient down to
  that norm (one extra backward through the shared part, only on steps where it applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Union

import torch

from mtlcore import gradients as grads
from mtlcore.config import gradient_problem
from mtlcore.registry import ConfigError
from mtlcore.weighting import GradientWeighting, LossWeighting, Weighting

Shared = Union[torch.nn.Module, torch.Tensor, Iterable[torch.Tensor], None]


@dataclass
class Combined:
    total: torch.Tensor  # the scalar to backpropagate
    weights: torch.Tensor | None  # (T,) detached weights the method applied, where it has them
    stats: dict[str, object] | None  # gradient diagnostics (norms, cosines), when asked this step


def shared_tensors(shared: Shared) -> tuple[list[torch.Tensor], bool]:
    """The tensors gradients are taken on, and whether they are one representation tensor.

    A module gives its trainable parameters, a tensor that requires grad and is not a leaf is a
    shared representation (the trunk's output), anything else iterable is a list of parameters.
    """
    if shared is None:
        return [], False
    if isinstance(shared, torch.nn.Module):
        return [p for p in shared.parameters() if p.requires_grad], False
    if isinstance(shared, torch.Tensor):
        if not shared.requires_grad:
            raise ConfigError("shared= got a tensor that does not require grad; hand over the trunk's "
                              "output (a representation) or the shared parameters")
        return [shared], shared.grad_fn is not None
    return [p for p in shared if p.requires_grad], False


def check_pairing(method: Weighting, representation: bool, has_shared: bool) -> None:
    """The trainer's rule (`gradient_problem`), asked of what the user handed over."""
    if not isinstance(method, GradientWeighting):
        return
    if not has_shared:
        raise ConfigError(f"method '{method.name}' combines per-task gradients: pass shared= (the shared "
                          "module or its parameters, or the shared representation tensor) to combine()")
    problem = gradient_problem(
        {"name": method.name, "kind": "gradient", "needs": method.needs,
         "supports_representation": method.supports_representation},
        {"name": "your model", "shares_parameters": not representation, "has_representation": representation},
        "representation" if representation else "parameters")
    if problem:
        raise ConfigError(problem[1])


def _inject(tensors: list[torch.Tensor], correction: torch.Tensor) -> torch.Tensor:
    """A zero-valued scalar whose gradient on each tensor is its slice of `correction`."""
    term = correction.new_zeros(())
    offset = 0
    for t in tensors:
        n = t.numel()
        term = term + (t * correction[offset:offset + n].view_as(t).to(t.dtype)).sum()
        offset += n
    return term - term.detach()


def _clip_shared(total: torch.Tensor, shared: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """`total` whose gradient on the shared parameters is clipped to max_norm (the trainer's
    clip_grad_norm_ after the backward pass, done inside the scalar the user backpropagates)."""
    found = torch.autograd.grad(total, shared, retain_graph=True, allow_unused=True)
    flat = torch.cat([(g if g is not None else torch.zeros_like(t)).reshape(-1) for g, t in zip(found, shared)])
    norm = float(torch.linalg.vector_norm(flat))
    if not max_norm < norm < float("inf"):
        return total
    return total + _inject(shared, flat * (max_norm / norm - 1.0))


def loss_total(method: LossWeighting, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A loss-based method's total and its detached (T,) weights."""
    total, weights = method.combine(losses)
    return total, weights.detach() if weights.requires_grad else weights


def apply(method: Weighting, losses: torch.Tensor, shared: list[torch.Tensor], representation: bool,
          want_stats: bool, heads: str = "weighted") -> Combined:
    """One step of `method` on the (T,) losses (with grad); `shared` as from `shared_tensors`;
    `heads` as the run config's weighting.heads."""
    if isinstance(method, LossWeighting):
        total, weights = loss_total(method, losses)
        stats = None
        if want_stats and shared:
            jac = grads.jacobian(losses, shared, retain_graph=True)
            stats = grads.gradient_statistics(jac, weights.detach().to(jac.dtype) @ jac)
        max_norm = method.shared_max_norm()
        if max_norm > 0 and shared and not representation:
            total = _clip_shared(total, shared, max_norm)
        return Combined(total, weights, stats)
    assert isinstance(method, GradientWeighting)
    check_pairing(method, representation, bool(shared))
    jac = grads.jacobian(losses, shared, retain_graph=True)
    agg = method.aggregate(jac, losses.detach())
    direction = agg.direction.to(jac.dtype)
    stats = grads.gradient_statistics(jac, direction) if want_stats else None
    coef = grads.head_coefficients(heads, agg.weights, losses)
    total = (coef * losses).sum() + _inject(shared, direction - coef.to(jac.dtype) @ jac)
    return Combined(total, None if agg.weights is None else agg.weights.detach(), stats)
