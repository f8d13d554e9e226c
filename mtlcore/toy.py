"""The two-objective toy of the CAGrad (Liu et al. 2021) and Nash-MTL (Navon et al. 2022) papers.

Over x in R^2, with eps = 5e-6:
    f1 = log(max(|0.5(-x1 - 7) - tanh(-x2)|, eps)) + 6,  f2 = log(max(|0.5(-x1 + 3) + tanh(-x2) + 2|, eps)) + 6,
    g1 = ((-x1 + 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20,       g2 = ((-x1 - 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20,
    c1 = max(tanh(0.5 x2), 0), c2 = max(tanh(-0.5 x2), 0),
    L1 = imbalance * (c1 f1 + c2 g1),  L2 = c1 f2 + c2 g2.
The Nash-MTL paper scales L1 by 0.1 (imbalance = 0.1); the CAGrad paper does not (imbalance = 1).
The Pareto set is x2 = -8.3552, x1 in [-7, 7].

The gates: at x2 = 0 both c1 and c2 sit exactly at their floor 0. The reference code takes them with
torch.clamp, whose slope at its bound is 0, so at the Nash-MTL paper's start (0, 0) the gradient of
both losses vanishes and no method moves from it. Here max(u, floor) splits its slope at a tie (1/2
where u equals the floor, as torch.maximum does): at (0, 0) both gradients then point along x2 (L1
and L2 both fall as x2 decreases) and every method leaves the start downwards.
In f1 and f2, max(|u|, eps) has slope 0 at and below eps (a tie there has measure zero and never
decides a run).

Speed: the papers' runs are long (35,000 Adam steps at lr 1e-3) and the problems tiny (a 2 x 2
Jacobian per start), so per-call overhead is the whole cost. The losses and the Jacobian are in
closed form (numpy for grids, Python floats for the simulator's few points, computing only the
gated-in loss off the boundary); each method is driven through its own `aggregate_batch` (gradient
methods: one call per step for all starts, the code training runs, which for stacks this small
works on Python floats where the method has a two-task closed form) or its `combine` weights times
the Jacobian (loss methods with fixed weights, such as equal weights: one call whose weights serve
every start; the others: one instance and call per start, since their state belongs to one run);
Adam is vectorised over every point of every method.
Long runs are split over worker processes, and results are cached on disk, keyed by everything that
changes them, so a page shows a computed set instantly. Time estimates come from timing short runs
(step_cost_us), so they hold for any method on any machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import struct
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mtlcore.registry import ConfigError

log = logging.getLogger("mtl.toy")

EPS = 5e-6
PARETO_X2 = -8.3552
PARETO_X1 = (-7.0, 7.0)
PAPER_STARTS: tuple[tuple[float, float], ...] = ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0))
PAPER_STEPS = 35_000
PAPER_LR = 1e-3
NASH_IMBALANCE = 0.1  # the Nash-MTL paper's scale on L1
RECORDED = 1000  # positions kept per trajectory (plus the start), evenly spaced in steps
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
_FORMAT = 1  # bump when the toy or the simulator changes what a cached result holds

Progress = Callable[[float, str], None]


# -- the objective ------------------------------------------------------------------------------------
def _gate(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(v, 0) and its slope in v: 1 above 0, 0 below, 1/2 at a tie (see the module docstring)."""
    return np.maximum(v, 0.0), (v > 0) + 0.5 * (v == 0)


def _as_points(points: Any) -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    if x.shape[-1:] != (2,):
        raise ConfigError(f"toy points must have 2 coordinates (x1, x2) in the last axis, got shape {x.shape}")
    return x


FEW_POINTS = 32  # up to this many points, Python floats beat numpy's per-operation overhead (measured 2x)
_LOG_EPS = math.log(EPS) + 6.0
_tanh, _log = math.tanh, math.log
_FINITE = 1e150  # below this every term of a loss is finite (the squares in g stay below 1e301)


def _point(x1: float, x2: float, imbalance: float) -> tuple[float, ...]:
    """L1, L2, dL1/dx1, dL1/dx2, dL2/dx1, dL2/dx2 at one point: the same formulas on floats.

    Off the boundary one gate is 0 and its loss does not count: below it (x2 < 0, where the Pareto
    set lies and most of every run is spent) only g is computed, above it only f. While every term
    is finite (|x1|, |x2| < _FINITE) the skipped terms are exact zeros (0 times a finite number), so
    the results are bit for bit those of the full expression, which the tie x2 = 0 and the rest take.
    """
    v = _tanh(0.5 * x2)
    dv = 0.5 - 0.5 * v * v
    if v != 0 and -_FINITE < x1 < _FINITE and -_FINITE < x2 < _FINITE:
        if v < 0:  # c1 = 0, c2 = -v, e1 = 0, e2 = 1
            c2 = -v
            d1, d2 = x1 - 7.0, x1 + 7.0
            shift = x2 + 8.0
            q = 0.01 * shift * shift - 20.0
            g1, g2 = 0.1 * d1 * d1 + q, 0.1 * d2 * d2 + q
            dq = c2 * (0.02 * shift)
            return (imbalance * (c2 * g1), c2 * g2, imbalance * (0.2 * c2 * d1), imbalance * (dq - dv * g1),
                    0.2 * c2 * d2, dq - dv * g2)
        t = _tanh(-x2)  # c1 = v, c2 = 0, e1 = 1, e2 = 0
        dt = t * t - 1.0
        u1 = -0.5 * x1 - 3.5 - t
        u2 = -0.5 * x1 + 3.5 + t
        f1, k1 = (_log(abs(u1)) + 6.0, 1.0 / u1) if abs(u1) > EPS else (_LOG_EPS, 0.0)
        f2, k2 = (_log(abs(u2)) + 6.0, 1.0 / u2) if abs(u2) > EPS else (_LOG_EPS, 0.0)
        return (imbalance * (v * f1), v * f2, imbalance * (-0.5 * v * k1), imbalance * (-v * dt * k1 + dv * f1),
                -0.5 * v * k2, v * dt * k2 + dv * f2)
    t = _tanh(-x2)
    dt = t * t - 1.0
    u1 = -0.5 * x1 - 3.5 - t
    u2 = -0.5 * x1 + 3.5 + t
    f1, k1 = (_log(abs(u1)) + 6.0, 1.0 / u1) if abs(u1) > EPS else (_LOG_EPS, 0.0)
    f2, k2 = (_log(abs(u2)) + 6.0, 1.0 / u2) if abs(u2) > EPS else (_LOG_EPS, 0.0)
    d1, d2 = x1 - 7.0, x1 + 7.0
    shift = x2 + 8.0
    q = 0.01 * shift * shift - 20.0
    g1, g2 = 0.1 * d1 * d1 + q, 0.1 * d2 * d2 + q
    if v > 0:
        c1, c2, e1, e2 = v, 0.0, 1.0, 0.0
    elif v < 0:
        c1, c2, e1, e2 = 0.0, -v, 0.0, 1.0
    else:  # the tie at x2 = 0: each gate takes half the slope
        c1, c2, e1, e2 = 0.0, 0.0, 0.5, 0.5
    dq = 0.02 * shift
    return (imbalance * (c1 * f1 + c2 * g1), c1 * f2 + c2 * g2,
            imbalance * (-0.5 * c1 * k1 + 0.2 * c2 * d1),
            imbalance * (-c1 * dt * k1 + e1 * dv * f1 + c2 * dq - e2 * dv * g1),
            -0.5 * c1 * k2 + 0.2 * c2 * d2,
            c1 * dt * k2 + e1 * dv * f2 + c2 * dq - e2 * dv * g2)


def _pointwise(x: np.ndarray, imbalance: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) -> losses (N, 2), Jacobians (N, 2, 2), point by point on floats.

    The simulator always uses this path, so a trajectory's arithmetic does not depend on how many
    other points are computed with it (results are the same inline or split over workers).
    """
    flat: list[float] = []
    extend = flat.extend  # one flat list converts to an array faster than a list of tuples
    for x1, x2 in x.tolist():
        extend(_point(x1, x2, imbalance))
    out = np.array(flat, dtype=np.float64).reshape(-1, 6)
    return out[:, :2], out[:, 2:].reshape(-1, 2, 2)


_U_SHIFT = np.array([-3.5, 3.5])  # u_i = -0.5 x1 + shift_i + sign_i tanh(-x2)
_U_SIGN = np.array([-1.0, 1.0])
_G_CENTRE = np.array([-7.0, 7.0])  # g_i has its x1 term in (x1 + centre_i)


def toy_losses_and_jacobian(points: Any, imbalance: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Losses (..., 2) and Jacobian (..., 2, 2) (row i = gradient of L_i in x1, x2) at every point.

    Closed form and float64: autograd on 2-element tensors would cost more than the whole step. The
    simulator calls this every step, so both tasks are computed at once in (points, task) arrays
    (f1 and f2, g1 and g2 share their arithmetic), which halves the number of array operations.
    """
    x = _as_points(points)
    shape = x.shape
    x = x.reshape(-1, 2)
    if x.shape[0] <= FEW_POINTS:
        losses, jac = _pointwise(x, imbalance)
        return losses.reshape(shape), jac.reshape(shape[:-1] + (2, 2))
    x1, x2 = x[:, :1], x[:, 1:]  # (N, 1) columns broadcast against the (N, 2) task arrays
    t = np.tanh(-x2)
    dt = t * t - 1.0  # d tanh(-x2) / dx2
    u = (-0.5 * x1 + _U_SHIFT) + _U_SIGN * t  # 0.5(-x1 - 7) - tanh(-x2), 0.5(-x1 + 3) + tanh(-x2) + 2
    a = np.abs(u)
    above = a > EPS
    f = np.log(np.maximum(a, EPS)) + 6.0
    k = np.divide(above, u, out=np.zeros_like(u), where=above)  # d f_i / d u_i; zero where the floor holds
    d1 = x1 + _G_CENTRE  # x1 - 7, x1 + 7
    g = 0.1 * d1 * d1 + (0.01 * (x2 + 8.0) ** 2 - 20.0)  # ((-x1 -+ 7)^2 + 0.1 (-x2 - 8)^2) / 10 - 20

    v = np.tanh(0.5 * x2)
    dv = 0.5 - 0.5 * v * v
    c1, e1 = _gate(v)
    c2, e2 = _gate(-v)
    scale = np.array([imbalance, 1.0])

    losses = (c1 * f + c2 * g) * scale
    jac = np.empty((x.shape[0], 2, 2))
    jac[:, :, 0] = (c1 * -0.5 * k + c2 * 0.2 * d1) * scale  # d u_i / dx1 = -0.5; d g_i / dx1 = 0.2 (x1 -+ 7)
    jac[:, :, 1] = ((c1 * dt) * _U_SIGN * k + (e1 * dv) * f + c2 * (0.02 * (x2 + 8.0)) - (e2 * dv) * g) * scale
    return losses.reshape(shape), jac.reshape(shape[:-1] + (2, 2))


def toy_losses(points: Any, imbalance: float = 1.0) -> np.ndarray:
    """(L1, L2) at every point: (..., 2) -> (..., 2)."""
    return toy_losses_and_jacobian(points, imbalance)[0]


def parse_points(text: str) -> list[tuple[float, float]]:
    """'1, 2; -3 4' -> [(1, 2), (-3, 4)]: points separated by ';' or new lines, coordinates by ',' or spaces."""
    out = []
    for chunk in text.replace("\n", ";").split(";"):
        words = chunk.replace(",", " ").split()
        if not words:
            continue
        try:
            numbers = [float(w) for w in words]
        except ValueError:
            numbers = []
        if len(numbers) != 2:
            raise ConfigError(f"'{chunk.strip()}' is not a point: type two numbers x1, x2 (points separated by ';')")
        out.append((numbers[0], numbers[1]))
    return out


def pareto_distance(points: Any) -> np.ndarray:
    """Euclidean distance from each point to the Pareto set {x2 = PARETO_X2, x1 in [-7, 7]}."""
    x = _as_points(points)
    lo, hi = PARETO_X1
    dx = np.maximum(np.maximum(lo - x[..., 0], x[..., 0] - hi), 0.0)
    return np.hypot(dx, x[..., 1] - PARETO_X2)


REACHED = 0.1  # a final point this close to the Pareto set counts as having reached it


def start_label(point: Sequence[float]) -> str:
    """'(x1, x2)' as pages and tables name a start."""
    return f"({point[0]:g}, {point[1]:g})"


def reach_table(runs: Sequence["Trajectories"], reached: float = REACHED,
                mark: Callable[[float, bool], str] | None = None) -> Any:
    """Methods x starts: each final point's distance to the Pareto set, and how many starts reached it.

    `mark(distance, reached)` formats a cell (default: the number); the last column says "k of n".
    """
    import pandas as pd

    labels = [start_label(p) for p in runs[0].starts]
    cell = mark or (lambda d, ok: d)
    table = pd.DataFrame({r.method: [cell(float(d), bool(d < reached)) for d in r.distances()] for r in runs},
                         index=labels).T
    table["reached"] = [f"{int((r.distances() < reached).sum())} of {len(labels)}" for r in runs]
    return table


def pareto_front(n: int = 200, imbalance: float = 1.0) -> np.ndarray:
    """(n, 2) loss pairs (L1, L2) along the Pareto set, for the loss-space plot."""
    x1 = np.linspace(PARETO_X1[0], PARETO_X1[1], n)
    return toy_losses(np.stack([x1, np.full(n, PARETO_X2)], axis=1), imbalance)


def loss_grid(x1: np.ndarray, x2: np.ndarray, imbalance: float = 1.0) -> np.ndarray:
    """(len(x2), len(x1), 2) losses on a grid, for contour plots (rows follow x2)."""
    xx, yy = np.meshgrid(np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64))
    return toy_losses(np.stack([xx, yy], axis=-1), imbalance)


# -- runs -----------------------------------------------------------------------------------------------
@dataclass
class Trajectories:
    """One method's runs from every start: positions and losses at evenly spaced recorded steps."""

    method: str
    params: dict[str, Any]
    starts: np.ndarray  # (S, 2)
    steps: np.ndarray  # (K,) the step each record was taken at; 0 is the start, the last is total_steps
    points: np.ndarray  # (S, K, 2)
    losses: np.ndarray  # (S, K, 2)
    weights: np.ndarray  # (S, K, 2): the task weights the method applied at that position (NaN where none)
    total_steps: int
    lr: float
    imbalance: float
    seed: int
    seconds: float  # compute time of the run (when it came from the cache: the original run's)
    cached: bool = False

    @property
    def final_points(self) -> np.ndarray:
        return self.points[:, -1]

    def distances(self) -> np.ndarray:
        """(S,) distance of each final point to the Pareto set."""
        return pareto_distance(self.final_points)

    def at_step(self, step: int) -> int:
        """Index of the last record at or before `step` (for a step slider)."""
        return int(max(np.searchsorted(self.steps, step, side="right") - 1, 0))


@dataclass
class _Spec:
    method: str
    params: dict[str, Any] = field(default_factory=dict)


def _validated_inputs(starts: Any, steps: int, lr: float, imbalance: float) -> np.ndarray:
    s = _as_points(starts)
    if s.ndim != 2 or s.shape[0] < 1:
        raise ConfigError("give at least one start point (x1, x2)")
    if not np.isfinite(s).all():
        raise ConfigError("start points must be finite numbers")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"steps must be a whole number >= 1, got {steps!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ConfigError(f"the learning rate must be a number > 0, got {lr!r}")
    if not (np.isfinite(imbalance) and imbalance > 0):
        raise ConfigError(f"the imbalance factor on L1 must be a number > 0, got {imbalance!r}")
    return s


def _fixed_loss_weights(method: Any) -> bool:
    """Whether a loss method's `combine` weights depend neither on the losses nor on the step in the toy.

    Equal and static weights never change; DWA averaging over epochs changes them only at an epoch's
    end, which the toy (no epochs) never reaches, so its weights stay at 1. Exact classes only: a
    subclass may override `combine`.
    """
    from mtlcore.weighting.dwa import DynamicWeightAverage
    from mtlcore.weighting.ew import EqualWeighting
    from mtlcore.weighting.static import StaticWeighting

    kind = type(method)
    return not method.parameters() and (kind in (EqualWeighting, StaticWeighting) or (
        kind is DynamicWeightAverage and int(method.hp["window"]) == 0))


def toy_caveat(method: MethodSpec) -> str | None:
    """What a method does differently in the toy than in training, for the page to say; None if nothing.

    The toy is one deterministic objective with no passes over data, so nothing ever ends an epoch:
    a loss method whose weights change only at epoch ends (it overrides `end_of_epoch` and counts as
    fixed here, e.g. DWA averaging over epochs) keeps its starting weights for the whole run.
    """
    from mtlcore.weighting import LossWeighting, create, method_class

    spec = _spec(method)
    cls = method_class(spec.method)
    if (issubclass(cls, LossWeighting) and cls.end_of_epoch is not LossWeighting.end_of_epoch
            and _fixed_loss_weights(create(spec.method, 2, **spec.params))):
        return ("updates its weights at the end of each epoch, and the toy (one objective, no passes over "
                "data) has no epochs, so here it keeps its starting weights; a setting that adapts within "
                "an epoch, where the method has one, makes it move")
    return None


class _Driver:
    """Turns (losses, Jacobian) of one method's S starts into S update directions and weights.

    Gradient methods whose rows are independent take one `aggregate_batch` call for all S starts;
    loss methods with fixed weights (`_fixed_loss_weights`) take one `combine` call, whose weights
    serve every start (what S calls would return), checked again by a fresh call at every recorded
    step. Other methods keep one instance per start, since their state belongs to one run.
    """

    def __init__(self, spec: _Spec, n_starts: int, seed: int, lr: float) -> None:
        from mtlcore.config import OptimConfig
        from mtlcore.trainer import make_optimizer
        from mtlcore.weighting import GradientWeighting, create, method_class

        cls = method_class(spec.method)
        self.name = spec.method
        self.gradient = issubclass(cls, GradientWeighting)
        self.batched = self.gradient and bool(getattr(cls, "independent_rows", False))
        first = create(spec.method, 2, **spec.params)
        self.fixed = not self.gradient and _fixed_loss_weights(first)
        count = 1 if (self.batched or self.fixed) else n_starts
        self.methods = [first] + [create(spec.method, 2, **spec.params) for _ in range(count - 1)]
        for i, m in enumerate(self.methods):
            m.set_generator(torch.Generator().manual_seed(seed + 7919 * i))
        # learned loss weights (UW) train with the point, with the optimiser training builds: one Adam
        # over every start's instance (Adam is per parameter, so this is S optimisers in one call)
        learned = [p for m in self.methods for p in m.parameters()]
        self.optimizer = make_optimizer(OptimConfig(optimizer="adam", lr=lr), learned) if learned else None
        self.after = any(getattr(m, "wants_losses_after_step", False) for m in self.methods)
        self._tiled: np.ndarray | None = None  # fixed loss weights, one row per start

    def __call__(self, jac: np.ndarray, losses: np.ndarray,
                 record: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """jac (S, 2, 2), losses (S, 2) -> directions (S, 2), weights (S, 2) or None.

        `record`: the simulator keeps this step. Only then are a batched method's weights converted
        (None otherwise), and fixed loss weights asked of the method again: a change is an error
        (the method must then leave _fixed_loss_weights).
        """
        if self.batched:
            agg = self.methods[0].aggregate_batch(torch.from_numpy(jac), torch.from_numpy(losses))
            return agg.direction.numpy(), None if agg.weights is None or not record else agg.weights.numpy()
        if self.fixed:
            if self._tiled is None or record:
                _, w = self.methods[0].combine(torch.from_numpy(losses[0]))
                row = w.detach().double().numpy()
                if self._tiled is None:
                    self._tiled = np.tile(row, (losses.shape[0], 1))
                elif not np.array_equal(row, self._tiled[0]):
                    raise RuntimeError(f"the loss weights of '{self.name}' changed during a toy run "
                                       f"({self._tiled[0]} -> {row}); it must not count as fixed")
            return np.einsum("bt,btn->bn", self._tiled, jac), self._tiled
        weights = np.full(losses.shape, np.nan)
        if self.gradient:  # a stateful method: one instance per start, one step each
            directions = np.empty(losses.shape)
            for b, m in enumerate(self.methods):
                agg = m.aggregate(torch.from_numpy(jac[b]), torch.from_numpy(losses[b]))
                directions[b] = agg.direction.numpy()
                if agg.weights is not None:
                    weights[b] = agg.weights.numpy()
            return directions, weights
        if self.optimizer is None:
            for b, m in enumerate(self.methods):
                weights[b] = m.combine(torch.from_numpy(losses[b]))[1].detach().double().numpy()
        else:  # one backward through the sum of the starts' totals: each instance gets its own gradient
            with torch.enable_grad():
                combined = [m.combine(torch.from_numpy(losses[b])) for b, m in enumerate(self.methods)]
                self.optimizer.zero_grad(set_to_none=True)
                torch.stack([total for total, _ in combined]).sum().backward()
            self.optimizer.step()
            for b, (_, w) in enumerate(combined):
                weights[b] = w.detach().double().numpy()
        return np.einsum("bt,btn->bn", weights, jac), weights

    def after_step(self, before: np.ndarray, after: np.ndarray) -> None:
        for b, m in enumerate(self.methods):
            if getattr(m, "wants_losses_after_step", False):
                m.after_step(torch.from_numpy(before[b]), torch.from_numpy(after[b]))


def _simulate_joint(specs: Sequence[_Spec], starts: np.ndarray, steps: int, lr: float, imbalance: float,
                    seed: int, progress: Progress | None, records: int = RECORDED) -> list[Trajectories]:
    """Every method's starts advance together: one closed-form evaluation and one Adam update per step.

    `records`: positions kept besides the start, evenly spaced in steps."""
    began = time.perf_counter()
    n_starts, n_methods = starts.shape[0], len(specs)
    drivers = [_Driver(spec, n_starts, seed, lr) for spec in specs]
    x = np.tile(starts, (n_methods, 1))
    m1 = np.zeros_like(x)
    m2 = np.zeros_like(x)
    b1, b2 = ADAM_BETAS
    record_at = np.unique(np.linspace(0, steps, min(records, steps) + 1).round().astype(np.int64))
    is_record = np.zeros(steps + 1, dtype=bool)
    is_record[record_at] = True
    n_rec = record_at.shape[0]
    points = np.empty((n_rec, x.shape[0], 2))
    losses_rec = np.empty((n_rec, x.shape[0], 2))
    weights_rec = np.full((n_rec, x.shape[0], 2), np.nan)
    direction = np.empty_like(x)
    slices = [slice(i * n_starts, (i + 1) * n_starts) for i in range(n_methods)]
    wants_after = any(d.after for d in drivers)
    report_every = max(steps // 100, 1)
    rec = 0
    with torch.no_grad():
        for k in range(steps + 1):
            losses, jac = _pointwise(x, imbalance)
            record = is_record[k]
            for drive, sl in zip(drivers, slices):
                d, w = drive(jac[sl], losses[sl], record)
                direction[sl] = d
                if record:
                    weights_rec[rec, sl] = np.nan if w is None else w
            if record:
                points[rec], losses_rec[rec] = x, losses
                rec += 1
            if k == steps:
                break
            # Adam, as torch.optim.Adam with its defaults; a non-finite direction stops its point for good
            if not np.isfinite(direction).all():
                broken = ~np.isfinite(direction).all(axis=1)
                direction[broken] = 0.0
                m1[broken] = 0.0
                m2[broken] = 0.0
            t = k + 1
            m1 *= b1
            m1 += (1.0 - b1) * direction
            m2 *= b2
            m2 += (1.0 - b2) * direction * direction
            denom = np.sqrt(m2)
            denom *= 1.0 / math.sqrt(1.0 - b2 ** t)
            denom += ADAM_EPS
            x -= (lr / (1.0 - b1 ** t)) * m1 / denom
            if wants_after:
                after = _pointwise(x, imbalance)[0]
                for drive, sl in zip(drivers, slices):
                    if drive.after:
                        drive.after_step(losses[sl], after[sl])
            if progress is not None and t % report_every == 0:
                progress(t / steps, f"step {t:,} of {steps:,}")
    seconds = time.perf_counter() - began
    out = []
    for spec, sl in zip(specs, slices):
        out.append(Trajectories(
            method=spec.method, params=dict(spec.params), starts=starts.copy(), steps=record_at,
            points=points[:, sl].transpose(1, 0, 2).copy(), losses=losses_rec[:, sl].transpose(1, 0, 2).copy(),
            weights=weights_rec[:, sl].transpose(1, 0, 2).copy(), total_steps=steps, lr=float(lr),
            imbalance=float(imbalance), seed=seed, seconds=seconds))
    return out


# -- cache ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the toy and every weighting module: a changed method invalidates its cached runs."""
    here = Path(__file__).resolve().parent
    files = [Path(__file__).resolve(), *sorted((here / "weighting").glob("*.py"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(spec: _Spec, starts: np.ndarray, steps: int, lr: float, imbalance: float, seed: int) -> Path:
    from mtlcore.data.base import cache_dir
    from mtlcore.weighting import method_class
    from mtlcore.registry import resolve_params

    cls = method_class(spec.method)
    resolved = resolve_params(cls.params, spec.params, f"weighting method '{spec.method}'")
    key = json.dumps({"format": _FORMAT, "code": _code_version(), "method": spec.method, "params": resolved,
                      "starts": [[float.hex(float(v)) for v in p] for p in starts], "steps": int(steps),
                      "lr": float.hex(float(lr)), "imbalance": float.hex(float(imbalance)), "seed": int(seed)},
                     sort_keys=True, default=str)
    folder = cache_dir() / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{spec.method}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _save(path: Path, run: Trajectories) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, steps=run.steps, points=run.points, losses=run.losses, weights=run.weights,
             meta=np.array(json.dumps({"seconds": run.seconds, "params": run.params}, default=str)))
    os.replace(tmp, path)


def _load(path: Path, spec: _Spec, starts: np.ndarray, steps: int, lr: float, imbalance: float,
          seed: int) -> Trajectories | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return Trajectories(
                method=spec.method, params=dict(spec.params), starts=starts.copy(), steps=data["steps"],
                points=data["points"], losses=data["losses"], weights=data["weights"], total_steps=steps,
                lr=float(lr), imbalance=float(imbalance), seed=seed, seconds=float(meta["seconds"]), cached=True)
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)  # unreadable: computed again
        return None


# -- worker processes -------------------------------------------------------------------------------------
# A step costs tens of microseconds per method, all of it Python overhead, so one process is bound by
# one core. Methods are independent, so they are split into groups (balanced by a measured cost per
# step) that run in persistent worker processes; results are identical whatever the split, because
# every point's arithmetic is done point by point (see _pointwise). Workers come from a forkserver
# that imports the core once, so after the first use (or warm_up) a run starts at once.

PROBE_STEPS = (10, 60)  # a cost probe's two run lengths (see step_cost_us)
PARALLEL_ABOVE_S = 3.0  # runs estimated shorter than this stay in the calling process

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _init_worker() -> None:
    torch.set_num_threads(1)  # 2 x 2 problems: a second thread only adds hand-off


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mtlcore.toy", "mtlcore.weighting"])
        return ctx
    return multiprocessing.get_context("spawn")


def worker_pool(workers: int = 2) -> ProcessPoolExecutor:
    """The shared pool of `workers` processes (made on first use, remade when broken or resized)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers or getattr(_pool, "_broken", False):
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker)
            _pool_size = workers
        return _pool


def _ping() -> int:
    return os.getpid()


def worker_limit() -> int:
    """Worker processes a run may use: MTL_TOY_WORKERS (default 2), at most the CPU count."""
    raw = os.environ.get("MTL_TOY_WORKERS", "2")
    try:
        wanted = int(raw)
    except ValueError:
        raise ConfigError(f"MTL_TOY_WORKERS must be a whole number, got {raw!r}") from None
    return max(min(wanted, os.cpu_count() or 1), 1)


def warm_up() -> None:
    """Start the worker processes now, without waiting (their imports take a few seconds, once)."""
    workers = worker_limit()
    if workers < 2:
        return
    pool = worker_pool(workers)
    for _ in range(workers):
        pool.submit(_ping)


def _key(spec: _Spec) -> tuple[str, str]:
    return spec.method, json.dumps(spec.params, sort_keys=True, default=str)


@lru_cache(maxsize=512)
def _probe_us(keys: tuple[tuple[str, str], ...], n_starts: int) -> float:
    specs = [_Spec(name, json.loads(params)) for name, params in keys]
    starts = np.resize(np.asarray(PAPER_STARTS), (n_starts, 2))
    _simulate_joint(specs, starts, 2, PAPER_LR, 1.0, 0, None, records=2)  # first calls out of the timing
    seconds = []
    for steps in PROBE_STEPS:
        began = time.perf_counter()
        _simulate_joint(specs, starts, steps, PAPER_LR, 1.0, 0, None, records=2)
        seconds.append(time.perf_counter() - began)
    return max((seconds[1] - seconds[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0]) * 1e6, 1.0)


def step_cost_us(specs: Sequence[_Spec], n_starts: int) -> float:
    """Microseconds per step of these methods stepped together in one process from n_starts starts.

    Measured, not modelled: the difference of two short runs' times (setup and recording cancel),
    on this machine with this code, so a method that keeps one instance per start and runs autograd
    on two numbers (UW: milliseconds a step) is estimated as slow as it is, and a new method needs
    no entry anywhere. Probed once per set of methods and kept for the process's life.
    """
    return _probe_us(tuple(_key(s) for s in specs), n_starts)


def _groups(costs: Sequence[float], n_groups: int) -> list[list[int]]:
    """Indices split into at most n_groups non-empty groups of balanced cost (largest first, to the lightest)."""
    loads = [0.0] * n_groups
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        g = loads.index(min(loads))
        groups[g].append(i)
        loads[g] += costs[i]
    return [sorted(g) for g in groups if g]


def _run_group(specs: list[_Spec], starts: np.ndarray, steps: int, lr: float, imbalance: float, seed: int,
               progress_path: str) -> list[Trajectories]:
    """Worker entry: one group's joint run, its progress written as one float64 at the file's start."""
    fd = os.open(progress_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        def report(fraction: float, message: str) -> None:
            os.pwrite(fd, struct.pack("d", fraction), 0)

        return _simulate_joint(specs, starts, steps, lr, imbalance, seed, report)
    finally:
        os.close(fd)


def _read_fraction(path: str) -> float:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
        return struct.unpack("d", raw)[0] if len(raw) == 8 else 0.0
    except OSError:
        return 0.0


def _simulate_parallel(specs: list[_Spec], starts: np.ndarray, steps: int, lr: float, imbalance: float,
                       seed: int, progress: Progress | None, workers: int) -> list[Trajectories]:
    costs = [step_cost_us([spec], starts.shape[0]) for spec in specs]
    groups = _groups(costs, workers)
    loads = [sum(costs[i] for i in g) for g in groups]
    pool = worker_pool(workers)
    with tempfile.TemporaryDirectory(prefix="mtl-toy-") as folder:
        paths = [os.path.join(folder, f"group{j}") for j in range(len(groups))]
        futures = [pool.submit(_run_group, [specs[i] for i in g], starts, steps, lr, imbalance, seed, path)
                   for g, path in zip(groups, paths)]
        while True:
            done, pending = wait(futures, timeout=0.1)
            if progress is not None:
                share = sum(load * (1.0 if f in done else _read_fraction(path))
                            for load, f, path in zip(loads, futures, paths)) / sum(loads)
                progress(min(share, 1.0), f"{len(groups)} worker processes, "
                                          f"{len(done)} of {len(groups)} done")
            if not pending:
                break
        results: list[Trajectories | None] = [None] * len(specs)
        for g, f in zip(groups, futures):
            try:
                runs = f.result()
            except BrokenProcessPool:  # e.g. a __main__ that starts work on import: compute here instead
                log.warning("toy worker processes failed; computing %d method(s) in this process", len(g))
                runs = _simulate_joint([specs[i] for i in g], starts, steps, lr, imbalance, seed, None)
            for i, run in zip(g, runs):
                results[i] = run
    return [r for r in results if r is not None]


# -- the public entry -------------------------------------------------------------------------------------
MethodSpec = str | tuple[str, dict[str, Any]]


def _spec(m: MethodSpec) -> _Spec:
    from mtlcore.weighting import WEIGHTINGS

    name, params = (m, {}) if isinstance(m, str) else (m[0], dict(m[1]))
    WEIGHTINGS.get(name)  # a ConfigError naming the available methods when unknown
    return _Spec(name, params)


def simulate(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
             lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0, progress: Progress | None = None,
             use_cache: bool = True, workers: int | None = None) -> list[Trajectories]:
    """Run each method (a name, or (name, params)) from every start with Adam; one result per method.

    Cached runs load instantly; the others are computed together, `progress(fraction, message)`
    being called about a hundred times. `workers`: processes to split the methods over; None picks
    up to MTL_TOY_WORKERS (default 2) on a multi-core machine when the run is estimated above
    PARALLEL_ABOVE_S, else 1 (in this process). Results are deterministic for a seed and do not
    depend on `workers`.
    """
    s = _validated_inputs(starts, steps, lr, imbalance)
    specs = [_spec(m) for m in methods]
    paths = [_cache_path(spec, s, steps, lr, imbalance, seed) if use_cache else None for spec in specs]
    results: list[Trajectories | None] = [
        _load(path, spec, s, steps, lr, imbalance, seed) if path is not None and path.exists() else None
        for spec, path in zip(specs, paths)]
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        todo_specs = [specs[i] for i in todo]
        n = _worker_count(todo_specs, s.shape[0], steps, workers)
        if n > 1:
            fresh = _simulate_parallel(todo_specs, s, steps, lr, imbalance, seed, progress, n)
        else:
            fresh = _simulate_joint(todo_specs, s, steps, lr, imbalance, seed, progress)
        for i, run in zip(todo, fresh):
            results[i] = run
            path = paths[i]
            if path is not None:
                _save(path, run)
    if progress is not None:
        progress(1.0, "done")
    return [r for r in results if r is not None]


def cached_runs(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
                lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0) -> list[Trajectories] | None:
    """Every method's result from the disk cache, or None when any of them has not been computed."""
    s = _validated_inputs(starts, steps, lr, imbalance)
    out = []
    for spec in (_spec(m) for m in methods):
        path = _cache_path(spec, s, steps, lr, imbalance, seed)
        run = _load(path, spec, s, steps, lr, imbalance, seed) if path.exists() else None
        if run is None:
            return None
        out.append(run)
    return out


def estimated_seconds(methods: Sequence[MethodSpec], n_starts: int, steps: int) -> float:
    """Single-process compute time of a run, from a measured probe (step_cost_us; for the page's expectations)."""
    return steps * step_cost_us([_spec(m) for m in methods], n_starts) * 1e-6


def _worker_count(specs: Sequence[_Spec], n_starts: int, steps: int, workers: int | None) -> int:
    if workers is not None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
        return min(workers, len(specs))
    limit = min(worker_limit(), len(specs))
    if limit < 2:
        return 1
    estimate = estimated_seconds([(sp.method, sp.params) for sp in specs], n_starts, steps)
    return limit if estimate > PARALLEL_ABOVE_S else 1


# -- the gradient-conflict plane --------------------------------------------------------------------------
@dataclass
class PlaneDirection:
    """One method's answer to a few task gradients in the plane."""

    method: str
    direction: np.ndarray  # (2,)
    weights: np.ndarray | None  # (T,) where the method defines them
    cosines: np.ndarray  # (T,) cosine of the direction with each gradient (0 when either is zero)

    @property
    def conflicts(self) -> list[int]:
        """Tasks (0-based) whose gradient the direction opposes."""
        return [i for i, c in enumerate(self.cosines) if c < -1e-9]


def combine_in_plane(method: str, gradients: Any, params: dict[str, Any] | None = None,
                     seed: int = 0) -> PlaneDirection:
    """The direction a fresh instance of `method` takes for these (T, 2) gradients, as in training.

    Gradient methods get `aggregate(J, losses)`, loss methods `combine(losses)` weights times J; the
    losses are all 1 (the plane has no losses), which is what loss-reading methods then see.
    """
    from mtlcore.weighting import GradientWeighting, create

    g = np.asarray(gradients, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 2 or g.shape[0] < 1:
        raise ConfigError(f"expected (tasks, 2) gradients, got shape {g.shape}")
    m = create(method, g.shape[0], **(params or {}))
    m.set_generator(torch.Generator().manual_seed(seed))
    jac = torch.from_numpy(g.copy())
    losses = torch.ones(g.shape[0], dtype=torch.float64)
    if isinstance(m, GradientWeighting):
        agg = m.aggregate(jac, losses)
        direction = agg.direction.double().numpy()
        weights = None if agg.weights is None else agg.weights.double().numpy()
    else:
        _, w = m.combine(losses)
        weights = w.detach().double().numpy()
        direction = weights @ g
    size = float(np.hypot(direction[0], direction[1]))
    if size <= 1e-12 * float(np.hypot(g[:, 0], g[:, 1]).max()):
        size = 0.0  # roundoff of a zero direction (Pareto-stationary gradients): it moves nothing
    norms = np.hypot(g[:, 0], g[:, 1]) * size
    cosines = np.divide(g @ direction, norms, out=np.zeros(g.shape[0]), where=norms > 0)
    return PlaneDirection(method, direction, weights, cosines)
