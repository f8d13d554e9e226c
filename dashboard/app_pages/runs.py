"""Runs: every stored run in one table; filter, sort, rename, tag, delete, export, compare, resume.

The table and the exports are plain functions in dashboard.runs.table; this page only draws
widgets. Runs that are training show live progress in a fragment that refreshes by itself and
reloads the page when one of them ends, so the table never shows a finished run as running.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.runs import table as runs_table
from dashboard.shared import live, ownership, tables
from dashboard.shared.state import page_guard, store
from dashboard.shared.text import md_escape
from mtlcore import naming
from mtlcore.runs import workers
from mtlcore.runs.states import RESUMABLE, resume_problem
from mtlcore.runs.store import StoreError

COMPARE_PAGE = Path(__file__).resolve().parent / "compare.py"
SELECTED = "runs_selected"  # the runs the actions apply to
TABLE = "runs_table"
PENDING_DELETE = "_runs_pending_delete"
RESUME_ERROR = "_runs_resume_error"
SHOWN_ACTIVE = "_runs_shown_active"
LIVE_REFRESH_S = 1.5
MAX_COMPARE = 8
FILTERS = [("data set", "runs_dataset"), ("method", "runs_method"), ("status", "runs_status"), ("tags", "runs_tags")]


def active_filters() -> list[str]:
    """The filter lists with a choice in them (their labels)."""
    return [label for label, key in FILTERS if st.session_state.get(key)]


def table_selected(shown_ids: list[str]) -> None:
    """Rows clicked in the table become the selection the actions apply to."""
    rows = st.session_state[TABLE].selection.rows
    st.session_state[SELECTED] = [shown_ids[i] for i in rows if i < len(shown_ids)]


# -- callbacks (they run before the script, so they may change widget values) --------------------
def controllable(run_ids: list[str]) -> list[str]:
    """The runs this session may change: its own, or every run with the teacher key."""
    s = store()
    runs = [s.get_run(rid) for rid in run_ids]
    return [run["id"] for run in runs if run is not None and ownership.can_control(run)]


def rename(rid: str) -> None:
    new = st.session_state.get(f"runs_name_{rid}", "").strip()
    if new and controllable([rid]):
        store().rename(rid, new)
        st.toast(f"Renamed to {md_escape(new)}")


def retag(selected: list[str], add: bool) -> None:
    given = runs_table.parse_tags(st.session_state.get("runs_tag_text", ""))
    s = store()
    for rid in controllable(selected):
        run = s.get_run(rid)
        if run is not None:
            s.set_tags(rid, runs_table.with_tags(run["tags"], given if add else (), () if add else given))


def delete_pending() -> None:
    pending = controllable(st.session_state.get(PENDING_DELETE) or [])
    for rid in pending:
        store().delete_run(rid)
    st.session_state[PENDING_DELETE] = None
    st.session_state[SELECTED] = []
    st.toast(f"Deleted {len(pending)} run(s)")


def cancel_delete() -> None:
    st.session_state[PENDING_DELETE] = None


def resume_run(rid: str) -> None:
    """Queue the run again from its checkpoint; a worker continues it under the same id."""
    try:
        workers.start_resume(store(), rid)
    except (ValueError, StoreError) as exc:
        st.session_state[RESUME_ERROR] = str(exc)
    else:
        st.session_state[RESUME_ERROR] = None
        st.toast("Resuming the run from its last checkpoint")


def resume_button(rid: str) -> None:
    """For a stopped or interrupted run: resume it from its checkpoint, or say why it cannot be."""
    run = store().get_run(rid)
    if run is None or run["status"] not in RESUMABLE:
        return
    problem = resume_problem(run)
    if problem is not None:
        st.text(f"Cannot resume: {problem}")
        return
    st.button(f"Resume from step {int(run['checkpoint_step']):,}", icon=":material/play_arrow:", key="runs_resume",
              on_click=resume_run, args=(rid,),
              help="Continue this run from its last checkpoint under the same id: its curves go on where "
                   "they stopped, as if it had never been stopped")
    error = st.session_state.get(RESUME_ERROR)
    if error:
        st.text(f"Could not resume: {error}")


def live_status() -> None:
    """Progress of the runs training now; reloads the page when the set of active runs changes."""
    active = store().list_runs(status=list(live.ACTIVE))
    ids = sorted(active["id"])
    if st.session_state.get(SHOWN_ACTIVE) is not None and st.session_state[SHOWN_ACTIVE] != ids:
        st.session_state[SHOWN_ACTIVE] = ids
        st.rerun(scope="app")
    st.session_state[SHOWN_ACTIVE] = ids
    if active.empty:
        return
    st.markdown(f"**Training now** ({len(active)})")
    for row in active.sort_values("created").itertuples():
        frac = min(1.0, row.step / row.total_steps) if row.total_steps else 0.0
        text = (f"{md_escape(naming.display_name(row.name, row.id))} · {row.status} · step {row.step:,}"
                + (f" / {row.total_steps:,}" if row.total_steps else ""))
        st.progress(frac, text=text)


def filters(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    row = st.container(horizontal=True, gap="small")  # wraps in a narrow window
    text = row.text_input("Search", key="runs_search", placeholder="name, id, tag or sweep",
                          bind="query-params")
    # The four lists open from one button: a popover's widgets are drawn only when it opens (four
    # multiselects drawn with the page cost ~25 ms of its ~0.4 s to open), and they keep their state.
    active = active_filters()
    now = f"; now: {', '.join(active)}" if active else ""
    with row.popover(f"Filters ({len(active)})" if active else "Filters", icon=":material/filter_list:",
                     key="runs_filters", help=f"Data set, method, status and tags{now}"):
        datasets = st.multiselect("Data set", sorted(table["dataset"].unique()), key="runs_dataset", placeholder="any")
        methods = st.multiselect("Method", sorted(table["method"].unique()), key="runs_method", placeholder="any")
        statuses = st.multiselect("Status", sorted(table["status"].unique()), key="runs_status", placeholder="any")
        tags = st.multiselect("Tags", runs_table.all_tags(runs), key="runs_tags", placeholder="any")
    shown = runs_table.filter_runs(table, text, datasets, methods, statuses, tags)
    metric_cols = [c for c in table.columns if " · " in c]
    row = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")  # wraps when narrow
    by = row.selectbox("Sort by", list(runs_table.SORTABLE) + metric_cols, key="runs_sort", width=260)
    descending = row.toggle("Descending", value=True, key="runs_desc", width="content")
    row.radio("Final metrics of", ["val", "test"], key="runs_split", horizontal=True, width="content",
             help="Each run's last evaluation on the validation split, or its test result (finished runs)")
    return runs_table.sort_runs(shown, by, descending)


def actions(shown: pd.DataFrame) -> None:
    s = store()
    ids_shown = shown["id"].tolist()
    names = dict(zip(shown["id"], shown["name"]))
    selected = st.multiselect("Selected runs", ids_shown, key=SELECTED,
                              format_func=lambda rid: naming.display_name(names.get(rid, rid), rid),
                              help="Click rows in the table, or pick runs here")
    if not selected:
        st.caption("Select runs (click rows in the table) to compare, rename, tag, export or delete them.")
        return
    c1, c2, c3, c4 = st.columns(4)
    if c1.button(f"Compare {len(selected)} run(s)", icon=":material/compare_arrows:", type="primary",
                 disabled=len(selected) > MAX_COMPARE, key="runs_compare",
                 help=f"Opens the Compare page (at most {MAX_COMPARE} runs)"):
        st.switch_page(COMPARE_PAGE, query_params={"runs": ",".join(selected)})
    c2.download_button("Metrics (CSV)", data=lambda: runs_table.metrics_csv(s, selected),
                       file_name="mtl-metrics.csv", mime="text/csv", icon=":material/download:",
                       key="runs_csv", on_click="ignore",
                       help="Every stored point, long format: run_id, step, epoch, time, split, task, name, value")
    c3.download_button("Configs (JSON)", data=lambda: runs_table.configs_json(s, selected),
                       file_name="mtl-configs.json", mime="application/json", icon=":material/download:",
                       key="runs_json", on_click="ignore", help="Each run's config (enough to re-run it) and results")
    mine = controllable(list(selected))
    others = len(selected) - len(mine)
    if c4.button(f"Delete {len(selected)} run(s)", icon=":material/delete:", key="runs_delete", disabled=bool(others),
                 help=None if not others else "Only the browser that started a run (or the teacher) may delete it"):
        st.session_state[PENDING_DELETE] = list(selected)
    if others:
        st.caption(f":material/lock: {others} of the selected runs were started in another browser (or outside "
                   "the app): you may look at, compare and export them, but only their owner (or the teacher, "
                   "with the key in the sidebar) may rename, tag or delete them.")
    confirm_delete(shown)
    if len(selected) == 1:
        resume_button(selected[0])

    r1, r2 = st.columns(2)
    with r1:
        if len(selected) == 1:
            rid = selected[0]
            st.text_input("Name", value=names.get(rid, ""), key=f"runs_name_{rid}", disabled=not mine)
            st.button("Rename", key="runs_rename", on_click=rename, args=(rid,), disabled=not mine)
        else:
            st.caption("Select exactly one run to rename it.")
    with r2:
        st.text_input("Tags (comma separated)", key="runs_tag_text", placeholder="baseline, good")
        b1, b2 = st.columns(2)
        b1.button("Add tags", key="runs_tag_add", on_click=retag, args=(list(selected), True), disabled=bool(others))
        b2.button("Remove tags", key="runs_tag_remove", on_click=retag, args=(list(selected), False),
                  disabled=bool(others))


def confirm_delete(shown: pd.DataFrame) -> None:
    pending = st.session_state.get(PENDING_DELETE)
    if not pending:
        return
    statuses = dict(zip(shown["id"], shown["status"]))
    active = [rid for rid in pending if statuses.get(rid) in live.ACTIVE]
    if active:
        st.error(f"{len(active)} of these runs are still training; stop them on the Train page first.",
                 icon=":material/block:")
        st.session_state[PENDING_DELETE] = None
        return
    with st.container(border=True):
        st.warning(f"Delete {len(pending)} run(s) and every point they recorded? This cannot be undone.",
                   icon=":material/warning:")
        c1, c2 = st.columns(2)
        c1.button("Yes, delete", type="primary", key="runs_delete_confirm", on_click=delete_pending)
        c2.button("Cancel", key="runs_delete_cancel", on_click=cancel_delete)


def page() -> None:
    st.markdown("### :material/table_rows: Runs")
    runs = store().list_runs()
    any_active = bool(runs["status"].isin(live.ACTIVE).any()) if not runs.empty else False
    st.fragment(run_every=LIVE_REFRESH_S if any_active else None)(live_status)()
    if runs.empty:
        st.info("No runs yet: train one on the Train page, or start a sweep.", icon=":material/info:")
        return
    split = st.session_state.get("runs_split", "val")
    table = runs_table.runs_table(runs, split)
    shown = filters(runs, table)
    # keep the selection to runs that are still shown (a filter or a delete may have hidden some)
    if SELECTED in st.session_state:
        st.session_state[SELECTED] = [r for r in st.session_state[SELECTED] if r in set(shown["id"])]
    active = active_filters()
    st.caption(f"{len(shown)} of {len(table)} runs" + (f" · filtered by {', '.join(active)}" if active else ""))
    metric_cols = [c for c in shown.columns if " · " in c]
    # the metrics right after the name and status, so they are on screen without scrolling sideways
    st.dataframe(
        tables.styled(shown, list(shown["level"])), key=TABLE, on_select=lambda: table_selected(shown["id"].tolist()),
        selection_mode="multi-row", hide_index=True, placeholder=tables.BLANK,
        column_order=["name", "status", *metric_cols, "progress", "method", "architecture", "dataset", "tasks",
                      "source", "alerts", "duration_s", "created", "tags", "id"],
        column_config={
            "name": st.column_config.TextColumn("name", width="medium"),
            "status": st.column_config.TextColumn("status", width="small",
                                                  help="red: diverged or failed; amber: stopped, or finished "
                                                       "with alerts (a task stuck at chance)"),
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent",
                                                        width="small"),
            "alerts": st.column_config.TextColumn("alerts", width="medium"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.0f s"),
            "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
            **{c: st.column_config.NumberColumn(c, format="%.4f", width="small") for c in metric_cols},
        })
    actions(shown)


with page_guard("the Runs page"):
    page()
