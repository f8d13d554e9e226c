"""Exact small solvers in task space (T x T, float64) for the gradient weighting methods.

Every gradient method here reduces to a problem on the Gramian G = J J^T: the direction is then
w^T J for T weights, so the n-dimensional work is one Gramian and one weighted sum. The problems are
tiny (T <= a few dozen), so what matters is exactness and per-call overhead, not asymptotics: plain
numpy, scipy's compiled Lawson-Hanson NNLS for the quadratic programmes (exact in finitely many steps,
unlike Frank-Wolfe), Newton for the smooth equations, and no modelling library rebuilt every step.

Conventions: G is a symmetric positive semi-definite float64 array; returned weights are float64
arrays of length T. Each solver first divides G by its mean diagonal so tolerances are relative.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lapack
from scipy.optimize import brentq, nnls

TINY = 1e-300


def mean_scale(gram: np.ndarray) -> float:
    """Mean squared gradient norm: the unit the solvers work in (0 when every gradient is zero)."""
    t = gram.shape[0]
    return float(np.trace(gram)) / t if t else 0.0


def _spd_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve with Cholesky where the matrix is positive definite, least squares where it is not."""
    if matrix.shape[0] == 1:
        d = matrix[0, 0]
        return rhs / d if d > 0 else np.zeros_like(rhs)
    _, x, info = lapack.dposv(matrix, rhs)
    if info == 0:
        return x
    return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def square_root(q: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with q = A^T A and A^T (B c) = c for every c in the range of q (PSD q).

    From q = V diag(lam) V^T: A = diag(sqrt(lam)) V^T, B = diag(1/sqrt(lam)) V^T, over the eigenvalues
    above `tol` times the largest (the numerically zero directions of q are left out). Zero rows when
    q is zero.
    """
    lam, vec = np.linalg.eigh(q)
    top = max(float(lam[-1]), 0.0) if lam.size else 0.0
    keep = lam > max(tol, q.shape[0] * np.finfo(np.float64).eps) * top
    root = np.sqrt(lam[keep])
    basis = vec[:, keep].T
    return root[:, None] * basis, basis / root[:, None]


def nonnegative_least_squares(root: tuple[np.ndarray, np.ndarray], c: np.ndarray) -> np.ndarray:
    """argmin_{x >= 0} 1/2 x^T q x - c^T x given `square_root(q)`: min_{x >= 0} |A x - B c|^2, solved
    exactly by scipy's compiled Lawson-Hanson `nnls`."""
    a, b = root
    if a.shape[0] == 0:
        return np.zeros(c.shape[0])
    return nnls(a, b @ c, maxiter=50 * c.shape[0] + 100)[0]


def nonnegative_quadratic(q: np.ndarray, c: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """argmin_{x >= 0} 1/2 x^T q x - c^T x for positive semi-definite q with c in its range.

    Non-negative least squares on a square root of q (q = A^T A, c = A^T b): the same KKT point as an
    active set on q itself, through scipy's nnls. Against the hand-written Lawson-Hanson on q it
    replaced (T = 3..20, loaded 2-core machine): MGDA's min-norm problem 2.5-18x and UPGrad's T
    projections 1.9-17x faster (one eigendecomposition shared by the T problems), one DualProj
    projection ~10 us slower (0.6x: the factorisation outweighs its few active-set steps); the same
    weights to 2e-13 where they are unique, KKT residuals <= 2e-14.
    """
    return nonnegative_least_squares(square_root(q, tol), c)


def min_norm_weights(gram: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Simplex weights of the min-norm point of the convex hull of the rows (MGDA's subproblem).

    Exact reduction to a non-negative problem: minimising |A y|^2 + (1^T y - 1)^2 over y >= 0 has,
    for y = s w with w on the simplex, the optimum s = 1 / (1 + |A w|^2) and value
    |A w|^2 / (1 + |A w|^2), increasing in |A w|^2; so y* / sum(y*) is the min-norm weight vector.
    """
    t = gram.shape[0]
    scale = mean_scale(gram)
    if t == 1 or not scale > 0 or not math.isfinite(scale):
        return np.full(t, 1.0 / t)
    g = gram / scale
    y = nonnegative_quadratic(g + 1.0, np.ones(t), tol)
    total = y.sum()
    return y / total if total > 0 else np.full(t, 1.0 / t)


def frank_wolfe_min_norm(gram: np.ndarray, max_iter: int = 250, tol: float = 1e-5) -> np.ndarray:
    """Frank-Wolfe with exact line search for the same problem (Sener & Koltun 2018, Algorithm 2).

    Approximate: kept so MGDA can be run the way the paper ran it; stops when the step size falls
    below `tol` or after `max_iter` steps.
    """
    t = gram.shape[0]
    w = np.full(t, 1.0 / t)
    for _ in range(max_iter):
        gw = gram @ w
        k = int(np.argmin(gw))
        a = gw[k]  # <w, e_k>_G
        b = float(w @ gw)  # |w|_G^2
        c = gram[k, k]
        if c <= a:
            gamma = 1.0
        elif b <= a:
            gamma = 0.0
        else:
            gamma = (b - a) / (b + c - 2.0 * a)
        w = (1.0 - gamma) * w
        w[k] += gamma
        if gamma < tol:
            break
    return w


def dual_cone_weights(gram: np.ndarray, u: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Weights v with J^T v = projection of J^T u onto the dual cone {d : J d >= 0}.

    By duality (Quinton & Rey 2024, Proposition 1) v = argmin_{v >= u} v^T G v; with x = v - u >= 0
    that is a non-negative quadratic problem. `u` may be (T,) or (k, T) for k projections at once.
    """
    scale = mean_scale(gram)
    u2 = np.atleast_2d(np.asarray(u, dtype=np.float64))
    if not scale > 0 or not math.isfinite(scale):
        return u2.reshape(np.shape(u)).copy()
    g = gram / scale
    root = square_root(g, tol)  # one factorisation for the k projections
    out = np.empty_like(u2)
    for row, ui in enumerate(u2):
        out[row] = ui + nonnegative_least_squares(root, -(g @ ui))
    return out.reshape(np.shape(u))


def cagrad_weights(gram: np.ndarray, c: float, tol: float = 1e-12) -> np.ndarray:
    """Weights (mean scale) of CAGrad's direction g0 + c |g0| g_w / |g_w| (Liu et al. 2021).

    The dual is min_{w in simplex} w^T G a + r sqrt(w^T G w), a = 1/T, r = c |g0|. Writing
    r s = min_{t>0} r (s^2 / t + t) / 2 makes it jointly convex in (w, t); for fixed t the problem in
    w is the min-norm point of the rows shifted by (t / r) g0 (exact, see min_norm_weights), and the
    optimal t solves s(t) = t with s(t) / t decreasing, so a bracketed root search ends it. That
    search is the fallback. On the optimal support the optimum has a closed form, so first a few
    active-set moves are tried, growing from the vertex that minimises g_i . g0 (the optimum as
    c -> 0), then from the support a rough root gives; an answer is kept only if it passes the KKT
    conditions, else a full-precision root search decides.
    """
    t_tasks = gram.shape[0]
    a = np.full(t_tasks, 1.0 / t_tasks)
    scale = mean_scale(gram)
    if not scale > 0 or not math.isfinite(scale) or c == 0:
        return a
    g = gram / scale
    b = g @ a
    g0_sq = float(a @ b)
    if g0_sq <= 1e-24:
        return a  # the mean gradient vanishes: the ball around it is a point
    r = c * math.sqrt(g0_sq)

    def inner(t: float) -> tuple[np.ndarray, float]:
        k = t / r
        shifted = g + k * (b[:, None] + b[None, :]) + (k * k) * g0_sq
        w = min_norm_weights(shifted, tol)
        return w, math.sqrt(max(float(w @ g @ w), 0.0))

    def excess(t: float) -> float:
        return inner(t)[1] / t - 1.0

    start = np.zeros(t_tasks, dtype=bool)
    start[int(np.argmin(b))] = True  # as c -> 0 the optimum tends to the vertex minimising g_i . g0
    exact = _cagrad_active_set(g, b, r, start)
    if exact is not None and exact[1] > 0:
        return a + (r / exact[1]) * exact[0]
    w_mgda = min_norm_weights(g, tol)
    t_hi = math.sqrt(float(np.max(np.diag(g))))
    t_lo = max(math.sqrt(max(float(w_mgda @ g @ w_mgda), 0.0)), 1e-12 * t_hi)
    f_lo, f_hi = excess(t_lo), excess(t_hi)
    if f_lo <= 0:
        w, s = inner(t_lo)  # the common descent is (numerically) zero: the root sits at the bottom
    elif f_hi >= 0:
        w, s = inner(t_hi)
    else:
        # a rough root gives (nearly) the optimal support, where the optimum has a closed form
        t_rough = brentq(excess, t_lo, t_hi, xtol=1e-2 * t_hi, maxiter=100)
        w_rough, _ = inner(t_rough)
        exact = _cagrad_active_set(g, b, r, w_rough > 1e-9 * w_rough.max())
        if exact is not None:
            w, s = exact
        else:
            t_star = brentq(excess, t_lo, t_hi, xtol=1e-15 * t_hi, rtol=4 * np.finfo(float).eps, maxiter=200)
            w, s = inner(t_star)
    if s <= 1e-12 * t_hi:
        return a  # g_w = 0: the perturbation direction is undefined, keep the ball's centre
    return a + (r / s) * w


def _cagrad_on_support(g: np.ndarray, b: np.ndarray, r: float,
                       support: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray] | None:
    """Stationary point of CAGrad's dual restricted to `support`: (w, s, lambda, gradient), or None.

    On the support, b + r G w / s = lambda 1 with s = |w|_G and sum(w) = 1 give w = (lambda u - v) /
    (lambda 1^T u - 1^T v), u = G^-1 1, v = G^-1 b, and lambda the larger root of
    (lambda 1 - b)^T G^-1 (lambda 1 - b) = r^2. Signs of w are not checked here.
    """
    idx = np.flatnonzero(support)
    k = idx.shape[0]
    if k == 0:
        return None
    try:
        uv = np.linalg.solve(g[np.ix_(idx, idx)], np.column_stack([np.ones(k), b[idx]]))
    except np.linalg.LinAlgError:
        return None
    u, v = uv[:, 0], uv[:, 1]
    alpha, beta, gamma = float(u.sum()), float(v.sum()), float(b[idx] @ v)
    disc = beta * beta - alpha * (gamma - r * r)
    if not (alpha > 0 and disc >= 0):
        return None
    lam = (beta + math.sqrt(disc)) / alpha
    denom = lam * alpha - beta
    if not denom > 0:
        return None
    w = np.zeros(g.shape[0])
    w[idx] = (lam * u - v) / denom
    s = r / denom
    if abs(math.sqrt(max(float(w @ g @ w), 0.0)) - s) > 1e-9 * s:
        return None  # an ill-conditioned solve: let the caller fall back
    return w, s, lam, b + (r / s) * (g @ w)


def _cagrad_active_set(g: np.ndarray, b: np.ndarray, r: float,
                       support: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Exact dual optimum by moving one task at a time in or out of a guessed support, or None.

    Drop the most negative weight, or add the task whose gradient most violates KKT, and re-solve
    the closed form. Cheap (one T x T solve per move); a cap on moves and the caller's root search
    cover the problems it does not settle.
    """
    t = g.shape[0]
    support = support.copy()
    for _ in range(2 * t):
        found = _cagrad_on_support(g, b, r, support)
        if found is None:
            return None
        w, s, lam, grad = found
        if (w < 0).any():
            support[int(np.argmin(w))] = False
            continue
        slack = np.where(support, np.inf, grad - lam)
        worst = int(np.argmin(slack))
        if slack[worst] < -1e-9 * max(1.0, abs(lam)):
            support[worst] = True
            continue
        return w, s
    return None


POWER_BALANCE_RIDGE = 1e-12  # relative ridge on G: finite weights where 0 is in the convex hull


def power_balance_weights(gram: np.ndarray, p: float, init: np.ndarray | None = None,
                          tol: float = 1e-10, max_iter: int = 100, ridge: float = POWER_BALANCE_RIDGE) -> np.ndarray:
    """Positive w with G w = w^(-p) elementwise (Nash-MTL: p = 1; FairGrad: p = 1 / alpha).

    The equation is the stationarity condition of the strictly convex
    F(w) = w^T G w / 2 - sum_i h(w_i), h'(w) = w^(-p), so damped Newton on F from any positive start
    converges (quadratically near the end). G is scaled to unit mean diagonal (the solution scales as
    scale^(-1/(1+p))) and its diagonal is raised by the relative `ridge` (plus ridge^2 for zero rows)
    so that Pareto-stationary Jacobians (no finite solution: 0 in the convex hull, or a zero
    gradient) still return finite weights; a relative ridge perturbs every task's equation alike.
    """
    t = gram.shape[0]
    scale = mean_scale(gram)
    if not scale > 0 or not math.isfinite(scale):
        return np.ones(t)
    g = gram / scale
    g = g + np.diag(ridge * np.diag(g) + ridge * ridge)
    unit = scale ** (-1.0 / (1.0 + p))
    w = np.ones(t) if init is None else np.clip(np.asarray(init, dtype=np.float64) / unit, 1e-8, 1e8)
    if not np.isfinite(w).all():
        w = np.ones(t)

    def potential(v: np.ndarray) -> float:
        barrier = np.log(v).sum() if p == 1.0 else (v ** (1.0 - p)).sum() / (1.0 - p)
        return 0.5 * float(v @ g @ v) - float(barrier)

    f = potential(w)
    for _ in range(max_iter):
        gw = g @ w
        wp = w ** (-p)
        if np.max(np.abs(gw / wp - 1.0)) < tol:
            break
        grad = gw - wp
        hess = g + np.diag(p * wp / w)
        d = -_spd_solve(hess, grad)
        slope = float(grad @ d)
        if not slope < 0:
            break
        neg = d < 0
        step = min(1.0, 0.99 * float(np.min(-w[neg] / d[neg]))) if neg.any() else 1.0
        while step > 1e-14:
            cand = w + step * d
            f_cand = potential(cand)
            if f_cand <= f + 1e-4 * step * slope + 1e-13 * abs(f):  # roundoff slack near the optimum
                break
            step *= 0.5
        else:
            break
        w, f = cand, f_cand
    return w * unit


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based, exact)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.arange(1, v.shape[0] + 1)
    rho = int(np.flatnonzero(u - css / k > 0)[-1])
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def pseudo_inverse(gram: np.ndarray, rtol: float) -> np.ndarray:
    """Pseudo-inverse of a PSD matrix, keeping only eigenvalues above rtol * the largest.

    Not np.linalg.pinv(hermitian=True): that one cuts by |eigenvalue|, so a Gramian's roundoff-negative
    eigenvalues (about -1e-16 of the largest) survive the squared-singular-value cut ConFIG needs and
    are inverted (ConFIG on three identical gradients then returned a zero update instead of 3 g).
    """
    lam, vec = np.linalg.eigh(gram)
    keep = lam > rtol * max(float(lam[-1]), 0.0)
    if not keep.any():
        return np.zeros_like(gram)
    vk = vec[:, keep]
    return (vk / lam[keep]) @ vk.T
