"""The Pareto plot of a sweep and the reading of clicks on it: pure functions, no Streamlit.

Input is `mtlcore.sweeps.pareto.pareto_table`'s frame: one point per setting (a grid weighting or a
dynamic method) with its objectives, its run ids and whether it is on the non-dominated front.
Grid points are coloured by the first task's share of the weight, so the front reads as a path
along the simplex; dynamic methods are labelled points; the single-task baselines are reference
lines. Every point carries its run ids (customdata), so a click or a box selection opens them.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.compare.charts import Panels
from dashboard.shared.text import plot_text
from mtlcore.sweeps.pareto import front_path

GRID_SCALE = "Viridis"
METHOD_COLOUR = "#e15759"
FRONT_COLOUR = "#555555"
BASELINE_COLOUR = "#9c755f"
HEIGHT = 460


def axis_title(objective: str, higher: bool, split: str) -> str:
    task, _, metric = objective.partition("/")
    return plot_text(f"{task} {metric} {'↑' if higher else '↓'} ({split})")


def _hover(row: Any, objectives: Sequence[str]) -> str:
    seeds = ", ".join(map(str, row["seeds"]))
    values = "<br>".join(f"{plot_text(o)}: {row[o]:.4g}" for o in objectives)
    front = "<br><b>on the Pareto front</b>" if row["on_front"] else ""
    return f"<b>{plot_text(row['label'])}</b><br>seed(s) {seeds}<br>{values}{front}<extra></extra>"


def _points(panels: Panels, col: int, points: pd.DataFrame, objectives: Sequence[str], ix: int, iy: int,
            legend: bool) -> None:
    grid = points[points["kind"] == "grid"]
    methods = points[points["kind"] != "grid"]
    ox, oy = objectives[ix], objectives[iy]
    if not grid.empty:
        share = np.array([p[0] if p else np.nan for p in grid["point"]], dtype=np.float64)
        panels.add(col, {
            "x": grid[ox].to_numpy(np.float64), "y": grid[oy].to_numpy(np.float64), "mode": "markers",
            "name": "static weights (grid)", "legendgroup": "grid", "showlegend": legend,
            "customdata": [",".join(r) for r in grid["run_ids"]],
            "hovertemplate": [_hover(r, objectives) for _, r in grid.iterrows()],
            "marker": {"size": 12, "color": share, "colorscale": GRID_SCALE, "cmin": 0, "cmax": 1,
                       "showscale": legend,
                       "colorbar": {"title": {"text": "weight share<br>of " + plot_text(ox.split("/")[0])},
                                    "thickness": 12, "len": 0.8},
                       "line": {"color": np.where(grid["on_front"], "#000000", "#ffffff").tolist(),
                                "width": np.where(grid["on_front"], 2.0, 1.0).tolist()}}})
    if not methods.empty:
        panels.add(col, {
            "x": methods[ox].to_numpy(np.float64), "y": methods[oy].to_numpy(np.float64),
            "mode": "markers+text", "text": methods["label"].tolist(), "textposition": "top center",
            "name": "dynamic methods", "legendgroup": "methods", "showlegend": legend,
            "customdata": [",".join(r) for r in methods["run_ids"]],
            "hovertemplate": [_hover(r, objectives) for _, r in methods.iterrows()],
            "marker": {"size": 13, "symbol": "diamond", "color": METHOD_COLOUR,
                       "line": {"color": np.where(methods["on_front"], "#000000", "#ffffff").tolist(),
                                "width": np.where(methods["on_front"], 2.0, 1.0).tolist()}},
            "textfont": {"size": 11, "color": METHOD_COLOUR}})


def _baselines(panels: Panels, col: int, objectives: Sequence[str], ix: int, iy: int,
               baselines: Mapping[str, float]) -> None:
    for objective, axis, other in ((objectives[ix], "x", "y"), (objectives[iy], "y", "x")):
        if objective not in baselines:
            continue
        value = float(baselines[objective])
        ref = panels.axis(axis, col)
        span = f"{panels.axis(other, col)} domain"
        line = {"type": "line", "line": {"color": BASELINE_COLOUR, "width": 1.5, "dash": "dot"},
                "layer": "below"}
        if axis == "x":
            line.update(xref=ref, yref=span, x0=value, x1=value, y0=0, y1=1)
            label = {"xref": ref, "yref": span, "x": value, "y": 1, "yanchor": "bottom", "xanchor": "left"}
        else:
            line.update(xref=span, yref=ref, x0=0, x1=1, y0=value, y1=value)
            label = {"xref": span, "yref": ref, "x": 1, "y": value, "xanchor": "right", "yanchor": "bottom"}
        panels.layout["shapes"].append(line)
        panels.layout["annotations"].append({
            **label, "text": plot_text(f"single-task {objective.split('/')[0]}"), "showarrow": False,
            "font": {"size": 10, "color": BASELINE_COLOUR}})


def pareto_figure(points: pd.DataFrame, objectives: Sequence[str], higher: Sequence[bool],
                  baselines: Mapping[str, float] | None = None, split: str = "val",
                  key: str = "pareto") -> go.Figure:
    """Two objectives: one scatter, the front drawn as a line. Three: the three pairwise scatters,
    front points ringed (the front of three objectives is a surface, not a path)."""
    baselines = baselines or {}
    objectives = list(objectives)
    pairs = [(0, 1)] if len(objectives) == 2 else list(combinations(range(len(objectives)), 2))
    panels = Panels([""] * len(pairs) if len(pairs) == 1 else
                    [f"{objectives[a].split('/')[0]} vs {objectives[b].split('/')[0]}" for a, b in pairs],
                    spacing=0.07)
    for col, (ix, iy) in enumerate(pairs):
        if not points.empty:
            if len(objectives) == 2:
                order = front_path(points[objectives].to_numpy(np.float64), list(higher))
                front = points.iloc[order]
                panels.add(col, {"x": front[objectives[0]].to_numpy(np.float64),
                                 "y": front[objectives[1]].to_numpy(np.float64), "mode": "lines",
                                 "name": "Pareto front", "hoverinfo": "skip",
                                 "line": {"color": FRONT_COLOUR, "width": 2, "dash": "dash"}})
            _points(panels, col, points, objectives, ix, iy, legend=(col == 0))
        _baselines(panels, col, objectives, ix, iy, baselines)
        panels.layout[panels.axis("xaxis", col) if col else "xaxis"].update(
            title={"text": axis_title(objectives[ix], higher[ix], split), "standoff": 4})
        panels.layout[panels.axis("yaxis", col) if col else "yaxis"].update(
            title={"text": axis_title(objectives[iy], higher[iy], split), "standoff": 4})
    n_front = int(points["on_front"].sum()) if not points.empty else 0
    note = (f"{len(points)} setting(s), {n_front} on the non-dominated front (ringed); "
            "click a point (or box-select with the toolbar's select tool) to open its runs") if not points.empty else ""
    title = "Pareto plot of the final validation metrics" if split == "val" else f"Pareto plot ({split})"
    fig = panels.figure(title, key, note, "no finished run yet: points appear as runs finish", height=HEIGHT)
    fig.update_layout(hovermode="closest")
    return fig


def selected_run_ids(selection: Mapping[str, Any] | None) -> list[str]:
    """Run ids of the points a click or box selection picked (from their customdata), in order."""
    out: list[str] = []
    for point in (selection or {}).get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if not data:
            continue
        for rid in str(data).split(","):
            if rid and rid not in out:
                out.append(rid)
    return out
