"""Compare: 2 to 8 runs overlaid or side by side, their config differences, final metrics and Delta-m.

The selection lives in the URL (`?runs=id1,id2`), so the Runs and Sweep pages open this page on
their runs and a link shares a comparison. Curves come from dashboard.compare.data (one indexed
read per curve, cached per run until the run moves on) and figures from dashboard.compare.charts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.compare import charts as cc
from dashboard.compare.data import CompareData, combine, load_run, run_rows, waited_on
from dashboard.shared import live, ownership, tables
from dashboard.shared.live_chart import figure_json, live_chart
from dashboard.shared.script_store import ScriptRunStore
from dashboard.shared.state import page_guard, store
from dashboard.shared.text import md_escape
from dashboard.shared.wrap import wrapping_row
from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs import executor
from mtlcore.sweeps.delta_m import (
    AVERAGING,
    AVERAGING_LABELS,
    BASELINE_ARCHITECTURE,
    CLASSIFICATION_METRICS,
    DEFINITION,
    baseline_config,
    comparison_key,
    delta_m_for_runs,
    find_baselines,
)

RUNS_PARAM = "runs"
SELECT = "compare_runs"
MIN_RUNS, MAX_RUNS = 2, 8
LIVE_REFRESH_S = 2.0
WATCHED = "_compare_watched"  # ids of the shown or awaited runs that are queued or training
PAGE_RUN = "_compare_page_run"  # a whole-page run's store, taken by the fragment it draws
RUNS_PAGE = Path(__file__).resolve().parent / "runs.py"


def run_key(row: dict) -> tuple[str, str, int, str]:
    """What a run's curves and charts depend on: id, status and step (a training run is re-read as it
    moves, a finished one once) and name (a rename). The caches below key on this, not on the whole
    row: hashing its config and summary was a fifth of the page's script time with three runs."""
    return str(row["id"]), str(row.get("status")), int(row.get("step") or 0), str(row.get("name") or "")


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_run(db: str, key: tuple[str, str, int, str], with_clock: bool, _row: dict) -> CompareData:
    """One run's curves, cached under its `run_key`."""
    return load_run(store(), _row, with_clock)


def selection_from_url(options: list[str]) -> list[str]:
    raw = st.query_params.get(RUNS_PARAM, "")
    return [r for r in raw.split(",") if r in options][:MAX_RUNS]


def selection_changed() -> None:
    chosen = st.session_state.get(SELECT) or []
    if chosen:
        st.query_params[RUNS_PARAM] = ",".join(chosen)
    elif RUNS_PARAM in st.query_params:
        del st.query_params[RUNS_PARAM]


def start_baseline(run_id: str) -> str | None:
    """Start the single-task baseline of `run_id`; its id, or None (the run is gone, or its config
    no longer reads: said above the table)."""
    s = store()
    run = s.get_run(run_id)
    if run is None:
        return None
    try:
        config = baseline_config(RunConfig.from_dict(run["config"]))
        return executor.start(config, s, name=config.name, owner=ownership.session_owner())
    except ConfigError as exc:
        st.session_state["_compare_error"] = str(exc)
        return None


def train_baselines(run_ids: list[str]) -> None:
    started = [rid for rid in map(start_baseline, run_ids) if rid]
    if started:
        what = "the single-task baseline" if len(started) == 1 else f"{len(started)} single-task baselines"
        st.toast(f"Training {what} ({md_escape(', '.join(started))}); Delta-m appears as each finishes.")


def choose_runs(s: ScriptRunStore) -> list[str]:
    runs = s.list_runs()
    if runs.empty:
        st.info("No runs yet: train some on the Train page or start a sweep.", icon=":material/info:")
        return []
    options = runs["id"].tolist()
    shown = naming.display_names(zip(runs["id"], runs["name"]))
    labels = {r.id: f"{shown[r.id]} · {r.status}" for r in runs.itertuples()}
    if SELECT not in st.session_state:
        st.session_state[SELECT] = selection_from_url(options)
    else:
        st.session_state[SELECT] = [r for r in st.session_state[SELECT] if r in labels]
    return st.multiselect(f"Runs to compare ({MIN_RUNS} to {MAX_RUNS})", options, key=SELECT,
                          max_selections=MAX_RUNS, format_func=lambda r: labels.get(r, r),
                          on_change=selection_changed, placeholder="pick runs, or select them on the Runs page")


def controls() -> None:
    """One row that wraps in a narrow window: each control keeps its whole label."""
    row = st.container(horizontal=True, gap="medium")
    row.radio("x-axis", list(cc.X_AXES), key="compare_x", horizontal=True, bind="query-params", width="content")
    row.slider("Smoothing (EMA)", 0.0, 0.99, 0.0, 0.01, key="compare_smoothing", bind="query-params", width=220,
               help="Exponential moving average over every stored point; the raw curve stays faint underneath")
    row.toggle("Log-scale loss", key="compare_log", value=True, bind="query-params", width="content")
    row.radio("Layout", ["overlay", "side by side"], key="compare_layout", horizontal=True, bind="query-params",
              width="content")
    row.multiselect("Splits", ["train", "val"], default=["train", "val"], key="compare_splits", width=220,
                    help="train solid, val dashed")


def load(db: str, rows: list[dict]) -> CompareData:
    """The selected runs (their store rows, in the order they were selected) with their curves,
    cached per run."""
    with_clock = st.session_state.get("compare_x", "step") == "time"
    return combine([_cached_run(db, run_key(row), with_clock, row) for row in rows])


# Side by side, each run's column is at least this wide and the row wraps below it: at 800 px, three
# runs in one row were 145 px each, their tick labels turned on end and their captions cut.
SIDE_BY_SIDE_MIN_PX = 260  # three runs fit a row at 1280 px with the sidebar open


def chart_key(task: str, run_id: str = "") -> str:
    """A task's chart (overlay), or one run's chart of it (side by side)."""
    return f"cmp_{task}_{run_id}" if run_id else f"cmp_{task}"


@st.cache_data(max_entries=16, show_spinner=False)
def _charts(runs_key: tuple, x_axis: str, smoothing: float, log_y: bool, splits: tuple[str, ...], side: bool,
            _data: CompareData) -> dict[str, str]:
    """Chart key -> figure JSON for this selection and these settings. `runs_key` (the selected runs'
    `run_key`s, in order: colours and labels follow the order) says what `_data` holds, so a
    selection of finished runs is built and serialised once (4 figures of 3 runs: ~40 ms a view)."""
    out: dict[str, str] = {}
    for task in _data.tasks:
        if side:
            ranges = cc.shared_ranges(_data, task, list(splits), log_y)
            for run in _data.runs:
                out[chart_key(task, run.id)] = figure_json(cc.task_figure(
                    _data, task, [run], x_axis, smoothing, log_y, list(splits), ranges,
                    key=f"sbs-{task}-{x_axis}-{log_y}", compact=True))
        else:
            out[chart_key(task)] = figure_json(
                cc.task_figure(_data, task, None, x_axis, smoothing, log_y, list(splits)))
    out["cmp_weights"] = figure_json(cc.weights_figure(_data, x_axis=x_axis))
    out["cmp_cosine"] = figure_json(cc.cosine_figure(_data, x_axis=x_axis, smoothing=smoothing))
    return out


def curves(data: CompareData) -> None:
    """Everything drawn from the curves (part of the fragment that refreshes while a selected run trains)."""
    side = st.session_state.get("compare_layout") == "side by side"
    figures = _charts(tuple(run_key(r.row) for r in data.runs),
                      st.session_state.get("compare_x", "step"), float(st.session_state.get("compare_smoothing", 0.0)),
                      bool(st.session_state.get("compare_log", True)),
                      tuple(st.session_state.get("compare_splits") or ["train", "val"]), side, data)
    for i, task in enumerate(data.tasks):
        if side:
            # a run per column where they fit, wrapped where not
            cols = wrapping_row(f"cmp_sbs_{i}", SIDE_BY_SIDE_MIN_PX, len(data.runs))
            for col, run in zip(cols, data.runs):
                with col:
                    live_chart(figures[chart_key(task, run.id)], key=chart_key(task, run.id))
        else:
            live_chart(figures[chart_key(task)], key=chart_key(task))
    st.markdown("#### Task weights and gradient cosine")
    live_chart(figures["cmp_weights"], key="cmp_weights")
    live_chart(figures["cmp_cosine"], key="cmp_cosine")


def delta_settings() -> tuple[str, str, str]:
    """The split, the Delta-m averaging and the classification metric the table uses."""
    split = st.radio("Split", ["test", "val"], key="compare_split", horizontal=True,
                     help="test: the held-out result of finished runs; val: the last validation")
    averaging = st.radio("Delta-m averages over", list(AVERAGING), key="compare_averaging", horizontal=True,
                         format_func=AVERAGING_LABELS.get,
                         help="all metrics at once: the form of the Nash-MTL, CAGrad and FAMO papers (compare "
                              "with their tables); each task first: LibMTL's convention")
    metric = st.radio("Classification tasks count by", list(CLASSIFICATION_METRICS), key="compare_class_metric",
                      horizontal=True, help="accuracy (the papers' choice), or macro recall / F1, which weigh "
                                            "rare classes as much as common ones")
    return split, averaging, metric


def results(s: ScriptRunStore, rows: list[dict], data: CompareData) -> None:
    st.markdown("#### Final metrics and Delta-m")
    # three settings a comparison rarely changes: in a popover, drawn only when opened (they keep their
    # values and URL); the caption below says which are in effect
    with st.popover("Split, averaging, classification metric", icon=":material/tune:", key="compare_delta_opts"):
        split, averaging, metric = delta_settings()
    st.caption(DEFINITION + f" Shown: the {split} split, averaged over {AVERAGING_LABELS[averaging]}, "
               f"classification tasks by {metric}. Computed from stored single-task runs (architecture "
               "`single_task`).")
    delta = delta_m_for_runs(s, [r["id"] for r in rows], split, averaging, metric)
    runs = data.runs
    table = cc.final_table(runs, split, delta)
    levels = {r.label: live.status_level(r.row) for r in runs}
    # a static table (at most 8 rows): it shows the styler's "—" in empty cells, where st.dataframe
    # would print "None"
    st.table(tables.styled(table, levels))
    missing_baselines(s, rows, delta)
    if err := st.session_state.pop("_compare_error", None):
        st.error(md_escape(err), icon=":material/error:")


BASELINE_HELP = "Same data, tasks, seed and optimiser; an independent network per task"


def missing_baselines(s: ScriptRunStore, rows: list[dict], delta: pd.DataFrame) -> None:
    """One button per distinct missing baseline (data set, data parameters, tasks, seed)."""
    baseline_of = dict(zip(delta["run_id"], delta["baseline_id"]))
    missing = [r for r in rows if r["architecture"] != BASELINE_ARCHITECTURE and not baseline_of.get(r["id"])]
    if not missing:
        return
    on_the_way = find_baselines(s, pd.DataFrame(missing), statuses=list(live.ACTIVE))
    distinct: dict[tuple, dict] = {}  # comparison key -> the first run that needs it
    for r in missing:
        try:
            distinct.setdefault(comparison_key(r["config"]), r)
        except ConfigError:
            continue
    to_train = []
    for key, r in sorted(distinct.items(), key=lambda kv: (kv[1]["dataset"], kv[0][2], kv[0][3])):
        what = md_escape(f"{r['dataset']} · tasks {', '.join(key[2])} · seed {key[3]}")
        if on_the_way.get(r["id"]):
            st.info(f"Single-task baseline for {what} is training ({md_escape(on_the_way[r['id']])}); Delta-m follows "
                    "when it finishes.", icon=":material/hourglass_top:")
        else:
            to_train.append(r["id"])
            st.button(f"Train the missing single-task baseline: {what}", key=f"baseline_{r['id']}",
                      icon=":material/play_arrow:", on_click=train_baselines, args=([r["id"]],), help=BASELINE_HELP)
    if len(to_train) > 1:
        st.button(f"Train all {len(to_train)} missing baselines", key="baseline_all", type="primary",
                  icon=":material/playlist_play:", on_click=train_baselines, args=(to_train,), help=BASELINE_HELP)


def config_differences(rows: list[dict]) -> None:
    st.markdown("#### Config differences")
    shown = naming.display_names((r["id"], r.get("name") or "") for r in rows)  # unique column names
    diff = cc.config_diff({shown[r["id"]]: r["config"] for r in rows})
    if diff.empty:
        st.caption("The configs are identical (apart from their names).")
    else:
        st.dataframe(diff, width="stretch", placeholder=tables.BLANK)


def live_sections(selected: list[str], watched: list[str]) -> None:
    """Curves, final metrics (Delta-m) and config differences: the part of the page that refreshes
    by itself while a run it shows or waits on (a baseline it started) is queued or training.

    `watched` is what was active when the page was drawn; once none of it is, the whole page reruns
    so the refresh switches off (and the baseline buttons and info boxes follow)."""
    page_store = st.session_state.pop(PAGE_RUN, None)  # drawn by the page's run: its read is fresh
    s = page_store or ScriptRunStore(store())  # else this refresh's one read of the runs table
    rows = run_rows(s, selected)
    if page_store is None and watched and not refresh_state(s, rows):
        st.rerun(scope="app")
    data: CompareData | None = None
    with page_guard("the curves"):
        data = load(s.path, rows)
        curves(data)
    with page_guard("the final metrics"):
        results(s, rows, data if data is not None else load(s.path, rows))
    with page_guard("the config differences"):
        config_differences(rows)


def refresh_state(s: ScriptRunStore, rows: list[dict]) -> list[str]:
    """The runs the page waits on now (kept in the session, where a test reads it)."""
    watched = waited_on(s, rows)
    st.session_state[WATCHED] = watched
    return watched


def page() -> None:
    st.markdown("### :material/compare_arrows: Compare runs")
    s = ScriptRunStore(store())  # the runs table, read once for the page's own part of this script run
    selected = choose_runs(s)
    if len(selected) < MIN_RUNS:
        st.info(f"Select {MIN_RUNS} to {MAX_RUNS} runs to compare" + (" (one more, to see this run beside it)."
                                                                       if selected else "."), icon=":material/info:")
        st.page_link(RUNS_PAGE, label="Pick them on the Runs page", icon=":material/table_rows:")
        if not selected:
            return
    controls()
    watched = refresh_state(s, run_rows(s, selected))
    st.session_state[PAGE_RUN] = s
    st.fragment(run_every=LIVE_REFRESH_S if watched else None)(live_sections)(selected, watched)


with page_guard("the Compare page"):
    page()
