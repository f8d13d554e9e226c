"""Data sets: every set the core knows in one table (state, input, tasks), and the card of one set: its
tasks in their chart colours, what to install or give it, its parameters and a button to train on it.

One table and one card, like the Method guide: nine cards at once made the page the slowest of the
light pages to open (~50 elements; the browser draws each), and a table reads faster across sets."""

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


OPEN = "set"  # the picked set; in the URL by its title, so a link can open one set's card
OVERVIEW_COLUMNS = ["set", "name", "state", "input", "tasks"]


def state(entry: dict) -> str:
    """A set whose tasks come from the user's own files (a table, an image folder) is not "not
    installed": it learns whatever it is given."""
    return "your files" if not entry["tasks"] else "not installed" if entry["missing"] else "ready"


BADGES = {"your files": ":blue-badge[:material/folder_open: your files]",
          "not installed": ":orange-badge[:material/download: not installed]",
          "ready": ":green-badge[:material/check: ready]"}


def overview_rows(entries: list[dict]) -> list[tuple[str, ...]]:
    return [(e["title"], e["name"], state(e), e["input_kind"],
             ", ".join(t["name"] for t in e["tasks"]) or "the columns you pick") for e in entries]


def first_ready(entries: list[dict]) -> str:
    """The card shown first: a set that trains here as it is."""
    return next((e["name"] for e in entries if state(e) == "ready"), entries[0]["name"])


def show(entry: dict) -> None:
    """One set: its head (title, name, state, summary, source) is one markdown element and its
    parameters open from a popover. A set of the user's files says what to give it, and its tasks
    are whatever columns are picked, so it has no task table."""
    yours = not entry["tasks"]
    with st.container(border=True):
        badge = BADGES[state(entry)]
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
    st.caption("Every set the core knows. Pick one for its tasks (each keeps its colour on every chart), its "
               "parameters and a button to train on it. A set 'not installed' says how to get it; one of "
               "'your files' learns the tasks of a table or image folder of yours.")
    entries = list(catalog.datasets())
    st.html(html_table(OVERVIEW_COLUMNS, overview_rows(entries)))
    by_name = {e["name"]: e for e in entries}
    linked = {t: n for n, t in catalog.titles(entries).items()}.get(st.query_params.get(OPEN, ""))  # by title
    if (st.session_state.get(OPEN) or linked) not in by_name:  # nothing picked yet, nor a set's title in the URL
        st.session_state[OPEN] = first_ready(entries)
    name = st.selectbox("Details of", list(by_name), key=OPEN, format_func=lambda n: by_name[n]["title"],
                        bind="query-params", width=420)
    with page_guard(f"the data set {name}"):
        show(by_name[name])


with page_guard("the Data sets page"):
    page()
