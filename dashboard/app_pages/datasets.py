"""Data sets: every set the core knows, its tasks (in their chart colours) and whether it can load here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.shared import catalog, charts
from dashboard.shared.markdown_table import markdown_table
from dashboard.shared.state import page_guard
from dashboard.shared.text import md_code, md_escape
from dashboard.train import forms


def train_on(name: str) -> None:
    st.session_state[forms.DATASET] = name
    st.session_state[forms.TASKS] = forms.default_tasks(name)


def task_table(entry: dict) -> pd.DataFrame:
    names = [t["name"] for t in entry["tasks"]]
    return pd.DataFrame({
        "": [charts.task_colour(t["name"], names) for t in entry["tasks"]],
        "task": names,
        "kind": [t["kind"] for t in entry["tasks"]],
        "loss": [t["loss"] for t in entry["tasks"]],
        "metrics": [", ".join(f"{m['name']} {'↑' if m['higher_is_better'] else '↓'}" for m in t["metrics"])
                    for t in entry["tasks"]],
        "what it asks": [t["description"] for t in entry["tasks"]],
    })


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
        table = task_table(entry)
        st.dataframe(
            table.style.map(lambda c: f"background-color: {c}; color: {c}", subset=[""]),
            hide_index=True, width="stretch",
            column_config={"": st.column_config.TextColumn("", width=12),
                           "what it asks": st.column_config.TextColumn(width="large")})
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
