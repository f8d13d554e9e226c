"""The simulator: every method's starts advance together under Adam on the toy objective.

Speed: the papers' runs are long (35,000 Adam steps at lr 1e-3) and the problems tiny (a 2 x 2
Jacobian per start), so per-call overhead is the whole cost, and the simulator works on Python floats
throughout: the losses and the Jacobian in closed form point by point (objective._point, computing
only the gated-in loss off the boundary), Adam on flat lists of floats (the array version's
operations in its order, so the same IEEE results), and each method through its own code: gradient
methods with a two-task float path (`GradientWeighting.two_task_weights`, which their
`aggregate_batch` uses for small stacks) get all their starts' rows in one call per step and the toy
forms w1 g1 + w2 g2; loss methods with fixed weights (equal weights) give their weights once (checked
again by a fresh `combine` at every recorded step); every other method gets arrays through
`_Driver.arrays` (one `aggregate_batch` for all starts where rows are independent, else one instance
and call per start, since their state belongs to one run). Measured: one start of EW, MGDA, PCGrad,
CAGrad and Nash-MTL over 35,000 steps, 1.69 s in one process with arrays and tensors per step, 0.61 s so.

torch is imported only where a method is driven (its weightings are torch modules), so the page can
read results and their types without it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from mtlcore.registry import ConfigError
from mtlcore.teaching.objective import REACHED, _as_points, _point, _pointwise, pareto_distance, start_label

RECORDED = 1000  # positions kept per trajectory (plus the start), evenly spaced in steps
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

Progress = Callable[[float, str], None]

MethodSpec = str | tuple[str, dict[str, Any]]


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


def _spec(m: MethodSpec) -> _Spec:
    """A method and its given parameters, checked against the torch-free catalogue (a ConfigError
    naming the available methods when unknown)."""
    from mtlcore import catalog

    name, params = (m, {}) if isinstance(m, str) else (m[0], dict(m[1]))
    catalog.method(name)
    return _Spec(name, params)


@dataclass
class _Job:
    """One method from some of the starts; `slots` are the starts' places in the full list (each
    per-start instance is seeded by its place, so a start computed alone later draws what it would have)."""

    spec: _Spec
    starts: np.ndarray  # (S, 2)
    slots: tuple[int, ...]


def reach_table(runs: Sequence[Trajectories], reached: float = REACHED,
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


def resolved_params(spec: _Spec) -> dict[str, Any]:
    """The method's full parameters (defaults filled in, checked) from the catalogue, without building it."""
    from mtlcore import catalog
    from mtlcore.registry import resolve_params

    specs = tuple(catalog.param_spec(p) for p in catalog.method(spec.method)["params"])
    return resolve_params(specs, spec.params, f"weighting method '{spec.method}'")


def toy_caveat(method: MethodSpec) -> str | None:
    """What a method does differently in the toy than in training, for the page to say; None if nothing.

    The toy is one deterministic objective with no passes over data, so nothing ever ends an epoch:
    a loss method whose weights change only at epoch ends (the catalogue's `epoch_end_only_when`,
    e.g. DWA averaging over epochs) keeps its starting weights for the whole run. Read from metadata,
    so the page builds no method (and imports no torch).
    """
    from mtlcore import catalog

    spec = _spec(method)
    when = catalog.method(spec.method).get("epoch_end_only_when")
    if when is not None and all(resolved_params(spec).get(k) == v for k, v in when.items()):
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

    def __init__(self, spec: _Spec, slots: Sequence[int], seed: int, lr: float) -> None:
        import torch

        from mtlcore.config import OptimConfig
        from mtlcore.trainer import make_optimizer
        from mtlcore.weighting import GradientWeighting, create, method_class

        self.torch = torch  # imported with the first driver, not with the module: pages read results without it
        cls = method_class(spec.method)
        self.name = spec.method
        self.gradient = issubclass(cls, GradientWeighting)
        self.batched = self.gradient and bool(getattr(cls, "independent_rows", False))
        first = create(spec.method, 2, **spec.params)
        self.fixed = not self.gradient and _fixed_loss_weights(first)
        shared = self.batched or self.fixed  # one instance serves every start
        places = (0,) if shared else tuple(slots)
        self.methods = [first] + [create(spec.method, 2, **spec.params) for _ in range(len(places) - 1)]
        for slot, m in zip(places, self.methods):
            m.set_generator(torch.Generator().manual_seed(seed + 7919 * slot))
        # learned loss weights (UW) train with the point, with the optimiser training builds: one Adam
        # over every start's instance (Adam is per parameter, so this is S optimisers in one call)
        learned = [p for m in self.methods for p in m.parameters()]
        self.optimizer = make_optimizer(OptimConfig(optimizer="adam", lr=lr), learned) if learned else None
        self.after = any(getattr(m, "wants_losses_after_step", False) for m in self.methods)
        self._tiled: np.ndarray | None = None  # fixed loss weights, one row per start (what is recorded)
        # batched gradient methods with a float path (GradientWeighting.two_task_weights) take the rows
        # as floats; decided at the first step, since only the method can say
        self._floats: bool | None = None if self.batched else False

    def __call__(self, pts: list[tuple[float, ...]], record: bool) -> tuple[list[float], Any]:
        """One step of this method's points: `pts` are objective._point's tuples (L1, L2, then the
        Jacobian's rows); returns the directions flat (x1, x2 per point) and the weights, (S, 2) or
        None (batched methods off record steps, methods without weights).

        On floats where the method allows it (see _Driver.__init__ and the fixed loss weights), the
        weighted sum w1 g1 + w2 g2 included; otherwise through `arrays`, the methods' array code.
        """
        if self._floats is not False:
            weights = self.methods[0].two_task_weights([((p[2], p[3]), (p[4], p[5])) for p in pts])
            self._floats = weights is not None
            if weights is not None:
                return _weighted_directions(pts, weights), (weights if record else None)
        if self.fixed:
            tiled = self._fixed_weights(pts, record)
            row = (float(tiled[0, 0]), float(tiled[0, 1]))
            return _weighted_directions(pts, [row] * len(pts)), tiled
        out = np.array(pts, dtype=np.float64)
        directions, weights = self.arrays(out[:, 2:].reshape(-1, 2, 2), out[:, :2], record)
        return directions.ravel().tolist(), weights

    def _fixed_weights(self, pts: list[tuple[float, ...]], record: bool) -> np.ndarray:
        """A fixed-weight loss method's weights, one row per start: asked of the method at the first
        step and again at every recorded one (a change is an error: it must then not count as fixed)."""
        if self._tiled is None or record:
            torch = self.torch
            _, w = self.methods[0].combine(torch.tensor(pts[0][:2], dtype=torch.float64))
            row = w.detach().double().numpy()
            if self._tiled is None:
                self._tiled = np.tile(row, (len(pts), 1))
            elif not np.array_equal(row, self._tiled[0]):
                raise RuntimeError(f"the loss weights of '{self.name}' changed during a toy run "
                                   f"({self._tiled[0]} -> {row}); it must not count as fixed")
        return self._tiled

    def arrays(self, jac: np.ndarray, losses: np.ndarray,
               record: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """jac (S, 2, 2), losses (S, 2) -> directions (S, 2), weights (S, 2) or None.

        `record`: the simulator keeps this step; only then are a batched method's weights converted
        (None otherwise).
        """
        torch = self.torch
        if self.batched:
            agg = self.methods[0].aggregate_batch(torch.from_numpy(jac), torch.from_numpy(losses))
            return agg.direction.numpy(), None if agg.weights is None or not record else agg.weights.numpy()
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
        torch = self.torch
        for b, m in enumerate(self.methods):
            if getattr(m, "wants_losses_after_step", False):
                m.after_step(torch.from_numpy(before[b]), torch.from_numpy(after[b]))


def _weighted_directions(pts: list[tuple[float, ...]], weights: Sequence[tuple[float, float]]) -> list[float]:
    """w1 g1 + w2 g2 of each point, flat: the toy's one definition of a direction from weights."""
    out: list[float] = []
    for p, (w1, w2) in zip(pts, weights):
        out.append(w1 * p[2] + w2 * p[4])
        out.append(w1 * p[3] + w2 * p[5])
    return out


def _simulate_joint(specs: Sequence[_Spec], starts: np.ndarray, steps: int, lr: float, imbalance: float,
                    seed: int, progress: Progress | None, records: int = RECORDED) -> list[Trajectories]:
    """Every method from every start (see _simulate_jobs)."""
    slots = tuple(range(starts.shape[0]))
    return _simulate_jobs([_Job(spec, starts, slots) for spec in specs], steps, lr, imbalance, seed, progress,
                          records)


def _simulate_jobs(jobs: Sequence[_Job], steps: int, lr: float, imbalance: float, seed: int,
                   progress: Progress | None, records: int = RECORDED) -> list[Trajectories]:
    """Every job's starts advance together: one closed-form evaluation and one Adam update per step.

    `records`: positions kept besides the start, evenly spaced in steps."""
    import torch

    began = time.perf_counter()
    drivers = [_Driver(job.spec, job.slots, seed, lr) for job in jobs]
    x = np.concatenate([job.starts for job in jobs]).astype(np.float64)
    n_points = x.shape[0]
    # positions and Adam's moments as flat float lists (x1, x2 per point): for a few points Python floats
    # beat numpy's per-call overhead, and the arithmetic is IEEE's either way (same results)
    xs: list[float] = x.ravel().tolist()
    m1 = [0.0] * len(xs)
    m2 = [0.0] * len(xs)
    b1, b2 = ADAM_BETAS
    a1, a2 = 1.0 - b1, 1.0 - b2
    record_at = np.unique(np.linspace(0, steps, min(records, steps) + 1).round().astype(np.int64))
    is_record = np.zeros(steps + 1, dtype=bool)
    is_record[record_at] = True
    records_at = is_record.tolist()
    n_rec = record_at.shape[0]
    points = np.empty((n_rec, n_points, 2))
    losses_rec = np.empty((n_rec, n_points, 2))
    weights_rec = np.full((n_rec, n_points, 2), np.nan)
    bounds = np.cumsum([0] + [job.starts.shape[0] for job in jobs]).tolist()
    spans = list(zip(bounds[:-1], bounds[1:]))
    wants_after = any(d.after for d in drivers)
    report_every = max(steps // 100, 1)
    point = _point
    isfinite = math.isfinite
    rec = 0
    with torch.no_grad():
        for k in range(steps + 1):
            pts = [point(xs[i], xs[i + 1], imbalance) for i in range(0, len(xs), 2)]
            record = records_at[k]
            direction: list[float] = []
            for drive, (a, b) in zip(drivers, spans):
                d, w = drive(pts[a:b], record)
                direction += d
                if record and w is not None:
                    weights_rec[rec, a:b] = w
            if record:
                points[rec] = np.array(xs).reshape(-1, 2)
                losses_rec[rec] = [p[:2] for p in pts]
                rec += 1
            if k == steps:
                break
            # Adam, as torch.optim.Adam with its defaults (the operations of the array version, in its
            # order); a non-finite direction stops its point for good
            t = k + 1
            inv = 1.0 / math.sqrt(1.0 - b2 ** t)
            scale = lr / (1.0 - b1 ** t)
            for i in range(0, len(xs), 2):
                d1, d2 = direction[i], direction[i + 1]
                if not (isfinite(d1) and isfinite(d2)):
                    d1 = d2 = m1[i] = m1[i + 1] = m2[i] = m2[i + 1] = 0.0
                m1[i] = u1 = m1[i] * b1 + a1 * d1
                m2[i] = v1 = m2[i] * b2 + a2 * d1 * d1
                xs[i] -= scale * u1 / (math.sqrt(v1) * inv + ADAM_EPS)
                m1[i + 1] = u2 = m1[i + 1] * b1 + a1 * d2
                m2[i + 1] = v2 = m2[i + 1] * b2 + a2 * d2 * d2
                xs[i + 1] -= scale * u2 / (math.sqrt(v2) * inv + ADAM_EPS)
            if wants_after:
                before = np.array([p[:2] for p in pts])
                after = _pointwise(np.array(xs).reshape(-1, 2), imbalance)[0]
                for drive, (a, b) in zip(drivers, spans):
                    if drive.after:
                        drive.after_step(before[a:b], after[a:b])
            if progress is not None and t % report_every == 0:
                progress(t / steps, f"step {t:,} of {steps:,}")
    seconds = time.perf_counter() - began
    out = []
    for job, (a, b) in zip(jobs, spans):
        sl = slice(a, b)
        out.append(Trajectories(
            method=job.spec.method, params=dict(job.spec.params), starts=job.starts.copy(), steps=record_at,
            points=points[:, sl].transpose(1, 0, 2).copy(), losses=losses_rec[:, sl].transpose(1, 0, 2).copy(),
            weights=weights_rec[:, sl].transpose(1, 0, 2).copy(), total_steps=steps, lr=float(lr),
            imbalance=float(imbalance), seed=seed, seconds=seconds))
    return out
