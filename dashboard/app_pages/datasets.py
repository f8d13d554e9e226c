"""Data sets: every set the core knows, its tasks (in their chart colours) and whether it can load here."""

from __future__ import annotations

import streamlit as st

from dashboard.shared import catalog, charts
from dashboard.shared.html_table import html_table
from dashboard.shared.state import page_guard
from dashboard.shared.text import md_code, md_escape
from dashboard.train import forms
from mtlcore.data import tabular


def train_on(name: str) -> None:
    st.session_state[forms.DATASET] = name
    st.session_state[forms.TASKS] = forms.default_tasks(name)


def task_rows(entry: dict) -> tuple[list[str], list[list[str]]]:
    """Each task's chart colour and its row: name, kind, loss, metrics (best direction), what it asks."""
    names = [t["name"] for t in entry["tasks"]]
    rows = [[t["name"], t["kind"], t["loss"],
             ", ".join(f"{m['name']} {'↑' if m['higher_is_better'] else '↓'}" for m in t["metrics"]),
             t["description"]] for t in entry["tasks"]]
    return [charts.task_colour(n, names) for n in names], rows


TASK_COLUMNS = ["task", "kind", "loss", "metrics", "what it asks"]


def show(entry: dict) -> None:
    """One set: its head (title, name, state, summary, source) is one markdown element and its
    parameters open from a popover, so nine sets draw in few elements (the page opens in ~1.5x a
    minimal page's time; it took 2.5x with each part an element of its own). A set whose tasks come
    from the user's own files (a table, an image folder) is not "not installed": it says what to
    give it, and its tasks are whatever columns are picked, so it has no task table."""
    yours = not entry["tasks"]
    with st.container(border=True):
        badge = (":blue-badge[:material/folder_open: your files]" if yours
                 else ":orange-badge[:material/download: not installed]" if entry["missing"]
                 else ":green-badge[:material/check: ready]")
        st.markdown(f"#### {md_escape(entry['title'])} &nbsp; {md_code(entry['name'])} &nbsp; {badge}\n\n"
                    f"{md_escape(entry['summary'])}\n\n"
                    + md_escape(f"Source: {entry['source']} · input: {entry['input_kind']}"))
        if entry["missing"]:
            (st.info if yours else st.warning)(md_escape(entry["missing"]),
                                               icon=":material/folder_open:" if yours else ":material/download:")
        if yours:
            st.caption("Its tasks are the columns you name as targets: one task per column.")
        else:
            colours, rows = task_rows(entry)
            st.html(html_table(TASK_COLUMNS, rows, colours))  # a data grid per set drew ~0.1 s each
        row = st.container(horizontal=True, gap="small")
        if entry["params"]:
            with row.popover("Parameters", icon=":material/tune:", key=f"params_{entry['name']}"):
                st.html(html_table(["name", "kind", "default", "help"],
                                   [(p["name"], p["kind"], str(p["default"]), p["help"]) for p in entry["params"]]))
        if entry["name"] == tabular.DIRECT_NAME:  # the set the Your data page fills
            row.page_link("app_pages/upload.py", label="Upload a table", icon=":material/upload_file:")
        if not entry["missing"]:
            if row.button("Train on this set", key=f"use_{entry['name']}", icon=":material/play_arrow:"):
                train_on(entry["name"])
                st.switch_page("app_pages/train.py")


def page() -> None:
    st.markdown("### :material/dataset: Data sets")
    st.caption("Each task keeps its colour on every chart. A set marked 'not installed' says how to get it; "
               "one marked 'your files' learns the tasks of a table or image folder of yours.")
    for entry in catalog.datasets():
        with page_guard(f"the data set {entry['name']}"):
            show(entry)


with page_guard("the Data sets page"):
    page()
