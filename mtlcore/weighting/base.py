"""Interfaces of weighting methods and the one registry that lists them.

Three base classes, one per interface:
- LossWeighting.combine(losses) -> (total loss, weights): needs only the T task losses.
- GradientWeighting.aggregate(jacobian) -> Aggregation: given the T x n per-task gradients on the
  shared parameters (or representation), returns the n-vector update direction and, where the method
  defines them, the task weights. Training calls exactly this, so what is tested is what trains.
- GramianWeighting: a GradientWeighting whose weights depend on J only through G = J J^T (and the
  losses); it implements `weights(G)` and the base does the two n-dimensional operations.

A method is a small class with class-level metadata; `@register` puts it in WEIGHTINGS once and
every page, the CLI and the guide pick it up from there.

Every method is a `torch.nn.Module`: learnable tensors are `nn.Parameter`s (UW's log-variances, which
the trainer optimises with the model), and `state_dict()` / `load_state_dict()` carry the whole running
state a resumed run needs, whatever attributes `reset()` set (see `state.py`), the state of the method's
random generator included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from mtlcore.registry import ConfigError, Entry, Param, Registry, check_per_task, resolve_params
from mtlcore.weighting.jacobian import check_jacobian, check_jacobians, combine_batch, gramians
from mtlcore.weighting.state import TENSOR_KEY, decode, encode, restore_tensor
from mtlcore.weighting.two_task import FloatRows, TwoTaskRule, row_gramians, small_two_task_stack, weighted_rows

NEEDS = ("losses", "gradients", "representation")
# the departure note of methods whose reference code backpropagates sum_i w_i L_i (config weighting.heads)
WEIGHTED_HEADS_NOTE = ("Task heads: by default each head's gradient is scaled by its task's weight, as the "
                       "reference code backpropagates sum_i w_i L_i; weighting.heads = unweighted gives the "
                       "heads their plain gradient.")


@dataclass
class Aggregation:
    direction: torch.Tensor  # (n,) update direction for the shared parameters (a descent "gradient")
    weights: torch.Tensor | None  # (T,) task weights, where the method defines them


STATE_VERSION = 1
# attributes that are configuration or torch bookkeeping, not running state
_NOT_STATE = frozenset(torch.nn.Module().__dict__) | {"n_tasks", "hp", "generator"}
_MODULE, _PARAMETER = torch.nn.Module, torch.nn.Parameter


class Weighting(torch.nn.Module):
    """Common metadata and lifecycle. Subclasses set the ClassVars and implement one interface."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    family: ClassVar[str] = ""
    needs: ClassVar[str] = "losses"
    formula: ClassVar[str] = ""  # LaTeX, for the method guide
    cost: ClassVar[str] = ""  # cost per step in words, for the method guide
    # where this implementation departs from (or deliberately matches) the paper's reference code, and
    # why; shown on the method guide, so every departure is stated where users pick the method
    departures: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    stochastic: ClassVar[bool] = False  # uses the generator given to set_generator
    # its only random draw is the order tasks are visited in, which two tasks force: with T = 2 a
    # stochastic method is then deterministic (the teaching toy reuses such runs start by start)
    random_only_in_task_order: ClassVar[bool] = False
    # parameter values under which a loss method's weights change only at epoch ends (DWA averaging
    # over epochs: {"window": 0}); None when they never do. Pages read it without building the method.
    epoch_end_only_when: ClassVar[dict[str, Any] | None] = None
    supports_representation: ClassVar[bool] = False  # gradient methods that also work on R
    # independent mini-batches a step needs (MoDo, SDMGrad: 3); the trainer draws the extra ones and
    # calls GradientWeighting.aggregate_batches instead of aggregate
    batches_per_step: ClassVar[int] = 1

    def __init__(self, n_tasks: int, **params: Any) -> None:
        if not isinstance(n_tasks, int) or n_tasks < 1:
            raise ConfigError(f"{self.name}: number of tasks must be >= 1, got {n_tasks!r}")
        super().__init__()
        self.n_tasks = n_tasks
        self.hp = resolve_params(self.params, params, f"weighting method '{self.name}'")
        check_per_task(self.params, self.hp, n_tasks, self.name)  # what catalog.check_method checks without torch
        self.generator: torch.Generator | None = None
        self.reset()

    def __setattr__(self, name: str, value: Any) -> None:
        """Plain state (counters, NumPy vectors, tensors) is set directly: `nn.Module.__setattr__` costs
        ~1-3 us here (its `isinstance(value, Parameter)` alone ~1 us), which the toy's tiny problems would
        pay a few times per step. Parameters, submodules and names torch tracks still go through torch."""
        if (name in self._parameters or name in self._modules or name in self._buffers
                or isinstance(value, _MODULE) or _PARAMETER in type(value).__mro__):
            super().__setattr__(name, value)
        else:
            object.__setattr__(self, name, value)

    def reset(self) -> None:
        """Clear state between runs (stateful methods override)."""

    def set_generator(self, generator: torch.Generator | None) -> None:
        self.generator = generator

    def parameters(self, recurse: bool = True) -> list[torch.nn.Parameter]:  # type: ignore[override]
        """Learnable tensors optimised together with the model (e.g. UW's log-variances); a list, so
        callers can test it for emptiness."""
        return list(super().parameters(recurse))

    def current_weights(self) -> list[float] | None:
        """Weights as last used, for display when no step has run yet."""
        return None

    # -- state for checkpoints ---------------------------------------------------------------------
    def running_state(self) -> dict[str, Any]:
        """The attributes that make up the method's running state (everything but configuration)."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_STATE}

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        """Parameters as usual, then every tensor attribute as an entry of its own (a snapshot)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for name, value in self.running_state().items():
            if isinstance(value, torch.Tensor):
                destination[prefix + name] = value if keep_vars else value.detach().clone()

    def get_extra_state(self) -> dict[str, Any]:
        """Non-tensor state, encoded so `torch.load(weights_only=True)` reads it back."""
        attributes = {name: TENSOR_KEY if isinstance(value, torch.Tensor) else encode(value)
                      for name, value in self.running_state().items()}
        generator = None if self.generator is None else self.generator.get_state()
        return {"version": STATE_VERSION, "method": self.name, "attributes": attributes, "generator": generator}

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.name}: unreadable method state (expected version {STATE_VERSION})")
        if state.get("method") != self.name:
            raise ValueError(f"saved state of method '{state.get('method')}' cannot load into '{self.name}'")
        saved = state["attributes"]
        for name in [n for n in self.running_state() if n not in saved]:
            delattr(self, name)  # set after the save: back to the class default
        for name, value in saved.items():
            if value != TENSOR_KEY:
                setattr(self, name, decode(value, self.__dict__.get(name)))
        if state["generator"] is not None and self.generator is not None:
            self.generator.set_state(state["generator"])

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        extra = state_dict.get(prefix + "_extra_state")
        saved = extra.get("attributes", {}) if isinstance(extra, dict) else {}
        tensors = {name: prefix + name for name, value in saved.items() if value == TENSOR_KEY}
        keys = set(tensors.values())
        rest = {k: v for k, v in state_dict.items() if k not in keys}
        super()._load_from_state_dict(rest, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        for name, key in tensors.items():
            if key in state_dict:
                setattr(self, name, restore_tensor(state_dict[key], self.__dict__.get(name)))
            elif strict:
                missing_keys.append(key)


class LossWeighting(Weighting):
    needs = "losses"

    def combine(self, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """losses: (T,) with grad. Returns the scalar to backpropagate and the (T,) weights used."""
        raise NotImplementedError

    def after_step(self, losses_before: torch.Tensor, losses_after: torch.Tensor) -> None:
        """Called after the optimiser step when `wants_losses_after_step` (FAMO)."""

    wants_losses_after_step: ClassVar[bool] = False

    def shared_max_norm(self) -> float:
        """Norm the gradient on the shared parameters is clipped to after the backward pass (FAMO's
        reference code clips it); 0 leaves it alone. The trainer and the Session apply it."""
        return 0.0

    def end_of_epoch(self, mean_losses: torch.Tensor) -> None:
        """Mean training loss per task over the epoch that just ended (DWA)."""


class GradientWeighting(Weighting):
    needs = "gradients"
    # True when aggregate_batch solves its B rows as B independent problems taken at the same step
    # (stateless methods, or state kept per row); the default loop threads one state through the rows.
    independent_rows: ClassVar[bool] = False
    # column sizes of the Jacobian's blocks, one per layer of the shared part (set_blocks); () = unknown
    blocks: tuple[int, ...] = ()

    def set_blocks(self, sizes: Sequence[int]) -> None:
        """Hand over the sizes of the shared layers, in the Jacobian's column order (the trainer and the
        Session call this before the first step). Methods that work per layer (GradVac's granularity
        'layer') read `self.blocks`; the others ignore it."""
        sizes = tuple(int(s) for s in sizes)
        if any(s < 1 for s in sizes):
            raise ConfigError(f"{self.name}: layer sizes must be positive, got {list(sizes)}")
        self.blocks = sizes

    def two_task_weights(self, rows: FloatRows) -> list[tuple[float, float]] | None:
        """The (w1, w2) of each row of a small two-task stack given as floats (`stack.tolist()`), taken
        as one step of `aggregate_batch` (state included); the direction is then w1 g1 + w2 g2. None
        when the method has no float path. `aggregate_batch` uses it for small stacks, and the teaching
        toy calls it directly with its rows (no tensor or array per step: a 2 x 2 problem costs less
        than the conversions)."""
        return None

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        """jacobian: (T, n), rows in task order. losses: (T,) detached, for methods that use them."""
        raise NotImplementedError

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        """B problems at once: jacobians (B, T, n), losses (B, T) or None -> direction (B, n), weights (B, T).

        Tiny problems (the 2-D toy: B starts x a 2 x 2 Jacobian) are dominated by per-call overhead,
        so methods with a vectorised path override this and route `aggregate` through it: training
        and batched callers then share one code path. This default calls `aggregate` row by row, so
        a stateful method sees the rows as B consecutive steps. weights is None unless every row has them.
        """
        if not isinstance(jacobians, torch.Tensor) or jacobians.dim() != 3:
            shape = tuple(jacobians.shape) if isinstance(jacobians, torch.Tensor) else type(jacobians).__name__
            raise ConfigError(f"{self.name}: expected a (batch, tasks, parameters) stack of Jacobians, got {shape}")
        if losses is not None and tuple(losses.shape) != tuple(jacobians.shape[:2]):
            raise ConfigError(f"{self.name}: losses of shape {tuple(losses.shape)} do not match Jacobians of "
                              f"shape {tuple(jacobians.shape)}; expected (batch, tasks)")
        rows = [self.aggregate(jacobians[b], None if losses is None else losses[b]) for b in range(jacobians.shape[0])]
        if not rows:
            return Aggregation(jacobians.new_zeros((0, jacobians.shape[2])), None)
        weights = None if any(r.weights is None for r in rows) else torch.stack([r.weights for r in rows])
        return Aggregation(torch.stack([r.direction for r in rows]), weights)

    def aggregate_batches(self, jacobians: list[torch.Tensor], losses: list[torch.Tensor]) -> Aggregation:
        """`batches_per_step` Jacobians (T, n) and losses (T,) of independent mini-batches, the first being
        the batch the step trains on (its losses are the ones logged). Methods with batches_per_step > 1
        override this; the default uses the first batch only."""
        return self.aggregate(jacobians[0], losses[0])

    def after_step(self, losses_before: torch.Tensor, losses_after: torch.Tensor) -> None:
        pass

    wants_losses_after_step: ClassVar[bool] = False

    def end_of_epoch(self, mean_losses: torch.Tensor) -> None:
        pass


class GramianWeighting(GradientWeighting):
    """A method whose weights depend on the Jacobian only through its Gramian (and the losses).

    Subclasses implement `weights`; the direction is then w^T J. A non-finite Gramian skips the
    solver and sums the rows, so the non-finite update surfaces where the trainer checks for it.
    """

    independent_rows = True  # stateless: the rows of a batch are independent problems

    def aggregate(self, jacobian: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobian(self.name, self.n_tasks, jacobian)
        agg = self.aggregate_batch(jacobian.unsqueeze(0), None if losses is None else losses.reshape(1, -1))
        return Aggregation(agg.direction[0], None if agg.weights is None else agg.weights[0])

    def aggregate_batch(self, jacobians: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        check_jacobians(self.name, self.n_tasks, jacobians)
        small = small_two_task_stack(jacobians) if self.n_tasks == 2 else None
        weights = None if small is None else self.two_task_weights(small.tolist())
        if small is not None and weights is not None:
            return Aggregation(*weighted_rows(small, weights))
        direction, w = combine_batch(jacobians, self.batch_weights(gramians(jacobians), jacobians, losses))
        return Aggregation(direction, w)

    def two_task_weights(self, rows: FloatRows) -> list[tuple[float, float]] | None:
        rule = self.two_task_rule() if self.n_tasks == 2 else None
        if rule is None:
            return None
        return [(1.0, 1.0) if g is None else rule(*g) for g in row_gramians(rows)]

    def two_task_rule(self) -> TwoTaskRule | None:
        """Weights of one two-task problem from its Gramian entries (|g1|^2, |g2|^2, g1 . g2) on floats,
        for methods whose weights then need nothing else (no losses, no state); None otherwise.

        Must give what `batch_weights` gives (it should call the same row function of two_task.py).
        """
        return None

    def weights(self, gram: np.ndarray, jacobian: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        raise NotImplementedError

    def batch_weights(self, grams: np.ndarray, jacobians: torch.Tensor, losses: torch.Tensor | None) -> np.ndarray:
        """(B, T) weights for (B, T, T) Gramians: `weights` row by row, ones for a non-finite Gramian.

        Methods with a vectorised solver override this (the two-task closed forms in solvers.py).
        """
        out = np.ones(grams.shape[:2])
        for b in np.flatnonzero(np.isfinite(grams).all(axis=(1, 2))):
            out[b] = self.weights(grams[b], jacobians[b], None if losses is None else losses[b])
        return out


WEIGHTINGS: Registry[type[Weighting]] = Registry("weighting method")


def register(cls: type[Weighting]) -> type[Weighting]:
    """Class decorator: the one place a method is listed."""
    if not cls.name or not cls.title or not cls.summary:
        raise ValueError(f"{cls.__name__} needs name, title and summary")
    if cls.needs not in NEEDS:
        raise ValueError(f"{cls.__name__}.needs must be one of {NEEDS}")
    kind = "loss" if issubclass(cls, LossWeighting) else "gradient"
    if cls.batches_per_step < 1 or (cls.batches_per_step > 1 and kind != "gradient"):
        raise ValueError(f"{cls.__name__}.batches_per_step must be 1, or more for a gradient method")
    WEIGHTINGS.add(Entry(
        cls.name, cls.title, cls.summary, cls, cls.params, paper=cls.paper, family=cls.family,
        extra={"needs": cls.needs, "kind": kind, "formula": cls.formula, "cost": cls.cost,
               "departures": cls.departures,
               "stochastic": cls.stochastic, "supports_representation": cls.supports_representation,
               "batches_per_step": cls.batches_per_step,
               "random_only_in_task_order": cls.random_only_in_task_order,
               "epoch_end_only_when": cls.epoch_end_only_when},
    ))
    return cls
