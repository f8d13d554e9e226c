"""MTL Playground's Streamlit dashboard.

Pages in `app_pages/` stay thin; the logic they share lives in plain modules here (catalog, forms,
presets, charts, live) that import no Streamlit, so they are unit-tested directly. The dashboard
never imports torch: it reads the core's registries through `mtlcore.catalog` (told here to compute a
missing metadata snapshot in a subprocess), writes configs, starts runs through `mtlcore.launch` and
reads their points from the run store.
"""

from mtlcore.catalog import keep_torch_out

keep_torch_out()
