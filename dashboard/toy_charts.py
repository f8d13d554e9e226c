"""Plotly figures of the teaching pages: the toy landscape with trajectories, the loss-space plot and
the gradient-conflict plane. Pure functions of NumPy arrays (no Streamlit), written as plain dicts
and wrapped once without plotly's per-property validation (the step slider redraws them; the tests
validate every kind with plotly's full checks).

Colours: task i keeps charts.PALETTE[i] (as on every other page); a method keeps one colour of
METHOD_PALETTE on both teaching pages, picked by its place in the registry.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import PALETTE
from mtlcore import toy

# Method colours stay clear of the first task colours (blue, orange, green), which the gradients use.
METHOD_PALETTE = ("#7b3294", "#d62728", "#1a9a8a", "#e7298a", "#8c6d31", "#555555", "#17becf", "#b5a300",
                  "#6a51a3", "#a63603", "#c51b7d", "#2c7fb8", "#969696", "#8c564b", "#bcbd22", "#000080")
MAX_TRAJECTORY_POINTS = 400  # per trace; a trajectory keeps every k-th record (and its last one)
PARETO_COLOUR = "#111111"
CONE_FILL = "rgba(89, 161, 79, 0.18)"
START_SYMBOL = "x"
CONTOUR_SCALE = [[0.0, "#8fb8de"], [0.35, "#d6e6f4"], [1.0, "#ffffff"]]  # low loss darker, light enough for lines
PANEL_TITLES = ("L1 (task 1)", "L2 (task 2)", "mean (L1 + L2) / 2")


def method_colour(name: str, registry_order: Sequence[str]) -> str:
    """The method's colour on every teaching chart: by its index in the registry."""
    names = list(registry_order)
    i = names.index(name) if name in names else len(names) + sum(map(ord, name))
    return METHOD_PALETTE[i % len(METHOD_PALETTE)]


def task_colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _stride(n: int, max_points: int = MAX_TRAJECTORY_POINTS) -> np.ndarray:
    """Record indices to draw: every k-th, always ending at the last (the current position)."""
    if n <= max_points:
        return np.arange(n)
    idx = np.arange(0, n, math.ceil(n / max_points))
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def _layout_title(text: str) -> dict:
    return {"text": text, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top",
            "yref": "container"}


def grid_for(starts: np.ndarray, n: int = 140) -> tuple[np.ndarray, np.ndarray]:
    """x1 and x2 grids covering the papers' window [-10, 10]^2 and every start."""
    lo = min(-10.0, float(np.min(starts)) - 1.0) if starts.size else -10.0
    hi = max(10.0, float(np.max(starts)) + 1.0) if starts.size else 10.0
    axis = np.linspace(lo, hi, n)
    return axis, axis.copy()


def landscape_figure(runs: Sequence[toy.Trajectories], upto: int, imbalance: float, registry_order: Sequence[str],
                     titles: dict[str, str] | None = None, key: str = "landscape") -> go.Figure:
    """Contours of L1, L2 and their mean side by side, every trajectory drawn up to record `upto`.

    Starts are crosses, the current positions dots, the Pareto set (x2 = -8.3552, x1 in [-7, 7]) a
    black segment. Each trajectory is cut to MAX_TRAJECTORY_POINTS points (a stride, said on the chart).
    """
    starts = runs[0].starts if runs else np.asarray(toy.PAPER_STARTS)
    gx, gy = grid_for(starts)
    losses = toy.loss_grid(gx, gy, imbalance)
    panels = (losses[..., 0], losses[..., 1], losses.mean(axis=-1))
    gap = 0.04
    width = (1 - 2 * gap) / 3
    traces: list[dict] = []
    layout: dict = {
        "title": _layout_title(f"Trajectories on the toy landscape (imbalance on L1: {imbalance:g})"),
        "height": 430, "margin": {"l": 8, "r": 8, "t": 80, "b": 8}, "uirevision": key,
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.06, "xanchor": "left", "x": 0},
        "annotations": [], "hovermode": "closest",
    }
    for p, z in enumerate(panels):
        suffix = "" if p == 0 else str(p + 1)
        lo = p * (width + gap)
        layout[f"xaxis{suffix}"] = {"domain": [lo, lo + width], "anchor": f"y{suffix}", "title": {"text": "x1"},
                                    "range": [gx[0], gx[-1]], "zeroline": False}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "range": [gy[0], gy[-1]], "zeroline": False,
                                    "title": {"text": "x2" if p == 0 else ""}}
        layout["annotations"].append({"text": PANEL_TITLES[p], "xref": "paper", "yref": "paper", "x": lo + width / 2,
                                      "y": 1.0, "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 12}})
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        traces.append({"type": "contour", "x": gx.astype(np.float32), "y": gy.astype(np.float32),
                       "z": z.astype(np.float32), "ncontours": 28, "colorscale": CONTOUR_SCALE,
                       "showscale": False, "contours": {"coloring": "heatmap"},
                       "line": {"width": 0.6, "color": "rgba(60,60,60,0.3)"}, "hoverinfo": "skip", **axes})
        traces.append({"type": "scatter", "x": list(toy.PARETO_X1), "y": [toy.PARETO_X2] * 2, "mode": "lines",
                       "line": {"color": PARETO_COLOUR, "width": 4}, "name": "Pareto set",
                       "legendgroup": "pareto", "showlegend": p == 0, "hoverinfo": "name", **axes})
        for run in runs:
            colour = method_colour(run.method, registry_order)
            label = (titles or {}).get(run.method, run.method)
            last = min(max(upto, 0), run.points.shape[1] - 1)
            idx = _stride(last + 1)
            for s in range(run.points.shape[0]):
                path = run.points[s, idx].astype(np.float32)
                traces.append({"type": "scatter", "x": path[:, 0], "y": path[:, 1], "mode": "lines",
                               "line": {"color": colour, "width": 2}, "name": label, "legendgroup": run.method,
                               "showlegend": p == 0 and s == 0, "hoverinfo": "name", **axes})
            now = run.points[:, last].astype(np.float32)
            traces.append({"type": "scatter", "x": now[:, 0], "y": now[:, 1], "mode": "markers",
                           "marker": {"color": colour, "size": 8, "line": {"color": "white", "width": 1}},
                           "name": label, "legendgroup": run.method, "showlegend": False,
                           "hovertemplate": f"{label}<br>x1 %{{x:.3f}}<br>x2 %{{y:.3f}}<extra></extra>", **axes})
        traces.append({"type": "scatter", "x": starts[:, 0].astype(np.float32), "y": starts[:, 1].astype(np.float32),
                       "mode": "markers", "marker": {"symbol": START_SYMBOL, "size": 10, "color": "#222"},
                       "name": "start", "legendgroup": "start", "showlegend": p == 0,
                       "hovertemplate": "start (%{x}, %{y})<extra></extra>", **axes})
    if runs and runs[0].points.shape[1] > MAX_TRAJECTORY_POINTS:
        layout["annotations"].append({
            "text": f"each trajectory drawn with at most {MAX_TRAJECTORY_POINTS} of its "
                    f"{runs[0].points.shape[1]} recorded points", "xref": "paper", "yref": "paper", "x": 1, "y": 0,
            "xanchor": "right", "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#555"},
            "bgcolor": "rgba(255,255,255,0.7)"})
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def loss_space_figure(runs: Sequence[toy.Trajectories], upto: int, imbalance: float, registry_order: Sequence[str],
                      titles: dict[str, str] | None = None, key: str = "loss-space") -> go.Figure:
    """L1 against L2 along every trajectory, with the Pareto front (the image of the Pareto set)."""
    front = toy.pareto_front(200, imbalance).astype(np.float32)
    traces: list[dict] = [{"type": "scatter", "x": front[:, 0], "y": front[:, 1], "mode": "lines",
                           "line": {"color": PARETO_COLOUR, "width": 4}, "name": "Pareto front",
                           "hoverinfo": "name"}]
    for run in runs:
        colour = method_colour(run.method, registry_order)
        label = (titles or {}).get(run.method, run.method)
        last = min(max(upto, 0), run.losses.shape[1] - 1)
        idx = _stride(last + 1)
        for s in range(run.losses.shape[0]):
            path = run.losses[s, idx].astype(np.float32)
            traces.append({"type": "scatter", "x": path[:, 0], "y": path[:, 1], "mode": "lines",
                           "line": {"color": colour, "width": 1.5}, "opacity": 0.85, "name": label,
                           "legendgroup": run.method, "showlegend": s == 0, "hoverinfo": "name"})
        now = run.losses[:, last].astype(np.float32)
        traces.append({"type": "scatter", "x": now[:, 0], "y": now[:, 1], "mode": "markers",
                       "marker": {"color": colour, "size": 8, "line": {"color": "white", "width": 1}},
                       "legendgroup": run.method, "showlegend": False, "name": label,
                       "hovertemplate": f"{label}<br>L1 %{{x:.3f}}<br>L2 %{{y:.3f}}<extra></extra>"})
    if runs:
        first = runs[0].losses[:, 0].astype(np.float32)
        traces.append({"type": "scatter", "x": first[:, 0], "y": first[:, 1], "mode": "markers",
                       "marker": {"symbol": START_SYMBOL, "size": 10, "color": "#222"}, "name": "start",
                       "hovertemplate": "start: L1 %{x:.3f}, L2 %{y:.3f}<extra></extra>"})
    layout = {"title": _layout_title("Loss space: L1 against L2"), "height": 430,
              "margin": {"l": 8, "r": 8, "t": 62, "b": 8}, "uirevision": key, "hovermode": "closest",
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
              "xaxis": {"title": {"text": "L1"}}, "yaxis": {"title": {"text": "L2"}}}
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


# -- the gradient-conflict plane -------------------------------------------------------------------------
def gradients_from_angles(angles_deg: Sequence[float], norms: Sequence[float]) -> np.ndarray:
    """(k, 2) gradients at the given angles (degrees from the x axis) and norms."""
    a = np.radians(np.asarray(angles_deg, dtype=np.float64))
    r = np.asarray(norms, dtype=np.float64)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def nonconflicting_arc(gradients: np.ndarray) -> tuple[float, float] | None:
    """The cone {d : g_i . d >= 0 for every i} as an angle interval (radians, lo <= hi), or None.

    Each condition keeps the half-plane within 90 degrees of g_i; their intersection is one arc at
    most 180 degrees wide, found relative to the first nonzero gradient. None when it is only the
    origin (or a single ray, which has no area to draw); zero gradients impose nothing.
    """
    g = np.asarray(gradients, dtype=np.float64)
    live = g[np.hypot(g[:, 0], g[:, 1]) > 0]
    if live.shape[0] == 0:
        return (-math.pi, math.pi)
    theta = np.arctan2(live[:, 1], live[:, 0])
    rel = (theta - theta[0] + math.pi) % (2 * math.pi) - math.pi  # in [-pi, pi)
    lo = float(np.max(rel - math.pi / 2))
    hi = float(np.min(rel + math.pi / 2))
    if hi - lo <= 1e-9:
        return None
    return lo + float(theta[0]), hi + float(theta[0])


def conflict_figure(gradients: np.ndarray, directions: dict[str, np.ndarray], registry_order: Sequence[str],
                    titles: dict[str, str] | None = None, equal_length: bool = True,
                    key: str = "conflict") -> go.Figure:
    """Task gradients (solid arrows, task colours), each method's direction (dashed, method colours) and
    the shaded cone of directions that conflict with no task.

    With `equal_length`, every direction is drawn at the mean gradient norm: conflict is about
    angles, and the methods' scales differ by orders of magnitude (the table gives the true norms).
    """
    g = np.asarray(gradients, dtype=np.float64)
    norms = np.hypot(g[:, 0], g[:, 1])
    reach = float(max(norms.max(initial=0.0), 1e-12))
    unit = float(norms.mean()) if norms.size and norms.mean() > 0 else 1.0
    traces: list[dict] = []
    annotations: list[dict] = []
    arc = nonconflicting_arc(g)
    radius = 1.35 * reach
    if arc is not None:
        t = np.linspace(arc[0], arc[1], 60)
        xs = np.concatenate([[0.0], radius * np.cos(t), [0.0]])
        ys = np.concatenate([[0.0], radius * np.sin(t), [0.0]])
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "fill": "toself",
                       "fillcolor": CONE_FILL, "line": {"width": 0}, "name": "no conflict with any task",
                       "hoverinfo": "name"})

    def arrow(vec: np.ndarray, colour: str, name: str, dash: str, width: float, group: str) -> None:
        traces.append({"type": "scatter", "x": [0.0, float(vec[0])], "y": [0.0, float(vec[1])], "mode": "lines",
                       "line": {"color": colour, "width": width, "dash": dash}, "name": name, "legendgroup": group,
                       "hovertemplate": f"{name}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>"})
        if np.hypot(vec[0], vec[1]) > 0:
            annotations.append({"x": float(vec[0]), "y": float(vec[1]), "ax": 0, "ay": 0, "xref": "x", "yref": "y",
                                "axref": "x", "ayref": "y", "showarrow": True, "arrowhead": 2, "arrowsize": 1.2,
                                "arrowwidth": width, "arrowcolor": colour, "text": ""})

    for i, vec in enumerate(g):
        arrow(vec, task_colour(i), f"g{i + 1} (task {i + 1})", "solid", 3.5, f"task{i}")
    longest = reach
    for name, d in directions.items():
        d = np.asarray(d, dtype=np.float64)
        size = float(np.hypot(d[0], d[1]))
        shown = d / size * unit if (equal_length and size > 0) else d
        longest = max(longest, float(np.hypot(shown[0], shown[1])))
        arrow(shown, method_colour(name, registry_order), (titles or {}).get(name, name), "dash", 2.5, name)
    span = 1.15 * max(longest, radius if arc is not None else 0.0)
    layout = {
        "title": _layout_title("Task gradients, combined directions and the cone of non-conflicting directions"),
        "height": 520, "margin": {"l": 8, "r": 8, "t": 62, "b": 8}, "uirevision": key, "hovermode": "closest",
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0},
        "xaxis": {"range": [-span, span], "zeroline": True, "zerolinecolor": "#bbb", "title": {"text": "direction 1"}},
        "yaxis": {"range": [-span, span], "zeroline": True, "zerolinecolor": "#bbb", "scaleanchor": "x",
                  "scaleratio": 1, "title": {"text": "direction 2"}},
        "annotations": annotations,
    }
    return go.Figure({"data": traces, "layout": layout}, _validate=False)
