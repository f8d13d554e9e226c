"""Plotly figures of one run's live metrics, built from NumPy arrays.

Each task keeps one colour on every chart: its index among the data set's tasks picks a colour of
PALETTE (the same list as `theme.chartCategoricalColors` in .streamlit/config.toml). Every trace is
cut to at most MAX_POINTS points (min and max per bucket, so a spike or a divergence stays visible)
and the chart says so when it happens. `uirevision` keeps the user's zoom across live refreshes.

Speed: the live panel redraws four charts every second while a worker trains on the same CPU (in
place, through dashboard/shared/live_chart.py), so a figure is written as one plain dict and wrapped once
without plotly's per-property validation
(building through graph_objects' update calls cost 150-350 ms per refresh; this costs a few ms). The
tests validate every figure kind with plotly's full checks instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.shared.text import plot_text

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1",
           "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac")
PAIR_COLOURS = ("#444444", "#8c6d31", "#7b4173", "#637939", "#3182bd", "#843c39")
# Charts stand two to a row (at most ~700 px of plot at 1920 px), so 500 min/max buckets are about one
# per pixel column and draw the same envelope as 1,000; Compare with three long runs opened in 0.73-0.83x
# the time with 1,000 instead of 2,000 (interleaved A/B; screenshots alike).
MAX_POINTS = 1000
MARKERS_UP_TO = 60  # a measured series with more points is a plain line: its markers would merge into a band


def line_mode(n_points: int) -> str:
    """Markers show where each measurement was taken while there are few enough to tell apart."""
    return "lines+markers" if n_points <= MARKERS_UP_TO else "lines"


# A loss axis on a log scale: ticks at 1, 2, 5 of each decade, written whole ("0.5", not Plotly's bare
# "5" under the "1", which read as five on Compare)
LOG_LOSS_AXIS = {"type": "log", "dtick": "D2", "tickformat": ".2~g"}
LEGEND_ROW_PX = 24  # a row of a horizontal legend at font size 11


def legend_names(traces: Sequence[dict]) -> list[str]:
    """The names a figure's legend shows: traces with a name that are not left out of it."""
    return [t["name"] for t in traces if t.get("showlegend", True) and t.get("name")]


def legend_rows(names: Sequence[str], width_px: int = 700) -> int:
    """Rows a horizontal legend of these names takes in a chart about `width_px` wide (about 6.5 px
    per character at its font size plus the line sample); 0 without a legend. The server does not
    know a chart's width: a figure reserves rows for the narrowest width it is drawn at."""
    if not names:
        return 0
    rows, used = 1, 0.0
    for name in names:
        w = 50 + 6.5 * len(name)
        if used and used + w > width_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows


HEIGHT = 290
CONFLICT_FILL = "rgba(225, 87, 89, 0.08)"

Series = tuple[np.ndarray, np.ndarray]


def task_colour(task: str, all_tasks: Sequence[str]) -> str:
    """Colour i for the data set's task i, whichever tasks a run picked."""
    names = list(all_tasks)
    i = names.index(task) if task in names else len(names) + sum(map(ord, task))
    return PALETTE[i % len(PALETTE)]


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> Series:
    """At most `max_points` points: the lowest and highest point of each of max_points/2 buckets.

    Unlike a stride, this keeps spikes (a loss jumping before it diverges). The last point is always
    kept, so the curve reaches the present. Vectorised: no Python loop over points or buckets.
    """
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(1, (max_points - 1) // 2)
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan, dtype=np.float64)
    padded[:n] = y
    grid = padded.reshape(buckets, size)
    nan = np.isnan(grid)
    lo = np.argmin(np.where(nan, np.inf, grid), axis=1)
    hi = np.argmax(np.where(nan, -np.inf, grid), axis=1)
    idx = (np.stack([lo, hi], axis=1) + (np.arange(buckets) * size)[:, None]).ravel()
    idx = np.unique(idx[idx < n])
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], y[idx]


@dataclass
class RunView:
    """What the charts of one run need, already split into per-series arrays."""

    tasks: list[str]  # the run's tasks, in order
    all_tasks: list[str]  # the data set's tasks (for colours)
    series: dict[tuple[str, str, str], Series]  # (split, name, task) -> (steps, values)
    metric: dict[str, tuple[str, bool]] = field(default_factory=dict)  # task -> (name, higher is better)
    weight_changes: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    total_steps: int = 0
    key: str = ""  # the run id: zoom is kept while it stays the same

    def get(self, split: str, name: str, task: str) -> Series | None:
        return self.series.get((split, name, task))


def split_series(df: pd.DataFrame) -> dict[tuple[str, str, str], Series]:
    """Long metrics (step, split, task, name, value) -> one float32 array pair per series."""
    out: dict[tuple[str, str, str], Series] = {}
    if df.empty:
        return out
    df = df.sort_values("step", kind="stable")
    for (split, name, task), g in df.groupby(["split", "name", "task"], sort=False):
        out[(str(split), str(name), str(task))] = (
            g["step"].to_numpy(dtype=np.float32), g["value"].to_numpy(dtype=np.float32))
    return out


class _Cut:
    """Downsamples traces and remembers whether any was cut, for the chart's note."""

    def __init__(self) -> None:
        self.total = 0
        self.shown = 0

    def __call__(self, s: Series) -> Series:
        x, y = downsample(*s)
        if len(x) < len(s[0]):
            self.total = max(self.total, len(s[0]))
            self.shown = max(self.shown, len(x))
        return x, y

    def note(self) -> list[dict]:
        if not self.total:
            return []
        return [{"text": f"showing {self.shown:,} of {self.total:,} points per curve (min/max per bucket)",
                 "xref": "paper", "yref": "paper", "x": 1, "y": 0, "xanchor": "right", "yanchor": "bottom",
                 "showarrow": False, "font": {"size": 10, "color": "#777"}, "bgcolor": "rgba(255,255,255,0.7)"}]


def _line(x: np.ndarray, y: np.ndarray, name: str, colour: str, **extra: object) -> dict:
    trace = {"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines",
             "line": {"color": colour, "width": 1.5}}
    trace.update(extra)
    return trace


def _waiting(text: str, view: RunView | None = None) -> dict:
    if view is not None and not view.key:
        text = "press Train: the curves appear here"
    return {"text": text, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False,
            "font": {"size": 13, "color": "#888"}}


def _title_lines(annotations: list[dict]) -> int:
    """Lines of the panel titles that sit on top of the plot (annotations anchored at its top)."""
    tops = [a.get("text", "") for a in annotations if a.get("yref") == "paper" and a.get("y", 0) >= 1
            and a.get("yanchor") == "bottom"]
    return max((t.count("\n") + 1 for t in tops), default=0)


def _figure(view: RunView, title: str, traces: list[dict], annotations: list[dict],
            shapes: list[dict] | None = None, axes: dict | None = None) -> go.Figure:
    """Shared look: title top left, legend under the plot (never over the title or under Plotly's
    toolbar, however many rows it wraps to), the x axis spanning the whole run."""
    names = [t.get("name", "") for t in traces if t.get("showlegend", True) and t.get("name")]
    rows = -(-len(names) // 4) if names else 0  # about 4 short entries ("left train") per row
    layout = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "y": 1,
                  "yanchor": "top", "yref": "container", "pad": {"t": 8}},
        "height": HEIGHT + 24 * rows, "margin": {"l": 8, "r": 8, "t": 40 + 16 * _title_lines(annotations), "b": 8},
        "legend": {"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left", "x": 0,
                   "font": {"size": 11}},
        "uirevision": view.key or "none", "hovermode": "x unified",
        "xaxis": {"title": {"text": "step", "standoff": 4}, "rangemode": "tozero"},
        "annotations": annotations, "shapes": shapes or [],
    }
    for name, spec in (axes or {}).items():
        layout[name] = {**layout.get(name, {}), **spec}
    for item in (*traces, *annotations):  # task names from data: Plotly reads <a href> in these texts
        for key in ("name", "text", "hovertext"):
            if isinstance(item.get(key), str):  # escaped, then our line breaks ("\n") become Plotly's
                item[key] = plot_text(item[key]).replace("\n", "<br>")
            elif isinstance(item.get(key), list):
                item[key] = [plot_text(t) for t in item[key]]
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def loss_figure(view: RunView, weighted: bool = False) -> go.Figure:
    """Per-task training loss (thin) and validation loss (dotted, with markers), on a log scale.

    `weighted` plots w_i * L_i instead of L_i: the share each task really has in the total, which
    is what a scale imbalance is about.
    """
    traces: list[dict] = []
    cut = _Cut()
    for task in view.tasks:
        colour = task_colour(task, view.all_tasks)
        train = view.get("train", "loss", task)
        if train is not None:
            x, y = train
            if weighted:
                w = view.get("train", "weight", task)
                if w is not None and len(w[1]) == len(y):
                    y = y * w[1]
            x, y = cut((x, y))
            traces.append(_line(x, y, f"{task} train", colour, legendgroup=task, opacity=0.85))
        val = view.get("val", "loss", task)
        if val is not None and not weighted:
            x, y = cut(val)
            traces.append(_line(x, y, f"{task} val", colour, legendgroup=task, mode=line_mode(len(x)),
                                line={"color": colour, "width": 2.5, "dash": "dot"},
                                marker={"size": 6, "color": colour}))
    notes = cut.note() + ([] if traces else [_waiting("waiting for the first steps...", view)])
    title = "Weighted loss w·L per task" if weighted else "Loss per task"  # the legend tells train from val
    return _figure(view, title, traces, notes,
                   axes={"yaxis": {"title": {"text": "w·loss" if weighted else "loss"}, **LOG_LOSS_AXIS}})


CLASS_METRICS_BESIDE = (("recall", "dash"), ("f1", "dot"))  # drawn beside accuracy, in its panel


def metric_figure(view: RunView) -> go.Figure:
    """Each task's main validation metric in its own panel (units differ between tasks); macro recall
    and F1 beside a classification task's accuracy."""
    tasks = view.tasks or [""]
    n, gap = len(tasks), 0.08
    width = (1 - gap * (n - 1)) / n
    traces: list[dict] = []
    notes: list[dict] = []
    axes: dict[str, dict] = {}
    cut = _Cut()
    for i, task in enumerate(tasks):
        suffix = "" if i == 0 else str(i + 1)
        lo = i * (width + gap)
        axes[f"xaxis{suffix}"] = {"domain": [lo, lo + width], "anchor": f"y{suffix}",
                                  "title": {"text": "step", "standoff": 4}, "rangemode": "tozero"}
        axes[f"yaxis{suffix}"] = {"anchor": f"x{suffix}"}
        name, higher = view.metric.get(task, ("", True))
        beside = [(m, dash) for m, dash in CLASS_METRICS_BESIDE if name == "accuracy" and view.get("val", m, task)]
        # one line per part when panels sit side by side, so neighbouring titles never meet
        sep = ": " if n == 1 else "\n"
        label = f"{task}{sep}{name} {'↑' if higher else '↓'}" if name else task
        if beside:
            label += (" " if n == 1 else "\n") + "(" + ", ".join(f"{m} {dash}" for m, dash in beside) + ")"
        notes.append({"text": label,
                      "xref": "paper", "yref": "paper", "x": lo + width / 2, "y": 1.0, "xanchor": "center",
                      "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
        s = view.get("val", name, task) if name else None
        if s is None:
            continue
        x, y = cut(s)
        colour = task_colour(task, view.all_tasks)
        traces.append(_line(x, y, f"{task} {name}", colour, mode=line_mode(len(x)), showlegend=False,
                            line={"color": colour, "width": 2.5}, marker={"size": 6},
                            xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
        for extra, dash in beside:  # macro recall and F1 share accuracy's 0..1 scale
            x, y = cut(view.get("val", extra, task))
            traces.append(_line(x, y, f"{task} {extra}", colour, mode="lines", showlegend=False,
                                line={"color": colour, "width": 1.5, "dash": dash},
                                xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
    if not traces:
        notes.append(_waiting("the first validation comes after a few steps...", view))
    return _figure(view, "Validation metric per task", traces, notes + cut.note(), axes=axes)


def weights_figure(view: RunView) -> go.Figure:
    """The weight each task's loss had at each step; dotted lines mark live slider changes."""
    traces: list[dict] = []
    cut = _Cut()
    for task in view.tasks:
        s = view.get("train", "weight", task)
        if s is None:
            continue
        x, y = cut(s)
        traces.append(_line(x, y, task, task_colour(task, view.all_tasks),
                            line={"color": task_colour(task, view.all_tasks), "width": 2, "shape": "hv"}))
    shapes, notes = [], []
    changes = view.weight_changes[-50:]
    if changes:
        top = max((float(np.max(view.series[k][1])) for k in view.series if k[:2] == ("train", "weight")),
                  default=1.0) * 1.08
        for step, _ in changes:
            shapes.append({"type": "line", "x0": step, "x1": step, "xref": "x", "y0": 0, "y1": 1,
                           "yref": "paper", "line": {"color": "#999", "width": 1, "dash": "dot"}})
        traces.append({"type": "scatter", "x": [c[0] for c in changes], "y": [top] * len(changes),
                       "mode": "markers", "name": "slider moved", "hoverinfo": "text",
                       "marker": {"symbol": "triangle-down", "size": 9, "color": "#777"},
                       "hovertext": [f"step {step}: " + ", ".join(f"{t} {w:g}" for t, w in ws.items())
                                     for step, ws in changes]})
    if not traces:
        notes.append(_waiting("waiting for the first steps...", view))
    return _figure(view, "Task weights", traces, notes + cut.note(), shapes,
                   axes={"yaxis": {"title": {"text": "weight"}, "rangemode": "tozero"}})


def cosine_figure(view: RunView) -> go.Figure:
    """Cosine similarity of each pair of task gradients; below zero (shaded) the tasks conflict."""
    traces: list[dict] = []
    cut = _Cut()
    pairs = [key[2] for key in view.series if key[0] == "grad" and key[1] == "cosine"]
    order = {t: i for i, t in enumerate(view.all_tasks)}
    pairs.sort(key=lambda p: tuple(order.get(t, 99) for t in p.split("|")))
    for j, pair in enumerate(pairs):
        x, y = cut(view.series[("grad", "cosine", pair)])
        a, _, b = pair.partition("|")
        traces.append(_line(x, y, f"{a} ↔ {b}", PAIR_COLOURS[j % len(PAIR_COLOURS)], mode=line_mode(len(x)),
                            marker={"size": 4}))
    shapes = [{"type": "rect", "x0": 0, "x1": 1, "xref": "paper", "y0": -1, "y1": 0, "yref": "y",
               "fillcolor": CONFLICT_FILL, "line": {"width": 0}, "layer": "below"}]
    notes = [{"text": "conflict", "xref": "paper", "x": 0, "yref": "y", "y": -0.95, "showarrow": False,
              "xanchor": "left", "yanchor": "bottom", "font": {"size": 10, "color": "#c0504d"}}]
    if not traces:
        notes.append(_waiting("needs two tasks and a model with shared parameters" if len(view.tasks) < 2
                              else "waiting for the first gradient measurement...", view))
    return _figure(view, "Gradient cosine between tasks", traces, notes + cut.note(), shapes,
                   axes={"yaxis": {"title": {"text": "cosine"}, "range": [-1.05, 1.05]}})
