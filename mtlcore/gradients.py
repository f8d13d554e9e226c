"""Per-task gradients on shared parameters, and the diagnostics computed from them.

The Jacobian is taken with one batched backward (`is_grads_batched=True`, vmap over the T unit
cotangents) instead of T separate backward passes; where an operator has no batching rule the same
result comes from the loop, so correctness never depends on vmap coverage.
"""

from __future__ import annotations

from typing import Sequence

import torch


def jacobian(losses: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = True,
             batched: bool = True) -> torch.Tensor:
    """(T, n) matrix whose row i is d losses[i] / d params, flattened; missing grads are zeros."""
    eye = torch.eye(losses.shape[0], device=losses.device, dtype=losses.dtype)
    return vjp_rows(losses, params, eye, retain_graph=retain_graph, batched=batched)


def vjp_rows(output: torch.Tensor, params: Sequence[torch.Tensor], cotangents: torch.Tensor,
             retain_graph: bool = True, batched: bool = True) -> torch.Tensor:
    """(T, n) matrix whose row i is cotangents[i]^T d output / d params (shape (T, *output.shape)).

    With unit cotangents on a loss vector this is the Jacobian; with each task's gradient on the
    shared representation it is the Jacobian on the trunk, skipping the heads' T-fold backward.
    """
    params = list(params)
    t = cotangents.shape[0]
    if batched and t > 1:
        try:
            grads = torch.autograd.grad(output, params, grad_outputs=cotangents, retain_graph=retain_graph,
                                        is_grads_batched=True, allow_unused=True)
            return _flatten_rows(grads, params, t)
        except RuntimeError:
            pass  # an operator without a batching rule: fall through to the loop
    rows = []
    for i in range(t):
        g = torch.autograd.grad(output, params, grad_outputs=cotangents[i],
                                retain_graph=retain_graph or i < t - 1, allow_unused=True)
        rows.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                               for gi, p in zip(g, params)]))
    return torch.stack(rows)


def _flatten_rows(grads: Sequence[torch.Tensor | None], params: list[torch.Tensor], t: int) -> torch.Tensor:
    parts = [(g if g is not None else torch.zeros((t, *p.shape), device=p.device, dtype=p.dtype)).reshape(t, -1)
             for g, p in zip(grads, params)]
    return torch.cat(parts, dim=1)


def layer_blocks(params: Sequence[torch.Tensor], owner: torch.nn.Module | None = None) -> list[int]:
    """Sizes of the Jacobian's column blocks, one per layer: consecutive parameters of one module of
    `owner` (a layer's weight and bias) form one block; without a module, one block per tensor."""
    modules: dict[int, int] = {}
    if owner is not None:
        for module in owner.modules():
            for p in module.parameters(recurse=False):
                modules.setdefault(id(p), id(module))
    sizes: list[int] = []
    last: int | None = None
    for p in params:
        module = modules.get(id(p))
        if sizes and module is not None and module == last:
            sizes[-1] += p.numel()
        else:
            sizes.append(p.numel())
        last = module
    return sizes


HEAD_MODES = ("weighted", "unweighted")  # what a gradient method's task heads receive (config: weighting.heads)


def head_coefficients(heads: str, weights: torch.Tensor | None, losses: torch.Tensor) -> torch.Tensor:
    """(T,) multipliers of each task's gradient on the parameters only that task uses (its head).

    Gradient methods decide the update of the shared part; a task's own parameters get c_i times
    the gradient of L_i. "weighted": c = the method's task weights, as the Nash-MTL, FairGrad and
    IMTL reference code does by backpropagating sum_i w_i L_i; "unweighted": c = 1 (each head
    follows its own loss). A method without task weights (e.g. DB-MTL, GradDrop) gives c = 1 either
    way. The trainer and `mtlcore.tracking` both ask this function, so a setting means one thing.
    """
    if heads not in HEAD_MODES:
        raise ValueError(f"heads must be one of {HEAD_MODES}, got {heads!r}")
    if heads == "unweighted" or weights is None:
        return torch.ones_like(losses).detach()
    return weights.detach().to(device=losses.device, dtype=losses.dtype)


def write_gradient(params: Sequence[torch.Tensor], direction: torch.Tensor, accumulate: bool = False) -> None:
    """Put a flat direction into the params' .grad (so any torch optimiser applies it)."""
    offset = 0
    for p in params:
        n = p.numel()
        g = direction[offset:offset + n].view_as(p).to(p.dtype)
        if accumulate and p.grad is not None:
            p.grad.add_(g)
        else:
            p.grad = g.clone()
        offset += n


def gradient_statistics(jac: torch.Tensor, direction: torch.Tensor | None = None,
                        eps: float = 1e-12) -> dict[str, object]:
    """Norms, pairwise cosines, conflict flag, and the applied direction's cosine with each row."""
    jac = jac.detach().double()
    norms = jac.norm(dim=1)
    gram = jac @ jac.T
    denom = torch.outer(norms, norms).clamp_min(eps)
    cos = (gram / denom).clamp(-1.0, 1.0)
    zero = norms <= eps
    cos[zero, :] = 0.0
    cos[:, zero] = 0.0
    cos.fill_diagonal_(1.0)
    t = jac.shape[0]
    off = cos[~torch.eye(t, dtype=torch.bool, device=cos.device)]
    out: dict[str, object] = {
        "norms": norms.tolist(),
        "cosine": cos.tolist(),
        "conflict": bool((off < 0).any()) if t > 1 else False,
    }
    if direction is not None:
        d = direction.detach().double()
        dn = d.norm()
        out["direction_cosine"] = ((jac @ d) / (norms * dn).clamp_min(eps)).clamp(-1, 1).tolist()
    return out
