"""A Plotly chart that updates in place, for the live panel that redraws every second.

Why not `st.plotly_chart`: Streamlit 1.67 derives a chart element's id from its figure, so every
refresh with new points mounts a new element and plots it from scratch. That loses the user's zoom
(`uirevision` only works within one plot) and costs the browser a full first plot per chart per
second (measured in headless Chromium on the 2-core target: four live charts took 0.66-0.77 of a
core, the training worker's share). This component keeps one `div` per chart for the page's life and
hands each new figure to `Plotly.react`, which diffs it against the drawn one: the zoom stays
and the same four charts take about half of that CPU.

plotly.js comes from the plotly Python package this app already depends on (the same version that
builds the figures), served by Streamlit's static file serving (`server.enableStaticServing` in
.streamlit/config.toml): the first use copies it to dashboard/static/ (ignored by git). Where that
cannot be done (static serving off, a read-only checkout) charts fall back to `st.plotly_chart`.
"""

from __future__ import annotations

import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

log = logging.getLogger("mtl.dashboard")

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"  # Streamlit serves <main script's folder>/static

# Loads plotly.js once per page (a script tag: the file is a UMD bundle that sets window.Plotly),
# keeps one div per component instance and redraws it with Plotly.react. The page's own font is
# used, so the charts read like the rest of the app.
_JS = r"""
let loading = null;
function plotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = new URL(src, document.baseURI).href;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { loading = null; reject(new Error('cannot load ' + src)); };
      document.head.appendChild(script);
    });
  }
  return loading;
}
// The app's theme is dark when its background is: then the charts take that background, the page's
// text colour and dim grid lines (the figure arrives with the light template).
function isDark() {
  const app = document.querySelector('.stApp') || document.body;
  const m = getComputedStyle(app).backgroundColor.match(/\d+(\.\d+)?/g);
  if (!m || m.length < 3) return false;
  const [r, g, b] = m.map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}
function darken(layout, textColour) {
  layout.paper_bgcolor = 'rgba(0,0,0,0)';
  layout.plot_bgcolor = 'rgba(0,0,0,0)';
  layout.font.color = textColour;
  const axis = {gridcolor: '#3a3d45', zerolinecolor: '#50535c', linecolor: '#50535c'};
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) Object.assign(layout[key], axis);
  }
  if (!layout.xaxis) layout.xaxis = Object.assign({}, axis);
  if (!layout.yaxis) layout.yaxis = Object.assign({}, axis);
  if (layout.legend) layout.legend.bgcolor = 'rgba(0,0,0,0)';
  for (const a of layout.annotations || []) {
    if (a.bgcolor) a.bgcolor = 'rgba(14,17,23,0.7)';
  }
}
export default function(component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector('.mtl-live-chart');
  if (!div) {
    div = document.createElement('div');
    div.className = 'mtl-live-chart';
    div.style.width = '100%';
    parentElement.appendChild(div);
    // Plotly's `responsive` follows the window only: a chart drawn before its column settled (Compare
    // switched to side by side) kept the wider size and spilled over the next column
    div.mtlResize = new ResizeObserver(() => {
      if (window.Plotly && div._fullLayout) window.Plotly.Plots.resize(div);
    });
    div.mtlResize.observe(div);
  }
  const figure = JSON.parse(data.figure);
  const layout = figure.layout || {};
  const style = getComputedStyle(document.body);
  layout.font = Object.assign({family: style.fontFamily}, layout.font || {});
  if (isDark()) darken(layout, style.color);
  plotly(data.src).then((Plotly) => Plotly.react(div, figure.data || [], layout, {
    responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d'],
  })).catch((err) => { div.textContent = 'The chart could not be drawn: ' + err.message; });
  return () => setTimeout(() => {
    if (div.isConnected) return;
    div.mtlResize.disconnect();
    if (window.Plotly) window.Plotly.purge(div);
  }, 0);
}
"""

_component = st.components.v2.component("mtl_live_chart", js=_JS, isolate_styles=False)


# What the live charts need of plotly.py's default template: axes that make room for their labels,
# light grid lines on white (the app's other charts get the same from Streamlit's theme).
_AXIS = {"automargin": True, "gridcolor": "#ebebeb", "zerolinecolor": "#d6d6d6", "linecolor": "#d6d6d6"}
_TEMPLATE = {"layout": {"xaxis": _AXIS, "yaxis": _AXIS, "plot_bgcolor": "white", "paper_bgcolor": "white"}}


def _enlarge(figure: go.Figure, scale: float) -> None:
    """Taller charts and larger type, for a projector."""
    layout = figure.layout
    if layout.height:
        layout.height = int(layout.height * scale)
    layout.font.size = int(12 * scale)
    if layout.title and layout.title.font and layout.title.font.size:
        layout.title.font.size = int(layout.title.font.size * scale)
    if layout.legend and layout.legend.font and layout.legend.font.size:
        layout.legend.font.size = int(layout.legend.font.size * scale)
    if layout.margin and layout.margin.t:
        layout.margin.t = int(layout.margin.t * scale)
    for note in layout.annotations or ():  # subplot titles, "press Train" hints
        note.font.size = int((note.font.size or 12) * scale)


def _plotly_js_source() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@lru_cache(maxsize=1)
def served_plotly_js() -> str | None:
    """The URL (relative to the app) of plotly.js under static serving, or None where it cannot be served.

    Named by the plotly package's version, so a browser never keeps an old copy from its cache.
    """
    try:
        if not st.get_option("server.enableStaticServing"):
            return None
        source = _plotly_js_source()
        target = STATIC_DIR / f"plotly-{plotly.__version__}.min.js"
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            STATIC_DIR.mkdir(exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        return f"app/static/{target.name}"
    except OSError as err:  # a read-only checkout: the charts still work, as st.plotly_chart
        log.warning("cannot serve plotly.js for the live charts (%s); using st.plotly_chart", err)
        return None


def figure_json(figure: go.Figure) -> str:
    """What the component draws: the figure as JSON with the small template below. A page may cache
    this string (the Compare page does for finished runs) and hand it to `live_chart`."""
    figure.layout.template = _TEMPLATE  # the default template is 7 kB a redraw; this is what it gives here
    return pio.to_json(figure, validate=False)


def live_chart(figure: go.Figure | str, key: str, scale: float = 1.0) -> None:
    """Draw `figure` (or its `figure_json`) under `key`, updating the chart already drawn under that
    key in place; `scale` enlarges its height and type (presenter mode; a figure only). In a dark app
    theme the browser side darkens the figure's background, text and grid (see `darken` above), so a
    theme switch needs no new figure."""
    if scale != 1.0:
        if isinstance(figure, str):
            raise TypeError("scale a figure, not its JSON")
        _enlarge(figure, scale)
    src = served_plotly_js()
    if src is None:
        st.plotly_chart(pio.from_json(figure) if isinstance(figure, str) else figure, key=key, width="stretch")
        return
    _component(data={"figure": figure if isinstance(figure, str) else figure_json(figure), "src": src}, key=key)
