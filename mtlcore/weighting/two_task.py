"""Two tasks: the closed forms of the solvers, and a float path for tiny stacks of Jacobians.

With T = 2 the general solvers of solvers.py have closed forms in three Gramian entries; the 2-D toy
(and any two-task run) uses them. Kept apart from solvers.py so each file holds one kind of solver.
"""

from __future__ import annotations

import math
from math import isfinite
from typing import Callable, Sequence

import numpy as np
import torch

from mtlcore.weighting.solvers import POWER_BALANCE_RIDGE, TINY

# With T = 2 every problem of solvers.py has a closed form in the three Gramian entries p = |g1|^2, q = |g2|^2,
# s = g1 . g2. The 2-D toy landscape solves a few such problems (one per start) at each of tens of
# thousands of steps, where per-call overhead is the whole cost: a numpy operation on a 5-element
# array costs 1-2 us whatever its size, a float operation 0.05 us. So each closed form exists twice,
# on Python floats row by row (stacks of up to SMALL_STACK rows: 3-5x faster there, measured) and as
# numpy array operations (larger stacks); the row functions also serve the float path
# below for tiny Jacobians. The tests hold the forms to each other and to the general
# solvers. Where a general solver's answer is not unique (identical gradients) these return
# the symmetric one. Rows must be finite (callers mask the others).
SMALL_STACK = 16


def _two_task_weights(x: np.ndarray) -> np.ndarray:
    out = np.empty((x.shape[0], 2))
    out[:, 0] = x
    out[:, 1] = 1.0 - x
    return out


def _rows(grams: np.ndarray) -> list[tuple[float, float, float]]:
    """(p, q, s) of each row as floats."""
    return [(a, d, b) for (a, b), (_, d) in grams.tolist()]


def min_norm_row(p: float, q: float, s: float) -> float:
    total = p + q
    gap = total - 2.0 * s
    if not gap > 1e-12 * total:
        return 0.5
    return min(max((q - s) / gap, 0.0), 1.0)


def two_task_min_norm(grams: np.ndarray) -> np.ndarray:
    """(B, 2, 2) -> (B, 2) simplex weights of the min-norm point on the segment [g2, g1].

    x = (q - s) / |g1 - g2|^2 clipped to [0, 1]; 1/2 when g1 = g2 (any x is then optimal).
    """
    if grams.shape[0] <= SMALL_STACK:
        return _two_task_weights(np.array([min_norm_row(*r) for r in _rows(grams)], dtype=np.float64))
    p, q, s = grams[:, 0, 0], grams[:, 1, 1], grams[:, 0, 1]
    total = p + q
    gap = total - 2.0 * s  # |g1 - g2|^2
    x = np.divide(q - s, gap, out=np.full(gap.shape, 0.5), where=gap > 1e-12 * total)
    return _two_task_weights(np.minimum(np.maximum(x, 0.0), 1.0, out=x))


def cagrad_row(p: float, q: float, s: float, c: float) -> tuple[float, float]:
    total = p + q
    g0_sq = 0.25 * (total + 2.0 * s)
    if not g0_sq > 0.5e-24 * total:
        return 0.5, 0.5
    r = c * math.sqrt(g0_sq)
    gap = total - 2.0 * s
    kappa = (q - p) / (2.0 * r)
    room = gap - kappa * kappa
    if room > 0:
        x_gap = math.copysign(math.sqrt(kappa * kappa * max(p * q - s * s, 0.0) / room), kappa) + (q - s)
    else:
        x_gap = gap if kappa > 0 else 0.0
    x = min(max(x_gap / gap, 0.0), 1.0) if gap > 1e-12 * total else 0.5
    norm_w = math.sqrt(max(q + x * (2.0 * (s - q) + x * gap), 0.0))
    if not norm_w > 1e-12 * math.sqrt(max(p, q)):
        return 0.5, 0.5
    factor = r / norm_w
    return 0.5 + factor * x, 0.5 + factor * (1.0 - x)


def two_task_cagrad(grams: np.ndarray, c: float) -> np.ndarray:
    """(B, 2, 2) -> (B, 2) weights (mean scale) of CAGrad's direction, as cagrad_weights.

    The dual min_x f(x) = g_x . g0 + r |g_x|, g_x = x g1 + (1 - x) g2, is convex in x in [0, 1] and
    f'(x) = r (h(x) - kappa) with h(x) = g_x . (g1 - g2) / |g_x| increasing and kappa = (q - p) / (2 r).
    With y = g_x . (g1 - g2) and D = |g1 - g2|^2, |g_x|^2 = (y^2 + pq - s^2) / D, so h = kappa is a
    quadratic in y: y^2 = kappa^2 (pq - s^2) / (D - kappa^2), y of kappa's sign; if kappa^2 >= D, f is
    monotone and the optimum is the end that kappa's sign points to. x is clipped to [0, 1]. Every
    quantity is homogeneous in G, so no rescaling is needed; the thresholds are relative, as there.
    """
    b_rows = grams.shape[0]
    if c == 0:
        return np.full((b_rows, 2), 0.5)
    if b_rows <= SMALL_STACK:
        return np.array([cagrad_row(*r, c) for r in _rows(grams)], dtype=np.float64).reshape(b_rows, 2)
    p, q, s = grams[:, 0, 0], grams[:, 1, 1], grams[:, 0, 1]
    total = p + q
    g0_sq = 0.25 * (total + 2.0 * s)
    centred = g0_sq > 0.5e-24 * total  # else the mean gradient vanishes: the ball is a point
    r = c * np.sqrt(np.maximum(g0_sq, 0.0))
    gap = total - 2.0 * s
    kappa = np.divide(q - p, 2.0 * r, out=np.zeros(b_rows), where=centred)
    k2 = kappa * kappa
    room = gap - k2
    interior = room > 0
    y = np.sqrt(np.divide(k2 * np.maximum(p * q - s * s, 0.0), room, out=np.zeros(b_rows), where=interior))
    y = np.copysign(y, kappa)
    x = np.where(interior, y + (q - s), np.where(kappa > 0, gap, 0.0))  # x * gap
    x = np.divide(x, gap, out=np.full(b_rows, 0.5), where=gap > 1e-12 * total)  # g1 = g2: any x, same g_x
    x = np.minimum(np.maximum(x, 0.0), 1.0, out=x)
    norm_w = np.sqrt(np.maximum(q + x * (2.0 * (s - q) + x * gap), 0.0))
    moved = centred & (norm_w > 1e-12 * np.sqrt(np.maximum(p, q)))  # g_x = 0: keep the ball's centre
    factor = np.divide(r, norm_w, out=np.zeros(b_rows), where=moved)
    w = _two_task_weights(x)
    w *= factor[:, None]
    w += 0.5
    return w


def power_balance_row(g11: float, g22: float, g12: float, ridge: float) -> tuple[float, float]:
    unit = 0.5 * (g11 + g22)
    if not unit > 0:
        return 1.0, 1.0
    floor = ridge * ridge * unit
    g11 = g11 * (1.0 + ridge) + floor
    g22 = g22 * (1.0 + ridge) + floor
    ratio = math.sqrt(g11 / g22)
    w1 = 1.0 / math.sqrt(max(g11 + g12 * ratio, TINY))
    return w1, w1 * ratio


def two_task_power_balance(grams: np.ndarray, p: float = 1.0, ridge: float = POWER_BALANCE_RIDGE) -> np.ndarray:
    """(B, 2, 2) -> (B, 2) positive w with G w = w^(-p), as power_balance_weights (same ridge).

    Only p = 1 (Nash-MTL) has this closed form: multiplying row i by w_i gives w_i (G w)_i = 1 for
    both i, so G11 w1^2 = G22 w2^2 and w2 = w1 sqrt(G11 / G22), w1 = 1 / sqrt(G11 + G12 sqrt(G11 / G22)).
    The ridge is the general solver's, relative to the mean squared norm u: G + ridge diag(G) + ridge^2 u,
    positive definite, so the root's argument is positive. Rows with a zero Gramian get ones.
    """
    if p != 1.0:
        raise ValueError("two_task_power_balance has a closed form for p = 1 only")
    b_rows = grams.shape[0]
    if b_rows <= SMALL_STACK:
        return np.array([power_balance_row(*r, ridge) for r in _rows(grams)], dtype=np.float64).reshape(b_rows, 2)
    g11, g22, g12 = grams[:, 0, 0], grams[:, 1, 1], grams[:, 0, 1]
    unit = 0.5 * (g11 + g22)
    alive = unit > 0
    floor = (ridge * ridge) * unit
    g11 = g11 * (1.0 + ridge) + floor
    g22 = g22 * (1.0 + ridge) + floor
    ratio = np.sqrt(np.divide(g11, g22, out=np.ones(b_rows), where=alive))
    w1 = np.divide(1.0, np.sqrt(np.maximum(g11 + g12 * ratio, TINY)), out=np.ones(b_rows), where=alive)
    out = np.empty((b_rows, 2))
    out[:, 0] = w1
    out[:, 1] = np.where(alive, w1 * ratio, 1.0)
    return out


def pcgrad_row(p: float, q: float, s: float) -> tuple[float, float]:
    conflict = min(s, 0.0)
    return 1.0 - (conflict / p if p > 0 else 0.0), 1.0 - (conflict / q if q > 0 else 0.0)


def two_task_pcgrad(grams: np.ndarray) -> np.ndarray:
    """(B, 2, 2) -> (B, 2) PCGrad weights: g1 loses s / q g2 and g2 loses s / p g1 when s < 0."""
    b_rows = grams.shape[0]
    if b_rows <= SMALL_STACK:
        return np.array([pcgrad_row(*r) for r in _rows(grams)], dtype=np.float64).reshape(b_rows, 2)
    p, q = grams[:, 0, 0], grams[:, 1, 1]
    conflict = np.minimum(grams[:, 0, 1], 0.0)
    out = np.empty((b_rows, 2))
    out[:, 0] = 1.0 - np.divide(conflict, p, out=np.zeros(b_rows), where=p > 0)
    out[:, 1] = 1.0 - np.divide(conflict, q, out=np.zeros(b_rows), where=q > 0)
    return out


# -- two tasks on Python floats ---------------------------------------------------------------------------
# The 2-D toy asks a method for B directions from B x 2 x 2 Jacobians tens of thousands of times, where a
# numpy or torch call (1-5 us) costs more than the arithmetic it does. For such stacks (float64 on the
# CPU, two tasks, at most SMALL_STACK rows of at most TWO_TASK_WIDTH entries) the whole aggregation runs
# on floats: the three Gramian entries, the method's closed form (the row functions above, which
# the array paths use too) and the weighted sum, a few microseconds per row instead of ~100 per call.
# float64 only, so the answer is the array path's to rounding (tests hold the two together).
TWO_TASK_WIDTH = 8

TwoTaskRule = Callable[[float, float, float], tuple[float, float]]
FloatRows = Sequence[Sequence[Sequence[float]]]  # B rows of (g1, g2), each a sequence of floats


def small_two_task_stack(jacobians: torch.Tensor) -> np.ndarray | None:
    """The stack as a float64 array when it is small enough for the float path (see above), else None."""
    b, t, n = jacobians.shape
    if t != 2 or b > SMALL_STACK or n > TWO_TASK_WIDTH or jacobians.dtype is not torch.float64 or not jacobians.is_cpu:
        return None
    return (jacobians.detach() if jacobians.requires_grad else jacobians).numpy()


def row_gramians(rows: FloatRows) -> list[tuple[float, float, float] | None]:
    """(|g1|^2, |g2|^2, g1 . g2) of each row of a small stack (as floats: `stack.tolist()`), None for a
    row where any of them is not finite (callers then use ones, as masked_nonfinite does for the array
    path)."""
    out: list[tuple[float, float, float] | None] = []
    for g1, g2 in rows:
        p = q = s = 0.0
        for a, b in zip(g1, g2):
            p += a * a
            q += b * b
            s += a * b
        out.append((p, q, s) if isfinite(p) and isfinite(q) and isfinite(s) else None)
    return out


def weighted_rows(stack: np.ndarray, weights: list[tuple[float, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions w1 g1 + w2 g2 of every row of a small stack, and the weights (combine_batch's arithmetic):
    the two fields of an Aggregation."""
    w = np.array(weights, dtype=np.float64)
    return torch.from_numpy(np.matmul(w[:, None, :], stack)[:, 0]), torch.from_numpy(w)
