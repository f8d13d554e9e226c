"""MTL Playground's entry point: `streamlit run dashboard/streamlit_app.py`.

The frame: page list, page config and the shared sidebar. A new page is one file under app_pages/:
it is shown after the pages listed here (see dashboard/shared/pages.py); a line in PAGES gives it
a place and an icon. The first page is the home page.
`dashboard` and `mtlcore` are imported as installed packages (`pip install -e .`, done by make).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.shared import live, ownership, present
from dashboard.shared.pages import page_list, url_path
from dashboard.shared.state import RUN_PARAM, SWEEP_PARAM, page_guard, store, store_problem
from dashboard.shared.text import md_code, md_escape
from dashboard.shared.timing import script_run
from mtlcore import naming
from mtlcore.runs.queue import max_concurrent

# A file of ours, served by this server: a Material icon as the page icon is fetched from Google's font
# CDN by every browser on every load (a failed DNS lookup offline: nothing may download at run time).
ICON = str(Path(__file__).resolve().parent / "assets" / "icon.png")

PAGES: list[tuple[str, str, str]] = [
    ("app_pages/train.py", "Train", ":material/model_training:"),
    ("app_pages/runs.py", "Runs", ":material/table_rows:"),
    ("app_pages/compare.py", "Compare", ":material/compare_arrows:"),
    ("app_pages/sweep.py", "Sweep", ":material/scatter_plot:"),
    ("app_pages/landscape.py", "Landscape", ":material/landscape:"),
    ("app_pages/explorer.py", "Conflict explorer", ":material/explore:"),
    ("app_pages/guide.py", "Method guide", ":material/menu_book:"),
    ("app_pages/datasets.py", "Data sets", ":material/dataset:"),
    ("app_pages/upload.py", "Your data", ":material/upload_file:"),
]


SIDEBAR_REFRESH_S = 3.0  # the active runs' list redraws itself this often while any run is queued or training
TITLE = "**MTL Playground**  \nSee and tune how one network balances several tasks."
SWEEP_PAGE = "app_pages/sweep.py"  # where a sweep's line in the sidebar leads


def active_runs(train_page: st.Page, first_read: list[pd.DataFrame], refreshing: bool) -> None:
    """The title and the active runs, each a link to follow it. Drawn as a fragment that reruns by
    itself while runs are active (`refreshing`), so their progress moves on every page; when the last
    one ends, the whole page reruns once and the timer stops. `first_read`: the script run's own read
    of the active runs, used once; the fragment's own reruns get the same (then empty) list and read afresh."""
    with page_guard("the list of active runs"):
        active = first_read.pop() if first_read else store().list_runs(status=list(live.ACTIVE))
        if refreshing and active.empty:
            st.rerun()
        where = f"Runs are stored in {md_code(store().path)}."
        st.markdown(f"{TITLE}\n\n**Active runs** ({len(active)}; up to {max_concurrent()} train at once)"
                    + (f"  \n:small[None right now.]\n\n:small[{where}]" if active.empty else ""))
        in_sweep = active["group_id"].fillna("") != ""
        for row in active[~in_sweep].itertuples():
            pct = f" · {100 * row.step / row.total_steps:.0f}%" if row.total_steps else ""
            shown = md_escape(naming.display_name(row.name, row.id))
            st.page_link(train_page, label=f"{shown} ({row.status}{pct})", help=shown,  # the label is cut
                         icon=":material/hourglass_top:" if row.status == "queued" else ":material/play_circle:",
                         query_params={RUN_PARAM: row.id})
        # a sweep's runs share their name but for the weights, which a cut label hides: one line each
        for group, runs in active[in_sweep].groupby("group_id", sort=False):
            running = int((runs["status"] == "running").sum())
            about = f"sweep {group}: {runs['dataset'].iloc[0]}, {', '.join(runs['tasks'].iloc[0])}"
            st.page_link(SWEEP_PAGE, label=f"Sweep: {running} running, {len(runs) - running} queued",
                         icon=":material/scatter_plot:", query_params={SWEEP_PARAM: str(group)},
                         help=md_escape(about))
        if not active.empty:
            st.caption(where)


def sidebar(train_page: st.Page) -> None:
    # few elements: every page pays for each one the browser draws (one Markdown element holds the
    # title and the active runs' heading; a sidebar element is ~10 ms of a page's time to open here)
    with st.sidebar:
        ownership.remember_browser()
        problem = store_problem()
        if problem is not None:  # one message; the pages that need no store keep working
            st.markdown(TITLE)
            st.warning("Runs cannot be stored or listed: the run database is unusable (the Train, Runs, "
                       "Compare and Sweep pages say why). Method guide, Landscape, Conflict explorer and "
                       "Data sets work without it.", icon=":material/database:")
            return
        first_read: list[pd.DataFrame] = []
        with page_guard("the list of active runs"):
            first_read.append(store().list_runs(status=list(live.ACTIVE)))
        busy = bool(first_read) and not first_read[0].empty
        st.fragment(run_every=SIDEBAR_REFRESH_S if busy else None)(active_runs)(train_page, first_read, busy)
        ownership.teacher_sidebar()
        present.sidebar_toggle()


def main() -> None:
    st.set_page_config(page_title="MTL Playground", page_icon=ICON, layout="wide")
    pages = [st.Page(entry[0], title=entry[1], icon=entry[2], url_path=url_path(entry), default=(i == 0))
             for i, entry in enumerate(page_list(PAGES, Path(__file__).resolve().parent / "app_pages"))]
    presenting = present.presenting()
    if presenting:  # charts only: no navigation, no sidebar, large type
        nav = st.navigation(pages, position="hidden")
        present.apply_style()
        if nav.url_path != pages[0].url_path:  # the Train page has its own way out, beside its sliders
            present.exit_button()
    else:
        nav = st.navigation(pages)
    with script_run(nav.title):  # timed only when MTL_PAGE_TIMING is set (benchmarks/bench_app.py)
        if not presenting:
            sidebar(pages[0])
        nav.run()


# Streamlit runs this script as __main__. A worker of the toy's process pool re-imports it as
# "__mp_main__" (multiprocessing's rule for a __main__ that is a file), and benchmarks/bench_app.py
# imports the frame's parts: neither draws the app.
if __name__ == "__main__":
    main()
