"""The app as an ASGI server that warms its imports at start: `streamlit run dashboard/server.py`.

A page's first load after `streamlit run dashboard/streamlit_app.py` pays 1-2 s importing pandas,
pyarrow, numpy and the core's catalogue, because Streamlit runs no app code before the first
visitor. Here a startup hook imports them on a background thread while the server already answers,
so the first visitor finds them loaded (or waits only for the rest). Same pages, same frame.
"""

from __future__ import annotations

import importlib
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import streamlit as st

# what every page's first run imports (measured with python -X importtime), heaviest first
PRELOAD = ("pandas", "pyarrow", "numpy", "plotly.graph_objects", "plotly.io", "mtlcore.catalog",
           "mtlcore.runs.store", "dashboard.shared.live", "dashboard.shared.state", "dashboard.shared.charts")
log = logging.getLogger("mtl.dashboard")


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  a failed warm-up only loses the head start; the page says why
            log.exception("preloading %s", name)


@asynccontextmanager
async def warm_imports(_app: Any) -> AsyncIterator[None]:
    threading.Thread(target=preload, name="mtl-preload", daemon=True).start()
    yield


app = st.App("streamlit_app.py", lifespan=warm_imports)
