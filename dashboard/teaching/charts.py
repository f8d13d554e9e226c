"""Plotly figures of the teaching pages: the toy landscape with trajectories, the loss-space plot and
the gradient-conflict plane. Pure functions of NumPy arrays (no Streamlit), written as plain dicts
and wrapped once without plotly's per-property validation (the step slider redraws them; the tests
validate every kind with plotly's full checks).

Colours: task i keeps charts.PALETTE[i] (as on every other page); a method keeps one colour of
METHOD_PALETTE on both teaching pages, picked by its place in the registry.

Animation: the landscape and loss-space figures carry Plotly frames, a Play / Pause pair of buttons
and a Plotly slider, so playing runs in the browser without a rerun of the page. A frame moves only
the dots (the current positions) along the paths; the paths are drawn whole, bold up to the page's
step and faint after it. At most MAX_FRAMES frames span the run (see frame_records).

The landscape's contours are a raster (a PNG in layout.images, drawn like a Plotly contour with
heatmap colouring: the colour scale over the loss and a thin line at every level), not a contour
trace: a frame drawn without a full redraw removes, in every subplot, the layers of trace types the
frame does not animate (plotly.js's cartesian plot of a transition), so contour traces vanished on
Play, and a full redraw per frame took most of a second. Layout images stay.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from dashboard.shared.charts import LEGEND_ROW_PX, PALETTE, legend_names, legend_rows
from dashboard.teaching.ink import ink, readable
from mtlcore import teaching as toy

# Method colours stay clear of the first task colours (blue, orange, green), which the gradients use.
METHOD_PALETTE = ("#7b3294", "#d62728", "#1a9a8a", "#e7298a", "#8c6d31", "#555555", "#17becf", "#b5a300",
                  "#6a51a3", "#a63603", "#c51b7d", "#2c7fb8", "#969696", "#8c564b", "#bcbd22", "#000080")
MAX_TRAJECTORY_POINTS = 400  # per trace; a trajectory keeps every k-th record (and its last one)
MAX_REST_POINTS = 100  # per start for the faint rest of a path, after the page's step
REST_OPACITY = 0.3
# Animation frames, evenly spaced over the run (the page's step included). Every frame restyles one
# dot trace per method on each of the four panels (three landscapes, the loss space), and plotly.py
# validates each such trace at every rerun (about 0.2 ms, even in a figure that skips validation), so
# the frames are as many as FRAME_TRACES allows: 30 for the papers' five methods, within the bounds.
MAX_FRAMES = 60
MIN_FRAMES = 20
FRAME_TRACES = 600
FRAME_MS = 80  # per frame when playing, then as long for the dots to glide (a linear transition) to the next


@dataclass(frozen=True)
class Detail:
    """How much of a run the animated figures carry: points per bold path, per faint rest of a path,
    and frames at most. The page opens LIGHT (a smaller page that the browser draws sooner) and offers
    FULL on demand; the recorded runs are the same."""

    points: int = MAX_TRAJECTORY_POINTS
    rest_points: int = MAX_REST_POINTS
    frames: int = MAX_FRAMES


FULL = Detail()
LIGHT = Detail(points=120, rest_points=40, frames=12)
CONE_FILL = "rgba(89, 161, 79, 0.18)"
START_SYMBOL = "x"
CONTOUR_SCALE = [[0.0, "#8fb8de"], [0.35, "#d6e6f4"], [1.0, "#ffffff"]]  # low loss darker, light enough for lines
CONTOUR_LEVELS = 28  # about this many levels, at a round step (as Plotly's ncontours)
CONTOUR_LINE = ((60, 60, 60), 0.3)  # colour and opacity of the level lines
BACKGROUND_PX = 420  # side of each panel's raster: about 1.4 pixels per screen pixel of a panel
PANEL_TITLES = ("L1 (task 1)", "L2 (task 2)", "mean (L1 + L2) / 2")


def method_colour(name: str, registry_order: Sequence[str], dark: bool = False) -> str:
    """The method's colour on every teaching chart: by its index in the registry (lightened where it
    would vanish on a dark page, see ink.readable)."""
    names = list(registry_order)
    i = names.index(name) if name in names else len(names) + sum(map(ord, name))
    return readable(METHOD_PALETTE[i % len(METHOD_PALETTE)], dark)


def task_colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _stride(n: int, max_points: int = MAX_TRAJECTORY_POINTS) -> np.ndarray:
    """Record indices to draw: every k-th, always ending at the last (the current position)."""
    if n <= max_points:
        return np.arange(n)
    idx = np.arange(0, n, math.ceil(n / max_points))
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


def frame_count(n_methods: int, detail: Detail = FULL) -> int:
    """Frames of each animated figure for this many methods (see FRAME_TRACES), at most detail.frames."""
    return min(detail.frames, max(MIN_FRAMES, min(MAX_FRAMES, FRAME_TRACES // max(4 * n_methods, 1))))


def frame_records(n_records: int, upto: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Record indices the animation shows, ascending: evenly spaced over the whole run, the first
    (the starts) and the last (the final points) included, plus `upto` (the page's step, where the
    figure opens); at most max_frames of them (every record when the run has no more)."""
    if n_records <= 0:
        return np.zeros(0, dtype=np.int64)
    upto = min(max(int(upto), 0), n_records - 1)
    if n_records <= max_frames:
        return np.arange(n_records)
    grid = np.unique(np.linspace(0, n_records - 1, max(max_frames - 1, 2)).round().astype(np.int64))
    return grid if upto in grid else np.sort(np.append(grid, upto))


def _frame_name(step: int) -> str:
    return f"step {step}"


CONTROLS_PX = 96  # bottom margin that holds the x-axis title, the Play / Pause buttons and the slider
_BELOW_AXIS_PX = 44  # the controls' top, below the plot area (clear of tick labels and axis title)


def _animation(steps: np.ndarray, records: np.ndarray, upto: int, trace_ids: list[int],
               frame_data: list[list[dict]], plot_px: float, dark: bool = False) -> tuple[list[dict], dict]:
    """Frames (one per record in `records`, each restyling the traces `trace_ids` with frame_data[k])
    and the layout entries of the Play / Pause buttons and the slider, which opens at `upto`.

    The controls sit under the plot area, whose height is plot_px (positions are in its units)."""
    names = [_frame_name(int(steps[r])) for r in records]
    frames = [{"name": name, "traces": trace_ids, "data": data} for name, data in zip(names, frame_data)]
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    play = {"mode": "immediate", "fromcurrent": True, "frame": {"duration": FRAME_MS, "redraw": False},
            "transition": {"duration": FRAME_MS, "easing": "linear"}}
    active = int(np.searchsorted(records, min(max(upto, 0), int(records[-1])), side="right") - 1)
    y = -_BELOW_AXIS_PX / max(plot_px, 1.0)
    colours = ink(dark)
    controls = {
        "updatemenus": [{
            "type": "buttons", "direction": "left", "showactive": False, "x": 0, "xanchor": "left",
            "y": y, "yanchor": "top", "pad": {"t": 14, "r": 4}, "bgcolor": colours.button_background,
            "bordercolor": colours.button_border, "font": {"color": colours.button_text},
            "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                        {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]}],
        }],
        "sliders": [{
            "active": max(active, 0), "x": 0.17, "len": 0.83, "xanchor": "left", "y": y, "yanchor": "top",
            "pad": {"t": 0, "b": 0}, "ticklen": 2, "minorticklen": 0, "bgcolor": colours.rail,
            "bordercolor": colours.button_border, "tickcolor": colours.muted,
            "font": {"color": "rgba(0,0,0,0)", "size": 8},  # one label per frame would overlap: none shown
            "currentvalue": {"prefix": "step ", "visible": True, "xanchor": "right", "offset": 6,
                             "font": {"size": 12, "color": colours.muted}},
            "steps": [{"label": f"{int(steps[r]):,}", "method": "animate", "args": [[name], still]}
                      for r, name in zip(records, names)],
        }],
    }
    return frames, controls


def _layout_title(text: str) -> dict:
    return {"text": text, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top",
            "yref": "container"}


TITLE_PX, NOTE_PX = 30, 18  # the title's line at a figure's top, and a note (subtitle) under it
NARROW_CHART_PX = 440  # a teaching chart's width in an 800 px window with the sidebar open


def _legend_under_title(layout: dict, traces: list[dict], note_px: int, plot_px: int, above_plot_px: int,
                        bottom_px: int) -> None:
    """Height, top margin and legend: the legend just under the title (and note) with room for its rows
    in a narrow window, then `above_plot_px` (panel titles) and the plot (a wrapped legend covered the title)."""
    top = TITLE_PX + note_px + LEGEND_ROW_PX * legend_rows(legend_names(traces), NARROW_CHART_PX) + above_plot_px
    height = plot_px + top + bottom_px
    layout.update(height=height, legend={"orientation": "h", "yref": "container", "yanchor": "top",
                                         "y": 1 - (TITLE_PX + note_px) / height, "xanchor": "left", "x": 0})
    layout["margin"] = {"l": 8, "r": 8, "t": top, "b": bottom_px}


def grid_for(starts: np.ndarray, n: int = 140) -> tuple[np.ndarray, np.ndarray]:
    """x1 and x2 grids covering the papers' window [-10, 10]^2 and every start."""
    lo = min(-10.0, float(np.min(starts)) - 1.0) if starts.size else -10.0
    hi = max(10.0, float(np.max(starts)) + 1.0) if starts.size else 10.0
    axis = np.linspace(lo, hi, n)
    return axis, axis.copy()


def _paths(values: np.ndarray, last: int, colour: str, label: str, group: str, width: float, legend: bool,
           axes: dict | None = None, detail: Detail = FULL) -> list[dict]:
    """Line traces of one method's paths (values: (S, K, 2)): bold up to record `last`, every start in one
    trace split by NaN gaps (carrying the legend entry when `legend`; one trace per method keeps the
    browser's drawing short), then faint to the end of the run."""
    axes = axes or {}
    done = _stride(last + 1, detail.points)
    bold = np.concatenate([values[:, done], np.full((values.shape[0], 1, 2), np.nan)], axis=1)
    flat = bold.reshape(-1, 2)[:-1].astype(np.float32)
    out = [{"type": "scatter", "x": flat[:, 0], "y": flat[:, 1], "mode": "lines",
            "line": {"color": colour, "width": width}, "name": label, "legendgroup": group,
            "showlegend": legend, "hoverinfo": "name", **axes}]
    if last < values.shape[1] - 1:  # the rest of the run, where the animation's dots go next: one trace,
        rest = last + _stride(values.shape[1] - last, detail.rest_points)  # the starts split by NaN gaps
        paths = np.concatenate([values[:, rest], np.full((values.shape[0], 1, 2), np.nan)], axis=1)
        flat = paths.reshape(-1, 2)[:-1].astype(np.float32)
        out.append({"type": "scatter", "x": flat[:, 0], "y": flat[:, 1], "mode": "lines",
                    "line": {"color": colour, "width": 1}, "opacity": REST_OPACITY,
                    "name": f"{label} (rest of the run)", "legendgroup": group, "showlegend": False,
                    "hoverinfo": "skip", **axes})
    return out


def _positions(values: np.ndarray, record: int, axes: dict | None = None) -> dict:
    """The dots' data at one record: every start's position (a frame restyles only this)."""
    now = values[:, record].astype(np.float32)
    return {"type": "scatter", "x": now[:, 0], "y": now[:, 1], **(axes or {})}


def _rounded(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """Values rounded to about `digits` significant digits of the largest one: frames carry plain
    lists (see _animate), and shorter numbers make a smaller page."""
    top = float(np.max(np.abs(values), initial=0.0, where=np.isfinite(values)))
    decimals = digits - 1 - (math.floor(math.log10(top)) if top > 0 else 0)
    return np.round(values, max(decimals, 0))


def _animate(figure: dict, runs: Sequence[toy.Trajectories], upto: int, dots: list[tuple[int, np.ndarray]],
             plot_px: float, detail: Detail = FULL, dark: bool = False) -> None:
    """Add frames and their controls to `figure`. dots: (trace index, (S, K, 2) values) of every dot
    trace; each frame puts every dot trace at that frame's record."""
    if not runs or not dots:
        return
    records = frame_records(runs[0].points.shape[1], upto, frame_count(len(runs), detail))
    if records.size < 2:
        return
    # Plain lists: plotly.py validates every frame's traces even in a figure that skips validation,
    # and checks a list about ten times faster than an array (which it would also encode one by one).
    at = [_rounded(values[:, records]).tolist() for _, values in dots]  # per dot trace: (S, F, 2)
    frame_data = [[{"type": "scatter", "x": [p[k][0] for p in pos], "y": [p[k][1] for p in pos]} for pos in at]
                  for k in range(records.size)]
    frames, controls = _animation(runs[0].steps, records, upto, [t for t, _ in dots], frame_data, plot_px, dark)
    figure["frames"] = frames
    figure["layout"].update(controls)


def animation_caption(runs: Sequence[toy.Trajectories], upto: int, detail: Detail = FULL) -> str:
    """What the charts' Play buttons show, for a caption under them."""
    if not runs:
        return ""
    n_records, most = runs[0].points.shape[1], frame_count(len(runs), detail)
    frames = frame_records(n_records, upto, most).size
    if frames < 2:
        return ""
    grid = frame_records(n_records, 0, most).size  # the even spacing, without the page's step
    every = runs[0].total_steps / (grid - 1)
    return (f"Play, on each chart, animates the whole run in the browser (no recomputing): {frames} frames, about "
            f"one every {every:,.0f} steps, so the {n_records:,} recorded positions are downsampled to at most "
            f"{most} (for {len(runs)} method(s)). The dots move along the paths, drawn bold up to the Step "
            f"slider's step and faint after it.")


def _level_step(span: float, count: int = CONTOUR_LEVELS) -> float:
    """The round step (1, 2, 2.5 or 5 times a power of ten) giving at most about `count` levels."""
    raw = span / count if span > 0 else 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-9))


def contour_image(z: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 picture of z (rows follow x2 upwards, as loss_grid's) like a Plotly contour
    with heatmap colouring: CONTOUR_SCALE over z's range, and a CONTOUR_LINE pixel wherever z crosses
    a level between neighbouring pixels. The top row is the highest x2 (image order)."""
    z = np.asarray(z, dtype=np.float64)[::-1]
    finite = np.isfinite(z)
    lo, hi = (float(z[finite].min()), float(z[finite].max())) if finite.any() else (0.0, 1.0)
    z = np.where(finite, z, hi)
    t = (z - lo) / (hi - lo) if hi > lo else np.zeros_like(z)
    stops = [pos for pos, _ in CONTOUR_SCALE]
    colours = [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in CONTOUR_SCALE]
    rgb = np.stack([np.interp(t, stops, [c[k] for c in colours]) for k in range(3)], axis=-1)
    band = np.floor((z - lo) / _level_step(hi - lo))
    line = np.zeros(z.shape, dtype=bool)
    line[:, 1:] |= band[:, 1:] != band[:, :-1]
    line[1:, :] |= band[1:, :] != band[:-1, :]
    colour, alpha = CONTOUR_LINE
    rgb[line] = rgb[line] * (1 - alpha) + np.asarray(colour, dtype=np.float64) * alpha
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image as PNG bytes (Pillow, which Streamlit itself depends on)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(out, format="PNG")
    return out.getvalue()


@lru_cache(maxsize=16)
def _backgrounds(imbalance: float, lo: float, hi: float) -> tuple[str, str, str]:
    """PNG data URIs of L1, L2 and their mean over [lo, hi]^2 (cached: the step slider redraws often)."""
    axis = np.linspace(lo, hi, BACKGROUND_PX)
    losses = toy.loss_grid(axis, axis, imbalance)
    return tuple("data:image/png;base64," + base64.b64encode(png_bytes(contour_image(z))).decode("ascii")
                 for z in (losses[..., 0], losses[..., 1], losses.mean(axis=-1)))  # type: ignore[return-value]


def backgrounds_for(starts: np.ndarray, imbalance: float) -> tuple[str, str, str]:
    """The three contour pictures of a landscape drawn around these starts (cached)."""
    gx, _ = grid_for(starts)
    return _backgrounds(float(imbalance), float(gx[0]), float(gx[-1]))


def warm_opening_view() -> None:
    """Draw the Landscape page's opening backgrounds (the Nash-MTL paper's starts and scale) into the
    cache, for the server's warm-up: on a fresh server the page's first view spent ~0.1 s on them."""
    backgrounds_for(np.asarray(toy.PAPER_STARTS), toy.NASH_IMBALANCE)


def landscape_figure(runs: Sequence[toy.Trajectories], upto: int, imbalance: float, registry_order: Sequence[str],
                     titles: dict[str, str] | None = None, key: str = "landscape", detail: Detail = FULL,
                     dark: bool = False) -> go.Figure:
    """Contours of L1, L2 and their mean side by side, every trajectory drawn up to record `upto`.

    Starts are crosses, the current positions dots, the Pareto set (x2 = -8.3552, x1 in [-7, 7]) a
    black segment. Each trajectory is cut to MAX_TRAJECTORY_POINTS points (a stride, said on the chart)
    and goes on faint after `upto`. Frames (Play / Pause and a slider) move the dots over the run.
    """
    starts = runs[0].starts if runs else np.asarray(toy.PAPER_STARTS)
    colours = ink(dark)
    gx, gy = grid_for(starts)
    edge = (gx[-1] - gx[0]) / (2 * (BACKGROUND_PX - 1))  # the rasters' pixels are centred on the grid
    backgrounds = backgrounds_for(starts, imbalance)
    gap = 0.04
    width = (1 - 2 * gap) / 3
    traces: list[dict] = []
    cut = bool(runs) and runs[0].points.shape[1] > detail.points
    layout: dict = {
        "title": _layout_title(f"Trajectories on the toy landscape (imbalance on L1: {imbalance:g})"),
        "uirevision": key,
        "annotations": [], "images": [], "hovermode": "closest",
    }
    dots: list[tuple[int, np.ndarray]] = []
    for p, source in enumerate(backgrounds):
        suffix = "" if p == 0 else str(p + 1)
        lo = p * (width + gap)
        layout[f"xaxis{suffix}"] = {"domain": [lo, lo + width], "anchor": f"y{suffix}", "title": {"text": "x1"},
                                    "range": [gx[0], gx[-1]], "zeroline": False, "showgrid": False}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "range": [gy[0], gy[-1]], "zeroline": False,
                                    "showgrid": False, "title": {"text": "x2" if p == 0 else ""}}
        layout["annotations"].append({"text": PANEL_TITLES[p], "xref": "paper", "yref": "paper", "x": lo + width / 2,
                                      "y": 1.0, "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 12}})
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        layout["images"].append({"source": source, "xref": f"x{suffix}", "yref": f"y{suffix}",
                                 "x": gx[0] - edge, "y": gy[-1] + edge, "sizex": gx[-1] - gx[0] + 2 * edge,
                                 "sizey": gy[-1] - gy[0] + 2 * edge, "xanchor": "left", "yanchor": "top",
                                 "sizing": "stretch", "layer": "below"})
        traces.append({"type": "scatter", "x": list(toy.PARETO_X1), "y": [toy.PARETO_X2] * 2, "mode": "lines",
                       "line": {"color": colours.strong, "width": 4}, "name": "Pareto set",
                       "legendgroup": "pareto", "showlegend": p == 0, "hoverinfo": "name", **axes})
        for run in runs:
            colour = method_colour(run.method, registry_order, dark)
            label = (titles or {}).get(run.method, run.method)
            last = min(max(upto, 0), run.points.shape[1] - 1)
            traces.extend(_paths(run.points, last, colour, label, run.method, 2, p == 0, axes, detail))
            dots.append((len(traces), run.points))
            traces.append({**_positions(run.points, last, axes), "mode": "markers",
                           "marker": {"color": colour, "size": 8, "line": {"color": colours.dot_outline, "width": 1}},
                           "name": label, "legendgroup": run.method, "showlegend": False,
                           "hovertemplate": f"{label}<br>x1 %{{x:.3f}}<br>x2 %{{y:.3f}}<extra></extra>"})
        traces.append({"type": "scatter", "x": starts[:, 0].astype(np.float32), "y": starts[:, 1].astype(np.float32),
                       "mode": "markers", "marker": {"symbol": START_SYMBOL, "size": 10, "color": colours.strong},
                       "name": "start", "legendgroup": "start", "showlegend": p == 0,
                       "hovertemplate": "start (%{x}, %{y})<extra></extra>", **axes})
    if cut:  # under the title (at the foot of a panel it covered that panel's tick label)
        layout["title"]["subtitle"] = {"text": f"each trajectory drawn with at most {detail.points} of its "
                                               f"{runs[0].points.shape[1]} recorded points",
                                       "font": {"size": 10, "color": colours.muted}}
    plot_px = 342
    _legend_under_title(layout, traces, NOTE_PX if cut else 0, plot_px, above_plot_px=36, bottom_px=8 + CONTROLS_PX)
    figure = {"data": traces, "layout": layout}
    _animate(figure, runs, upto, dots, plot_px, detail, dark)
    return go.Figure(figure, _validate=False)


def loss_space_figure(runs: Sequence[toy.Trajectories], upto: int, imbalance: float, registry_order: Sequence[str],
                      titles: dict[str, str] | None = None, key: str = "loss-space",
                      detail: Detail = FULL, dark: bool = False) -> go.Figure:
    """L1 against L2 along every trajectory, with the Pareto front (the image of the Pareto set).

    Like the landscape: paths bold up to record `upto` and faint after; frames move the dots."""
    front = toy.pareto_front(200, imbalance).astype(np.float32)
    colours = ink(dark)
    traces: list[dict] = [{"type": "scatter", "x": front[:, 0], "y": front[:, 1], "mode": "lines",
                           "line": {"color": colours.strong, "width": 4}, "name": "Pareto front",
                           "hoverinfo": "name"}]
    dots: list[tuple[int, np.ndarray]] = []
    for run in runs:
        colour = method_colour(run.method, registry_order, dark)
        label = (titles or {}).get(run.method, run.method)
        last = min(max(upto, 0), run.losses.shape[1] - 1)
        for trace in _paths(run.losses, last, colour, label, run.method, 1.5, True, None, detail):
            traces.append({**trace, "opacity": trace.get("opacity", 0.85)})
        dots.append((len(traces), run.losses))
        traces.append({**_positions(run.losses, last), "mode": "markers",
                       "marker": {"color": colour, "size": 8, "line": {"color": colours.dot_outline, "width": 1}},
                       "legendgroup": run.method, "showlegend": False, "name": label,
                       "hovertemplate": f"{label}<br>L1 %{{x:.3f}}<br>L2 %{{y:.3f}}<extra></extra>"})
    if runs:
        first = runs[0].losses[:, 0].astype(np.float32)
        traces.append({"type": "scatter", "x": first[:, 0], "y": first[:, 1], "mode": "markers",
                       "marker": {"symbol": START_SYMBOL, "size": 10, "color": colours.strong}, "name": "start",
                       "hovertemplate": "start: L1 %{x:.3f}, L2 %{y:.3f}<extra></extra>"})
    layout = {"title": _layout_title("Loss space: L1 against L2"), "uirevision": key, "hovermode": "closest",
              "xaxis": {"title": {"text": "L1"}}, "yaxis": {"title": {"text": "L2"}}}
    _legend_under_title(layout, traces, 0, 360, above_plot_px=8, bottom_px=8 + CONTROLS_PX)
    figure = {"data": traces, "layout": layout}
    _animate(figure, runs, upto, dots, 360, detail, dark)
    return go.Figure(figure, _validate=False)


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
                    key: str = "conflict", dark: bool = False) -> go.Figure:
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
        arrow(shown, method_colour(name, registry_order, dark), (titles or {}).get(name, name), "dash", 2.5, name)
    span = 1.15 * max(longest, radius if arc is not None else 0.0)
    layout = {
        "title": _layout_title("Task gradients and each method's direction"),  # short: the panel is narrow
        "height": 520, "margin": {"l": 8, "r": 8, "t": 62, "b": 8}, "uirevision": key, "hovermode": "closest",
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0},
        "xaxis": {"range": [-span, span], "zeroline": True, "zerolinecolor": ink(dark).zeroline,
                  "title": {"text": "direction 1"}},
        "yaxis": {"range": [-span, span], "zeroline": True, "zerolinecolor": ink(dark).zeroline, "scaleanchor": "x",
                  "scaleratio": 1, "title": {"text": "direction 2"}},
        "annotations": annotations,
    }
    return go.Figure({"data": traces, "layout": layout}, _validate=False)
