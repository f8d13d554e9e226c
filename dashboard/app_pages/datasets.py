"""Data sets: every set the core knows, its tasks (in their chart colours) and whether it can load here."""

from __future__ import annotations

import streamlit as st

from dashboard.shared import catalog, charts
from dashboard.shared.markdown_table import markdown_table
from dashboard.shared.state import page_guard
from dashboard.shared.swatch_table import swatch_table_html
from dashboard.shared.text import md_code, md_escape
from dashboard.train import forms


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
    with st.container(border=True):
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.markdown(f"#### {md_escape(entry['title'])} &nbsp; {md_code(entry['name'])}")
        if entry["missing"]:
            c2.badge("not installed", icon=":material/download:", color="orange")
        else:
            c2.badge("ready", icon=":material/check:", color="green")
        st.markdown(md_escape(entry["summary"]))
        st.caption(md_escape(f"Source: {entry['source']} · input: {entry['input_kind']}"))
        if entry["missing"]:
            st.warning(md_escape(entry["missing"]), icon=":material/download:")
        colours, rows = task_rows(entry)
        st.html(swatch_table_html(colours, rows, TASK_COLUMNS))  # a data grid per set drew ~0.1 s each
        if entry["params"]:
            with st.expander("Parameters"):  # markdown: nine data grids more cost ~0.1 s each to draw
                st.markdown(markdown_table([(p["name"], p["kind"], str(p["default"]), p["help"])
                                            for p in entry["params"]], ["name", "kind", "default", "help"]))
        if not entry["missing"]:
            if st.button("Train on this set", key=f"use_{entry['name']}", icon=":material/play_arrow:"):
                train_on(entry["name"])
                st.switch_page("app_pages/train.py")


def page() -> None:
    st.markdown("### :material/dataset: Data sets")
    st.caption("Each task keeps its colour on every chart. A set marked 'not installed' says how to get it.")
    for entry in catalog.datasets():
        with page_guard(f"the data set {entry['name']}"):
            show(entry)


with page_guard("the Data sets page"):
    page()
