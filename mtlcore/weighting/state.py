"""A method's running state as `torch.save`-able, `weights_only`-loadable values, and back.

Methods keep their state in plain attributes set by `reset()` (NumPy vectors, tensors, step counts,
a small Adam, a torch optimiser). `Weighting.state_dict` gathers every such attribute so a stopped
run resumes with the exact state, with no per-method code: tensors become state-dict entries of their
own, everything else is encoded here into tagged tuples of tensors and Python primitives, which
`torch.load(weights_only=True)` accepts (no pickled classes, so a checkpoint cannot run code).

Restoring writes into the objects `reset()` created where identity matters: a tensor an optimiser
holds (FAMO's logits) is copied in place, a torch optimiser loads its state dict, a helper object
(VectorAdam) has its fields replaced. Anything else is replaced by a fresh copy of the saved value.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch

TENSOR_KEY = ("key",)  # marks a tensor attribute saved as its own state-dict entry


def encode(value: Any) -> Any:
    """A copy of `value` made of tagged tuples, tensors and primitives (raises TypeError otherwise)."""
    if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
        return ("v", value)
    if isinstance(value, torch.Tensor):
        return ("t", value.detach().clone())
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("cannot save a NumPy array of Python objects as method state")
        return ("np", torch.from_numpy(np.ascontiguousarray(value).copy()))
    if isinstance(value, np.generic):
        return ("npg", torch.from_numpy(np.asarray(value).copy()))
    if isinstance(value, torch.device):
        return ("dev", str(value))
    if isinstance(value, torch.dtype):
        return ("dtype", str(value).removeprefix("torch."))
    if isinstance(value, torch.Generator):
        return ("gen", value.get_state())
    if isinstance(value, torch.optim.Optimizer):
        return ("optim", encode(value.state_dict()))
    if isinstance(value, deque):
        return ("deque", value.maxlen, [encode(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return ("set", [encode(v) for v in sorted(value, key=repr)])
    if isinstance(value, (list, tuple)):
        return ("list" if isinstance(value, list) else "tuple", [encode(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(encode(k), encode(v)) for k, v in value.items()])
    if hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module):
        return ("obj", type(value).__qualname__, encode(vars(value)))
    raise TypeError(f"cannot save method state of type {type(value).__name__}")


def decode(saved: Any, current: Any = None) -> Any:
    """The value `encode` saved; `current` (the attribute as `reset()` left it) is updated in place
    where other objects may hold it: optimisers, generators, helper objects, trainable tensors."""
    tag = saved[0]
    if tag == "v":
        return saved[1]
    if tag == "t":
        return restore_tensor(saved[1], current)
    if tag == "np":
        return saved[1].numpy().copy()
    if tag == "npg":
        return saved[1].numpy()[()]
    if tag == "dev":
        return torch.device(saved[1])
    if tag == "dtype":
        return getattr(torch, saved[1])
    if tag == "gen":
        generator = current if isinstance(current, torch.Generator) else torch.Generator()
        generator.set_state(saved[1])
        return generator
    if tag == "optim":
        if not isinstance(current, torch.optim.Optimizer):
            raise ValueError("saved optimiser state has no optimiser to load into")
        current.load_state_dict(decode(saved[1]))
        return current
    if tag in ("list", "tuple"):
        items = [decode(v) for v in saved[1]]
        return items if tag == "list" else tuple(items)
    if tag == "deque":
        return deque((decode(v) for v in saved[2]), maxlen=saved[1])
    if tag == "set":
        return {decode(v) for v in saved[1]}
    if tag == "dict":
        return {decode(k): decode(v) for k, v in saved[1]}
    if tag == "obj":
        if current is None or type(current).__qualname__ != saved[1]:
            raise ValueError(f"saved state of a {saved[1]} has no such object to load into "
                             f"(found {type(current).__name__})")
        fields = decode(saved[2])
        vars(current).clear()
        vars(current).update(fields)
        return current
    raise ValueError(f"unknown method-state tag {tag!r}")


def restore_tensor(saved: torch.Tensor, current: Any) -> torch.Tensor:
    """A trainable leaf of the same shape is filled in place (an optimiser points at it); anything else
    becomes a copy of the saved tensor, on the device the saved one was on."""
    if (isinstance(current, torch.Tensor) and current.requires_grad and current.is_leaf
            and current.shape == saved.shape and current.dtype == saved.dtype):
        with torch.no_grad():
            current.copy_(saved)
        current.grad = None
        return current
    return saved.detach().clone()
