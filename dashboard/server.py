"""The app's server: `streamlit run dashboard/server.py` (what `make run` starts).

The same pages and frame as `streamlit run dashboard/streamlit_app.py`, served as a `st.App` with two
additions. A startup hook imports pandas, pyarrow, numpy and the core's catalogue on a thread as the
server starts, and does the other once-per-process work of a first page (Streamlit's first-element
check, Pillow's plugins, the Landscape's opening backgrounds): Streamlit runs no app code before the
first visitor, who otherwise paid for them. And
every page's HTML starts with what the browser should know before Streamlit's JavaScript runs
(page_head.py): where the server's root is (backend_base.py: no failed probe of the page's URL
first) and which of Streamlit's modules its elements need (chunk_preload.py).
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import streamlit as st
from starlette.middleware import Middleware

from dashboard import streamlit_app
from dashboard.backend_base import base_script
from dashboard.chunk_preload import APP_ELEMENTS, PAGE_ELEMENTS, preload_links
from dashboard.page_head import PageHeadMiddleware
from dashboard.shared.pages import page_list, url_path

# what every page's first run imports (measured with python -X importtime), heaviest first; then
# pandas' Styler (with jinja2, ~60 ms), which the styled tables of Runs, Compare and Landscape import,
# and the teaching charts of Landscape and the Conflict explorer (~50 ms)
PRELOAD = ("pandas", "pyarrow", "numpy", "plotly.graph_objects", "plotly.io", "mtlcore.catalog",
           "mtlcore.runs.store", "dashboard.shared.live", "dashboard.shared.state", "dashboard.shared.charts",
           "pandas.io.formats.style", "dashboard.teaching.charts", "mtlcore.data", "dashboard.compare.data",
           "dashboard.compare.charts")
log = logging.getLogger("mtl.dashboard")


# The rest of a first page's once-per-process work, as (module, function), each measured with cProfile
# on a fresh server: Streamlit's first element checks whether it runs in a Python REPL, walking the
# stack with `inspect`, which resolves the file of every loaded module (~1,400 here: 0.18 s; a private
# function, so a Streamlit without it only loses the head start); Pillow registers its image plugins
# on the first open of the page icon (~35 ms); the Landscape's opening contour pictures (~0.1 s).
WARM_UP = (("streamlit.delta_generator", "_maybe_print_use_warning"), ("PIL.Image", "preinit"),
           ("dashboard.teaching.charts", "warm_opening_view"))


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  a failed warm-up only loses the head start; the page says why
            log.exception("preloading %s", name)
    for name, function in WARM_UP:
        try:
            getattr(importlib.import_module(name), function)()
        except Exception:  # noqa: BLE001  the first page does it itself then
            log.exception("warming up %s.%s", name, function)
    # The modules' ~120,000 objects live as long as the server. Python's cyclic collector scanned them
    # all in each full collection (~90-200 ms holding the GIL, now and then in the middle of a page
    # load; Streamlit's collection after every run is off in .streamlit/config.toml): frozen, it skips
    # them (refcounting still frees them).
    gc.freeze()


@asynccontextmanager
async def warm_imports(_app: Any) -> AsyncIterator[None]:
    # On a thread, while the server already answers. Awaited here instead (the server answering
    # ~0.5 s later), the first load right after the start was no faster in bench_app.
    threading.Thread(target=preload, name="mtl-preload", daemon=True).start()
    yield


URL_PATHS = [url_path(entry) for entry in page_list(streamlit_app.PAGES)]
BASE = base_script(URL_PATHS)
COMMON = preload_links(APP_ELEMENTS)
BY_PAGE = {page: preload_links(elements, leave_out=APP_ELEMENTS) for page, elements in PAGE_ELEMENTS.items()}


def page_head(page: str) -> str:
    """What each page's HTML starts with: the server's root and the modules its elements need ("" is
    the home page, the first listed)."""
    return BASE + COMMON + BY_PAGE.get(page or URL_PATHS[0], "")


app = st.App("streamlit_app.py", lifespan=warm_imports,
             middleware=[Middleware(PageHeadMiddleware, head_for=page_head)])
