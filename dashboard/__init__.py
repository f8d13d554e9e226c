"""MTL Playground's Streamlit dashboard.

`streamlit_app.py` is the frame and `app_pages/` holds one thin script per page. The logic they use
lives in folders by feature: `shared/` (the store handle, the catalogue, widgets, run charts and
live reading used by several pages), `train/`, `compare/`, `sweeps/`, `teaching/` and `runs/`. Apart
from the Streamlit glue (shared/state.py, shared/widgets.py, shared/live_chart.py) these modules
import no Streamlit, so they are unit-tested directly. The dashboard never imports torch itself: it
reads the core's registries through `mtlcore.catalog` (told here to compute a missing metadata
snapshot in a subprocess), writes configs, starts runs through `mtlcore.runs.executor` and reads their
points from the run store.
"""

from mtlcore.catalog import keep_torch_out

keep_torch_out()
