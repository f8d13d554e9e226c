"""The non-dominated (Pareto) front of a set of results, each scored on several objectives.

Why its own module: the sweep page, the CLI and the tests all need the same notion of "front", and
each objective may point either way (accuracy up, error down), so the direction is an argument
instead of a convention callers have to remember. `pareto_table` turns a sweep table into the
points of a Pareto plot. No torch import.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mtlcore.registry import ConfigError


def _oriented(points: np.ndarray | Sequence[Sequence[float]], higher_is_better: Sequence[bool]) -> np.ndarray:
    """The points as an (n, k) float array in which larger is better on every objective."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2:
        raise ConfigError(f"points must be a table of shape (n, k), got shape {pts.shape}")
    if len(higher_is_better) != pts.shape[1]:
        raise ConfigError(f"one direction per objective is needed: {pts.shape[1]} objective(s), "
                          f"{len(higher_is_better)} direction(s)")
    if not np.isfinite(pts).all():
        raise ConfigError("points must be finite numbers (drop unfinished runs first)")
    signs = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    return pts * signs


def non_dominated(points: np.ndarray | Sequence[Sequence[float]], higher_is_better: Sequence[bool]) -> np.ndarray:
    """Boolean mask of the points no other point dominates.

    A point is dominated when another is at least as good on every objective and strictly better
    on one. Identical points do not dominate each other, so duplicates on the front all stay.
    """
    pts = _oriented(points, higher_is_better)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    # (n, n, k): row i compared with every j; j dominates i when all >= and any >
    at_least = (pts[None, :, :] >= pts[:, None, :]).all(axis=2)
    better = (pts[None, :, :] > pts[:, None, :]).any(axis=2)
    return ~(at_least & better).any(axis=1)


def front_path(points: np.ndarray | Sequence[Sequence[float]], higher_is_better: Sequence[bool]) -> np.ndarray:
    """Indices of the front of two objectives, ordered along the first one (to draw it as a line)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ConfigError(f"a front path needs two objectives, got shape {pts.shape}")
    idx = np.flatnonzero(non_dominated(pts, higher_is_better))
    return idx[np.lexsort((pts[idx, 1], pts[idx, 0]))]


def pareto_table(table: pd.DataFrame, objectives: Sequence[str], higher_is_better: Sequence[bool],
                 average_seeds: bool = True) -> pd.DataFrame:
    """The points of a Pareto plot: finished runs (or their seed means), with `on_front` marked.

    `objectives` are `task/metric` columns of `sweep_table`. With `average_seeds`, one point per
    setting (grid point or method) holds the mean over its finished seeds and every run id.
    """
    cols = list(objectives)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ConfigError(f"no finished run reports {missing}")
    done = table[(table["status"] == "finished") & table[cols].notna().all(axis=1)]
    if done.empty:
        return pd.DataFrame(columns=["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"])
    if average_seeds:
        g = done.groupby("label", sort=False)
        points = g[cols].mean()
        points["kind"] = g["kind"].first()
        points["point"] = g["point"].first()
        points["run_ids"] = g["run_id"].apply(list)
        points["seeds"] = g["seed"].apply(list)
        points = points.reset_index()
    else:
        points = done.assign(run_ids=done["run_id"].map(lambda r: [r]), seeds=done["seed"].map(lambda s: [s]))
        points = points[["label", "kind", "point", "run_ids", "seeds", *cols]].reset_index(drop=True)
    points["on_front"] = non_dominated(points[cols].to_numpy(np.float64), list(higher_is_better))
    return points[["label", "kind", "point", "run_ids", "seeds", *cols, "on_front"]]
