"""Plotly figures and tables that compare runs: pure functions of CompareData, no Streamlit.

The faults of the usual trackers are avoided on purpose:
- smoothing (an exponential moving average) is computed on every stored point, then drawn over the
  raw curve, which stays visible, faint, underneath; never smoothing of already thinned points;
- a curve with more than MAX_POINTS points is thinned to the lowest and highest point per bucket
  (spikes stay) and the chart says so in a note;
- traces are built from float32 NumPy arrays, and `uirevision` keeps the user's zoom across reruns.
A colour means one run on every chart of the page (never a task: tasks and task pairs get panels of
their own); the split is told by the dash (train solid, val dashed).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.compare.data import CompareData, CompareRun, x_values
from dashboard.shared.charts import (
    LEGEND_ROW_PX,
    LOG_LOSS_AXIS,
    MAX_POINTS,
    downsample,
    legend_names,
    legend_rows,
    line_mode,
)
from dashboard.shared.live import alerts_text
from dashboard.shared.text import plot_text

SPLIT_DASH = {"train": "solid", "val": "dash", "grad": "solid"}
X_AXES = {"step": "step", "epoch": "epoch", "time": "wall time (s)"}
RAW_OPACITY = 0.22
HEIGHT = 320
EMA_SCALE_LIMIT = 300.0  # natural log of the largest weight w^-i an EMA block uses (e^300 ~ 1e130)


def ema(y: np.ndarray, smoothing: float) -> np.ndarray:
    """Debiased exponential moving average: s_t = w s_(t-1) + (1 - w) y_t, divided by 1 - w^(t+1)
    so the start is not pulled towards zero. `smoothing` (w) is in [0, 1); 0 returns y.

    NumPy only (scipy.signal's lfilter cost 1.25 s of imports on a page's first visit): within a
    block, s_j = w^(j+1) s_prev + (1 - w) w^j cumsum(w^-i y_i), with blocks short enough that
    w^-i stays far from overflow; the last value carries into the next block."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if smoothing == 0.0 or len(y) == 0:
        return y
    y64 = np.asarray(y, dtype=np.float64)
    n, w = len(y64), smoothing
    block = max(1, min(n, int(EMA_SCALE_LIMIT / -np.log(w))))
    s = np.empty(n)
    prev = 0.0
    for start in range(0, n, block):
        chunk = y64[start:start + block]
        j = np.arange(len(chunk))
        grow = w ** -j  # at most exp(EMA_SCALE_LIMIT)
        s[start:start + len(chunk)] = w ** (j + 1) * prev + (1.0 - w) * (w ** j) * np.cumsum(chunk * grow)
        prev = s[start + len(chunk) - 1]
    debias = 1.0 - w ** np.arange(1, n + 1)
    return (s / debias).astype(np.float32)


class _Thinning:
    """Thins curves to MAX_POINTS and remembers the largest cut, for the chart's note."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(x) > MAX_POINTS:
            self.total = max(self.total, len(x))
            return downsample(x, y, MAX_POINTS)
        return x, y

    def note(self, smoothing: float, compact: bool = False) -> str:
        """What the chart does to its curves; `compact`: short lines for a narrow (side-by-side) chart."""
        return _join_note(self.parts(smoothing, compact), compact)

    def parts(self, smoothing: float, compact: bool = False) -> list[str]:
        parts = []
        if self.total:
            parts.append(f"thinned to {MAX_POINTS:,} of {self.total:,} points (min, max)" if compact else
                         f"curves over {MAX_POINTS:,} points are drawn thinned (lowest and highest point "
                         f"per bucket; longest curve {self.total:,} points)")
        if smoothing:
            parts.append(f"EMA {smoothing:g} of every point, raw faint" if compact else
                         f"smoothed: EMA {smoothing:g} over every stored point, raw curve faint underneath")
        return parts


def _join_note(parts: Sequence[str], compact: bool) -> str:
    """One line for a wide chart; a line each for a narrow one (a long line was cut at its edge)."""
    return ("<br>" if compact else "; ").join(p for p in parts if p)


class Panels:
    """A row of subplots built as plain dicts (make_subplots and add_trace(row, col) cost 5-10x more
    per figure, which matters with dozens of figures per page view). Shared with the sweep charts."""

    def __init__(self, titles: Sequence[str], shared_y: bool = False, spacing: float = 0.08) -> None:
        self.n = max(1, len(titles))
        width = (1.0 - spacing * (self.n - 1)) / self.n
        self.layout: dict[str, Any] = {"annotations": [], "shapes": []}
        for i in range(self.n):
            x0 = i * (width + spacing)
            xa, ya = self.axis("x", i), self.axis("y", i)
            self.layout[xa.replace("x", "xaxis", 1)] = {"anchor": ya, "domain": [x0, x0 + width]}
            yaxis: dict[str, Any] = {"anchor": xa, "domain": [0.0, 1.0]}
            if shared_y and i:
                yaxis.update(matches="y", showticklabels=False)
            self.layout[ya.replace("y", "yaxis", 1)] = yaxis
            if i < len(titles) and titles[i]:
                self.layout["annotations"].append({
                    "text": plot_text(titles[i]), "x": x0 + width / 2, "y": 1.0, "xref": "paper", "yref": "paper",
                    "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
        self.traces: list[dict[str, Any]] = []

    @staticmethod
    def axis(letter: str, i: int) -> str:
        return letter if i == 0 else f"{letter}{i + 1}"

    def add(self, col: int, trace: dict[str, Any]) -> None:
        self.traces.append({"type": "scatter", "xaxis": self.axis("x", col), "yaxis": self.axis("y", col), **trace})

    def yaxis(self, col: int, **props: Any) -> None:
        self.layout[self.axis("yaxis", col) if col else "yaxis"].update(props)

    def xaxes(self, **props: Any) -> None:
        for i in range(self.n):
            self.layout["xaxis" if i == 0 else f"xaxis{i + 1}"].update(props)

    def figure(self, title: str, uirevision: str, note: str, empty: str, height: int = HEIGHT) -> go.Figure:
        """The figure: title top left with the note (thinning, smoothing) as its subtitle, legend in
        rows under the plot (where long run names neither cover the title nor sit under Plotly's
        toolbar at the top right); the height grows with the legend, so the plot keeps its size."""
        layout = self.layout
        n_rows = legend_rows(legend_names(self.traces))
        note_rows = note.count("<br>") + 1 if note else 0
        layout.update(
            title={"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left", "y": 1, "yanchor": "top",
                   "yref": "container", "pad": {"t": 8},
                   **({"subtitle": {"text": note, "font": {"size": 10, "color": "#777"}}} if note else {})},
            height=height + LEGEND_ROW_PX * n_rows + NOTE_ROW_PX * max(0, note_rows - 1),
            margin={"l": 8, "r": 8, "t": 58 + NOTE_ROW_PX * note_rows, "b": 8},
            legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left",
                    "x": 0, "font": {"size": 11}},
            uirevision=uirevision, hovermode="closest")
        if not self.traces:
            layout["annotations"].append({"text": empty, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                          "showarrow": False, "font": {"size": 13, "color": "#888"}})
        # built from our own dicts: plotly's validation of every property was half the build time
        return go.Figure({"data": self.traces, "layout": layout}, _validate=False)


NOTE_ROW_PX = 14  # a line of the 10 px note under a chart's title


def _curve(panels: Panels, col: int, data: CompareData, run: CompareRun, split: str, name: str, task: str,
           x_axis: str, smoothing: float, thin: _Thinning, colour: str, legend: bool, label: str) -> None:
    """One curve, its EMA over every point when smoothing, and the raw curve faint underneath."""
    curve = data.curve(run.id, split, name, task)
    if curve is None:
        return
    steps, y = curve
    x = x_values(data, run, steps, x_axis).astype(np.float32)
    dash = SPLIT_DASH.get(split, "dot")
    hover = f"{plot_text(run.label)}<br>{split} {name} ({plot_text(task)})<br>%{{x}}: %{{y:.4g}}<extra></extra>"
    if smoothing:
        rx, ry = thin(x, y)
        panels.add(col, {"x": rx, "y": ry, "mode": "lines", "opacity": RAW_OPACITY, "showlegend": False,
                         "legendgroup": label, "hoverinfo": "skip",
                         "line": {"color": colour, "width": 1, "dash": dash}})
        y = ema(y, smoothing)
    sx, sy = thin(x, y)
    mode = line_mode(len(sx)) if split != "train" else "lines"
    panels.add(col, {"x": sx, "y": sy, "mode": mode, "name": plot_text(label), "legendgroup": label,
                     "showlegend": legend,
                     "line": {"color": colour, "width": 2 if split != "grad" else 1.5, "dash": dash},
                     "marker": {"size": 5}, "hovertemplate": hover})


def task_figure(data: CompareData, task: str, runs: Sequence[CompareRun] | None = None, x_axis: str = "step",
                smoothing: float = 0.0, log_y: bool = False, splits: Sequence[str] = ("train", "val"),
                y_ranges: Mapping[str, Sequence[float] | None] | None = None, key: str = "",
                compact: bool = False) -> go.Figure:
    """Two panels for one task: the loss (per split) and the validation main metric, one colour per run.

    `y_ranges` ({"loss": [lo, hi], "metric": [lo, hi]}, loss in log10 units when `log_y`) fixes the
    axes, so side-by-side columns share them. The log toggle applies to the loss panel. `compact`
    puts each part of the note on its own short line (a side-by-side column is ~260 px wide).
    """
    if x_axis not in X_AXES:
        raise ValueError(f"x_axis must be one of {list(X_AXES)}, got {x_axis!r}")
    runs = list(runs if runs is not None else data.runs)
    metric_names = sorted({r.metric[task][0] for r in runs if task in r.metric})
    arrows = "".join(sorted({"↑" if r.metric[task][1] else "↓" for r in runs if task in r.metric}))
    dashes = " · ".join(f"{s} {'solid' if SPLIT_DASH.get(s) == 'solid' else 'dashed'}" for s in splits)
    # short panel titles (side by side, a panel can be 120 px wide); the dashes are told in the note
    panels = Panels([f"loss{' (log)' if log_y else ''}",
                      f"val {' / '.join(metric_names) or 'metric'} {arrows}".strip()], spacing=0.09)
    thin = _Thinning()
    for run in runs:
        if task not in run.tasks:
            continue
        # one legend entry per run (its colour); clicking it hides all of that run's curves
        for i, split in enumerate(splits):
            _curve(panels, 0, data, run, split, "loss", task, x_axis, smoothing, thin, run.colour, i == 0,
                   run.label)
        if task in run.metric and "val" in splits:
            _curve(panels, 1, data, run, "val", run.metric[task][0], task, x_axis, smoothing, thin, run.colour,
                   False, run.label)
    panels.yaxis(0, **(LOG_LOSS_AXIS if log_y else {"type": "linear"}))
    if y_ranges:
        if y_ranges.get("loss") is not None:
            panels.yaxis(0, range=list(y_ranges["loss"]))
        if y_ranges.get("metric") is not None:
            panels.yaxis(1, range=list(y_ranges["metric"]))
    panels.xaxes(title={"text": X_AXES[x_axis], "standoff": 2})
    note = _join_note([dashes, *thin.parts(smoothing, compact)], compact)
    return panels.figure(task, key or f"cmp-{task}-{x_axis}-{log_y}", note, "no points for this task yet")


def _span(values: list[np.ndarray], log: bool) -> list[float] | None:
    vals = np.concatenate(values) if values else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    if log:
        vals = vals[vals > 0]
    if not len(vals):
        return None
    lo, hi = float(vals.min()), float(vals.max())
    if log:
        lo, hi = float(np.log10(lo)), float(np.log10(hi))
    pad = (hi - lo) * 0.04 or (abs(hi) * 0.05 or 0.05)
    return [lo - pad, hi + pad]


def shared_ranges(data: CompareData, task: str, splits: Sequence[str] = ("train", "val"),
                  log_y: bool = False) -> dict[str, list[float] | None]:
    """The loss and metric y-ranges that hold every selected run's curves of one task (raw values,
    so smoothing never moves the axes)."""
    loss, metric = [], []
    for run in data.runs:
        for split in splits:
            c = data.curve(run.id, split, "loss", task)
            if c is not None:
                loss.append(c[1])
        if task in run.metric and "val" in splits:
            c = data.curve(run.id, "val", run.metric[task][0], task)
            if c is not None:
                metric.append(c[1])
    return {"loss": _span(loss, log_y), "metric": _span(metric, False)}


def weights_figure(data: CompareData, runs: Sequence[CompareRun] | None = None, x_axis: str = "step") -> go.Figure:
    """The task weights over time: a panel per task, a colour per run (the colours of the curves
    above, so a colour means one run everywhere on the page)."""
    runs = list(runs if runs is not None else data.runs)
    tasks = [t for t in data.tasks if any(t in r.tasks for r in runs)]
    panels = Panels([f"weight of {t}" for t in tasks], shared_y=True, spacing=_spacing(len(tasks)))
    thin = _Thinning()
    shown: set[str] = set()
    for col, task in enumerate(tasks):
        for run in runs:
            c = data.curve(run.id, "train", "weight", task) if task in run.tasks else None
            if c is None:
                continue
            x, y = thin(x_values(data, run, c[0], x_axis).astype(np.float32), c[1])
            panels.add(col, {"x": x, "y": y, "mode": "lines", "name": plot_text(run.label), "legendgroup": run.label,
                             "showlegend": run.id not in shown,
                             "hovertemplate": (f"{plot_text(run.label)}<br>weight of {plot_text(task)}"
                                               "<br>%{x}: %{y:.4g}<extra></extra>"),
                             "line": {"color": run.colour, "width": 2, "shape": "hv"}})
            shown.add(run.id)
    panels.yaxis(0, rangemode="tozero")
    panels.xaxes(title={"text": X_AXES[x_axis], "standoff": 2})
    return panels.figure("Task weights over time", f"cmp-weights-{x_axis}",
                         thin.note(0.0), "no weights recorded yet")


def _spacing(panels: int) -> float:
    return 0.03 if panels > 3 else 0.06


def cosine_figure(data: CompareData, runs: Sequence[CompareRun] | None = None, x_axis: str = "step",
                  smoothing: float = 0.0) -> go.Figure:
    """The gradient cosine: a panel per task pair, a colour per run (below 0, shaded: conflict)."""
    runs = list(runs if runs is not None else data.runs)
    pairs: list[str] = []
    for run in runs:
        pairs += [p for p in run.pairs if p not in pairs and data.curve(run.id, "grad", "cosine", p) is not None]
    panels = Panels([p.replace("|", " ↔ ") for p in pairs], shared_y=True, spacing=_spacing(len(pairs)))
    thin = _Thinning()
    shown: set[str] = set()
    for col, pair in enumerate(pairs):
        for run in runs:
            if pair not in run.pairs or data.curve(run.id, "grad", "cosine", pair) is None:
                continue
            _curve(panels, col, data, run, "grad", "cosine", pair, x_axis, smoothing, thin, run.colour,
                   run.id not in shown, run.label)
            shown.add(run.id)
        panels.layout["shapes"].append({"type": "rect", "xref": f"{panels.axis('x', col)} domain",
                                        "yref": panels.axis("y", col), "x0": 0, "x1": 1, "y0": -1, "y1": 0,
                                        "fillcolor": "rgba(225, 87, 89, 0.08)", "line": {"width": 0},
                                        "layer": "below"})
    panels.yaxis(0, range=[-1.05, 1.05])
    panels.xaxes(title={"text": X_AXES[x_axis], "standoff": 2})
    return panels.figure("Gradient cosine (below 0: conflict)",
                         f"cmp-cosine-{x_axis}", thin.note(smoothing),
                         "no gradient measurements (one task, or grad_stats_every = 0)")


# -- tables -------------------------------------------------------------------------------------
def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"optim.lr": 0.001, ...}; lists as compact JSON text."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))  # an empty dict adds nothing: its fields show as absent
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def config_diff(configs: Mapping[str, Mapping[str, Any]], ignore: Sequence[str] = ("name",)) -> pd.DataFrame:
    """Only the config fields whose values differ between runs: a row per field, a column per run.
    A field one run lacks (an older config) counts as different and shows as empty."""
    flat = {label: flatten(cfg) for label, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f} - set(ignore))
    missing = object()
    rows = {}
    for k in keys:
        vals = [f.get(k, missing) for f in flat.values()]
        if any(v is missing for v in vals) or len({json.dumps(v, sort_keys=True, default=str) for v in vals}) > 1:
            rows[k] = ["" if v is missing else (v if isinstance(v, str) else json.dumps(v)) for v in vals]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(flat)).rename_axis("field")


def final_table(runs: Sequence[CompareRun], split: str, delta: pd.DataFrame | None = None) -> pd.DataFrame:
    """A row per run: its final metrics of `split` per task (arrow: which way is better), then
    Delta-m (%) against its single-task baselines with each task's part, and the baseline's id.
    An "alerts" column (after the status) holds the alerts of runs that raised any."""
    dm = delta.set_index("run_id") if delta is not None and not delta.empty else None
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.label, "status": run.row.get("status", "")}
        if alerts_text(run.row.get("summary")):
            row["alerts"] = alerts_text(run.row.get("summary"))
        results = ((run.row.get("summary") or {}).get(split) or {})
        for task in run.tasks:
            for metric, value in (results.get(task) or {}).items():
                if metric == "loss":
                    continue
                arrow = {True: " ↑", False: " ↓", None: ""}[run.directions.get(task, {}).get(metric)]
                row[f"{task} {metric}{arrow}"] = float(value)
        if dm is not None and run.id in dm.index:
            d = dm.loc[run.id]
            row["Δm (%) ↓"] = float(d["delta_m"])
            for task, part in (d["per_task"] or {}).items():
                row[f"Δ {task} (%)"] = float(part)
            row["baseline"] = d["baseline_id"] or "missing"
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).set_index("run")
    if "alerts" in table.columns:  # right after the status, which it qualifies
        table.insert(1, "alerts", table.pop("alerts").fillna(""))
    return table
