"""MTL Playground's Streamlit dashboard.

Pages in `app_pages/` stay thin; the logic they share lives in plain modules here (catalog, forms,
presets, charts, live) that import no Streamlit, so they are unit-tested directly. The dashboard
never imports torch itself: it reads the core's registries, writes configs, starts runs through
`mtlcore.runs.executor` and reads their points from the run store.
"""
