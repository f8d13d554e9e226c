"""The two-objective toy of the CAGrad (Liu et al. 2021) and Nash-MTL (Navon et al. 2022) papers.

Over x in R^2, with eps = 5e-6:
    f1 = log(max(|0.5(-x1 - 7) - tanh(-x2)|, eps)) + 6,  f2 = log(max(|0.5(-x1 + 3) + tanh(-x2) + 2|, eps)) + 6,
    g1 = ((-x1 + 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20,       g2 = ((-x1 - 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20,
    c1 = max(tanh(0.5 x2), 0), c2 = max(tanh(-0.5 x2), 0),
    L1 = imbalance * (c1 f1 + c2 g1),  L2 = c1 f2 + c2 g2.
The Nash-MTL paper scales L1 by 0.1 (imbalance = 0.1); the CAGrad paper does not (imbalance = 1).
The Pareto set is x2 = -8.3552, x1 in [-7, 7].

The gates: at x2 = 0 both c1 and c2 sit exactly at their floor 0. The papers' code takes them with
torch.clamp, and what that gives at (0, 0) depends on the PyTorch version: from 2018 until 2.14
torch.clamp passed slope 1 at its bound (so the papers' runs did leave (0, 0)); torch 2.14 returns
slope 0 there, so the same code today has both gradients vanish at (0, 0) and no method moves. The
rule here is a convention of ours, neither version's: max(u, floor) splits its slope at a tie (1/2
where u equals the floor, as torch.maximum does), so at (0, 0) both gradients point along x2 (L1 and
L2 both fall as x2 decreases) and every method leaves the start downwards.
In f1 and f2, max(|u|, eps) has slope 0 at and below eps (a tie there has measure zero and never
decides a run).
The losses and the Jacobian are in closed form: numpy for grids, Python floats for the simulator's
few points (computing only the gated-in loss off the boundary), so no torch is needed here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from mtlcore.registry import ConfigError

EPS = 5e-6
PARETO_X2 = -8.3552
PARETO_X1 = (-7.0, 7.0)
PAPER_STARTS: tuple[tuple[float, float], ...] = ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0))
PAPER_STEPS = 35_000
PAPER_LR = 1e-3
NASH_IMBALANCE = 0.1  # the Nash-MTL paper's scale on L1


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


def pareto_front(n: int = 200, imbalance: float = 1.0) -> np.ndarray:
    """(n, 2) loss pairs (L1, L2) along the Pareto set, for the loss-space plot."""
    x1 = np.linspace(PARETO_X1[0], PARETO_X1[1], n)
    return toy_losses(np.stack([x1, np.full(n, PARETO_X2)], axis=1), imbalance)


def loss_grid(x1: np.ndarray, x2: np.ndarray, imbalance: float = 1.0) -> np.ndarray:
    """(len(x2), len(x1), 2) losses on a grid, for contour plots (rows follow x2)."""
    xx, yy = np.meshgrid(np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64))
    return toy_losses(np.stack([xx, yy], axis=-1), imbalance)
