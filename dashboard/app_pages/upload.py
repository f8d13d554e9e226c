"""Your data: a CSV or Parquet file becomes a data set whose chosen columns are tasks.

The page draws widgets and calls the core (`mtlcore.data.tabular`: read, check, preview, save);
every rule about the data lives there. A broken file or an impossible choice gets one line of
explanation and nothing is stored. After saving, one click opens the Train page on the new set.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.shared import catalog, widgets
from dashboard.shared.state import page_guard
from dashboard.shared.text import md_code, md_escape
from dashboard.train import forms
from mtlcore.data import tabular
from mtlcore.data.limits import MAX_CLASSES, MAX_DISCRETE, describe_bytes, max_rows, max_upload_bytes
from mtlcore.registry import ConfigError

FILE = "upload_file"
TARGETS = "upload_targets"
ALL_INPUTS = "upload_all_inputs"
INPUTS = "upload_inputs"
MISSING = "upload_missing"
NAME = "upload_name"
SAVE = "upload_save"
TRAIN = "upload_train"
SAVED = "upload_saved"  # {"file": file id, "name": data-set name, "tasks": [...]} of the last save
# what the uploader offers: CSV and its gzip-compressed form (read by the core), Parquet; "gz" too, for
# browsers whose file picker matches only a name's last extension
FILE_TYPES = ["csv", "tsv", "txt", "csv.gz", "tsv.gz", "gz", "parquet", "pq"]
_TABLE = "upload_parsed"  # (file id, Table): a file is parsed once, not on every rerun
_PREVIEW = "upload_preview"  # (choices, tasks table, sizes, notes) of the last preview

MISSING_LABELS = {"drop": "Drop rows", "median": "Impute the median", "most_frequent": "Impute the most frequent value"}
KIND_LABELS = {"auto": "auto", "classification": "classification", "regression": "regression"}


def kind_key(target: str) -> str:
    return f"upload_kind_{target}"


def how_files_are_read() -> None:
    with st.expander("How the file is read", icon=":material/info:"):
        st.markdown(
            f"- **CSV**: UTF-8 text (a UTF-8 or UTF-16 byte-order mark is fine), columns separated by "
            f"commas, semicolons, tabs or pipes (found from the header line), one header line; "
            f"gzip-compressed CSV (`.csv.gz`) is read too. "
            f"**Parquet**: numbers, text and true/false columns; other types are listed but cannot be chosen.\n"
            f"- Files are parsed, never executed or unpickled. Limits: {describe_bytes(max_upload_bytes())} "
            f"and {max_rows():,} rows (`MTL_MAX_UPLOAD_MB`, `MTL_MAX_ROWS`).\n"
            f"- A column is numeric when every value in it is a number; otherwise it is text.\n"
            f"- Missing: empty cells and {', '.join(t for t in tabular.NULL_TOKENS if t)}.\n"
            f"- A target becomes a **classification** when it is text or has at most {MAX_DISCRETE} distinct "
            f"numbers (at most {MAX_CLASSES} classes), a **regression** otherwise (standardised for "
            f"training, errors reported in the column's units). Classes come from the training split.\n"
            "- Rows are split 70 / 15 / 15 into training, validation and test by a seed (`data_seed` on "
            "the Train page). Numbers are standardised and text inputs one-hot encoded with the training "
            "split's statistics only.")


def parsed(uploaded: Any) -> tabular.Table:
    """The uploaded file's Table, parsed once per file."""
    held = st.session_state.get(_TABLE)
    if held is not None and held[0] == uploaded.file_id:
        return held[1]
    table = tabular.read_table(uploaded.getvalue(), uploaded.name)
    st.session_state[_TABLE] = (uploaded.file_id, table)
    return table


def preview(table: tabular.Table, choices: tuple) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """What the choices give at the default split: one row per task, the split sizes, the notes."""
    held = st.session_state.get(_PREVIEW)
    key = (table.sha256, choices)
    if held is not None and held[0] == key:
        return held[1]
    inputs, targets, missing, kinds = choices
    source = tabular.select_columns(table, list(inputs) if inputs is not None else None, list(targets),
                                    missing, dict(kinds))
    data = tabular.prepare(source, "preview")
    rows = []
    for spec in data.tasks.values():
        if spec.kind == "classification":
            what = ", ".join(data.info["classes"][spec.name][:10])
            detail = f"{spec.out_dim} classes: {what}" + (", ..." if spec.out_dim > 10 else "")
        else:
            detail = f"mean {spec.target_shift:.4g}, sd {spec.target_scale:.4g} (errors in these units)"
        rows.append({"task": spec.name, "kind": spec.kind, "metric": spec.main_metric.name, "details": detail})
    result = (pd.DataFrame(rows), dict(data.info["sizes"]), list(data.info["notes"]))
    st.session_state[_PREVIEW] = (key, result)
    return result


def default_name(filename: str) -> str:
    """The file's name without its extensions ('plants.csv.gz' -> 'plants')."""
    name = Path(filename).name
    for ext in sorted((f".{t}" for t in FILE_TYPES), key=len, reverse=True):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return name[:40] or "my-table"


def choose(table: tabular.Table) -> tuple | None:
    """The column and rule widgets; None until at least one target is chosen."""
    usable = [name for name, col in table.columns.items() if col.kind != "unsupported"]
    targets = st.multiselect("Target columns: each becomes a task", usable, key=TARGETS,
                             placeholder="Choose one or more columns")
    all_inputs = st.toggle("Use every other column as an input", value=True, key=ALL_INPUTS,
                           help="Columns that cannot be inputs (e.g. an identifier with thousands of "
                                "values) are then left out with a note.")
    inputs = None
    if not all_inputs:
        inputs = st.multiselect("Input columns", [c for c in usable if c not in targets], key=INPUTS)
    kinds: dict[str, str] = {}
    if targets:
        cols = st.columns(min(len(targets), 4))
        for i, t in enumerate(targets):
            with cols[i % len(cols)]:
                kinds[t] = st.selectbox(f"Task kind of '{md_escape(t)}'", list(KIND_LABELS), key=kind_key(t),
                                        format_func=KIND_LABELS.get)
    missing = st.radio("Missing inputs", list(MISSING_LABELS), key=MISSING, format_func=MISSING_LABELS.get,
                       horizontal=True)
    st.caption(f"Rule: {tabular.MISSING_RULES[missing]}. Always: {tabular.TARGET_RULE}.")
    if not targets:
        st.info("Choose at least one target column.", icon=":material/ads_click:")
        return None
    if inputs is not None and not inputs:
        st.info("Choose at least one input column.", icon=":material/ads_click:")
        return None
    return (tuple(inputs) if inputs is not None else None, tuple(targets), missing,
            tuple(sorted((t, k) for t, k in kinds.items() if k != "auto")))


def saved_banner(uploaded: Any) -> None:
    saved = st.session_state.get(SAVED)
    if not saved or saved["file"] != uploaded.file_id:
        return
    st.success(f"Saved as {md_code(saved['name'])} with tasks {md_escape(', '.join(saved['tasks']))}. Runs name "
               "it like a built-in set; its content hash is checked at every load.", icon=":material/check_circle:")
    if st.button("Train on it", key=TRAIN, icon=":material/play_arrow:", type="primary"):
        # through set_values, so the Train page's URL names the table's data set and tasks
        widgets.set_values({forms.DATASET: saved["name"], forms.TASKS: list(saved["tasks"])})
        st.switch_page("app_pages/train.py")


def stored_sets() -> None:
    if tabular.refresh_saved():  # stored by another process (the CLI, another server)
        catalog.datasets.cache_clear()
    sets = tabular.saved_tables()
    if not sets:
        return
    with st.expander(f"Stored tables ({len(sets)})", icon=":material/inventory_2:"):
        st.dataframe(pd.DataFrame([{
            "data set": m["name"], "title": m["title"], "rows": m.get("rows"),
            "tasks": ", ".join(f"{t} ({m['kinds'][t]})" for t in m["targets"]),
            "file": m.get("file", {}).get("name", ""), "saved": m.get("created", ""),
        } for m in sets]), hide_index=True, width="stretch")
        st.caption(f"In {md_code(tabular.data_dir())} (set `MTL_DATA_DIR` to keep them elsewhere).")


def page() -> None:
    st.markdown("### :material/upload_file: Your data")
    st.caption("Turn a table of yours into tasks: pick the columns to predict, save, and train with any "
               "weighting method.")
    how_files_are_read()
    # the browser states and enforces the app's own cap (whole megabytes, so rounded up: the check below is exact)
    uploaded = st.file_uploader("A CSV or Parquet file", type=FILE_TYPES, key=FILE,
                                max_upload_size=max(1, math.ceil(max_upload_bytes() / 2**20)))
    if uploaded is None:
        stored_sets()
        return
    limit = max_upload_bytes()
    if uploaded.size > limit:
        too_big = f"{uploaded.name} is {describe_bytes(uploaded.size)}, over the {describe_bytes(limit)} limit."
        st.error(md_escape(too_big),
                 icon=":material/error:")
        return
    try:
        table = parsed(uploaded)
    except ConfigError as exc:
        st.error(md_escape(exc), icon=":material/error:")
        return
    st.markdown(f"**{md_escape(table.filename)}**: {table.n_rows:,} rows, {len(table.columns)} columns "
                f"({describe_bytes(table.n_bytes)}).")
    for warning in table.warnings:
        st.warning(md_escape(warning), icon=":material/warning:")
    for note in table.notes:
        st.caption(md_escape(note))
    st.dataframe(table.preview(8), hide_index=True, width="stretch")
    with st.expander("Columns"):
        st.dataframe(pd.DataFrame(table.describe()), hide_index=True, width="stretch")

    choices = choose(table)
    problem = choices is None
    if choices is not None:
        try:
            tasks, sizes, notes = preview(table, choices)
        except ConfigError as exc:
            st.error(md_escape(exc), icon=":material/error:")
            problem = True
        else:
            st.markdown(f"**Tasks** · {sizes['train']:,} training, {sizes['val']:,} validation and "
                        f"{sizes['test']:,} test rows")
            st.dataframe(tasks, hide_index=True, width="stretch")
            for note in notes:
                st.caption(f":material/info: {md_escape(note)}")
    name = st.text_input("Name of the data set", value=default_name(table.filename), key=NAME, max_chars=80,
                         help="A content hash is appended, so the same name can never mean other data.")
    if st.button("Save data set", key=SAVE, icon=":material/save:", disabled=problem or not name.strip()):
        assert choices is not None
        inputs, targets, missing, kinds = choices
        try:
            saved = tabular.save_table(table, name, list(inputs) if inputs is not None else None,
                                       list(targets), missing, dict(kinds))
        except ConfigError as exc:
            st.error(md_escape(exc), icon=":material/error:")
        else:
            catalog.datasets.cache_clear()  # the Train page lists the new set
            st.session_state[SAVED] = {"file": uploaded.file_id, "name": saved.name,
                                       "tasks": [t.name for t in saved.tasks]}
    saved_banner(uploaded)
    stored_sets()


with page_guard("the Your data page"):
    page()
