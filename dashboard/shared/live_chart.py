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
_JS = """
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
export default function(component) {
  const { data, parentElement } = component;
  let div = parentElement.querySelector('.mtl-live-chart');
  if (!div) {
    div = document.createElement('div');
    div.className = 'mtl-live-chart';
    div.style.width = '100%';
    parentElement.appendChild(div);
  }
  const figure = JSON.parse(data.figure);
  const layout = figure.layout || {};
  layout.font = Object.assign({family: getComputedStyle(document.body).fontFamily}, layout.font || {});
  plotly(data.src).then((Plotly) => Plotly.react(div, figure.data || [], layout, {
    responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d'],
  })).catch((err) => { div.textContent = 'The chart could not be drawn: ' + err.message; });
  return () => setTimeout(() => { if (!div.isConnected && window.Plotly) window.Plotly.purge(div); }, 0);
}
"""

_component = st.components.v2.component("mtl_live_chart", js=_JS, isolate_styles=False)


# What the live charts need of plotly.py's default template: axes that make room for their labels,
# light grid lines on white (the app's other charts get the same from Streamlit's theme).
_AXIS = {"automargin": True, "gridcolor": "#ebebeb", "zerolinecolor": "#d6d6d6", "linecolor": "#d6d6d6"}
_TEMPLATE = {"layout": {"xaxis": _AXIS, "yaxis": _AXIS, "plot_bgcolor": "white", "paper_bgcolor": "white"}}


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


def live_chart(figure: go.Figure, key: str) -> None:
    """Draw `figure` under `key`, updating the chart already drawn under that key in place."""
    src = served_plotly_js()
    if src is None:
        st.plotly_chart(figure, key=key, width="stretch")
        return
    figure.layout.template = _TEMPLATE  # the default template is 7 kB a redraw; this is what it gives here
    _component(data={"figure": pio.to_json(figure, validate=False), "src": src}, key=key)
