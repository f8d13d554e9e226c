"""Sweep: static weights over a grid on the simplex plus dynamic methods, times seeds; one progress
view; the Pareto plot of the results with the single-task baselines.

The sweep runs in a coordinator process (mtlcore.sweeps.execute.start_sweep), on local worker processes or
on a Ray cluster, and writes ordinary runs into the store under one group id; this page only reads
them. A click (or a box selection) on the Pareto plot opens those runs on the Compare page.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.shared import catalog, live, ownership, tables
from dashboard.shared.state import SWEEP_PARAM, page_guard, store
from dashboard.shared.text import md_escape
from dashboard.sweeps.charts import pareto_figure, selected_run_ids
from mtlcore import naming
from mtlcore.config import RunConfig, gradient_problem
from mtlcore.device import usable_cores
from mtlcore.registry import ConfigError
from mtlcore.runs import executor
from mtlcore.runs.executor import RAY_ENV
from mtlcore.runs.ray import ray_missing
from mtlcore.sweeps.config import STATIC, SweepConfig
from mtlcore.sweeps.delta_m import baseline_config, find_baselines
from mtlcore.sweeps.execute import start_sweep, stop_sweep
from mtlcore.sweeps.plan import simplex_grid
from mtlcore.sweeps.results import baseline_values, group_pareto, list_sweeps, main_objectives, sweep_table

COMPARE_PAGE = Path(__file__).resolve().parent / "compare.py"
PICK = "sweep_pick"
LIVE_REFRESH_S = 2.0
MAX_OPEN = 8
NOT_SWEPT = ("single_task",)  # a sweep compares shared models; the baselines are trained on their own


# -- new sweep ----------------------------------------------------------------------------------
def sweepable_datasets() -> list[dict[str, Any]]:
    return [d for d in catalog.datasets() if len(d["tasks"]) >= 2 and not d["missing"]]


def dataset_changed() -> None:
    names = catalog.task_names(st.session_state["sweep_dataset"])
    st.session_state["sweep_tasks"] = names[:2]


def sweep_form() -> SweepConfig | None:
    """The widgets of a new sweep; returns its config, or None (with the reason shown) if invalid."""
    sets = sweepable_datasets()
    if not sets:
        st.warning("No data set with two or more tasks can load here.", icon=":material/warning:")
        return None
    names = [d["name"] for d in sets]
    titles = catalog.titles(sets)
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("Data set", names, key="sweep_dataset", format_func=lambda n: titles[n],
                           on_change=dataset_changed)
    task_names = catalog.task_names(dataset)
    if "sweep_tasks" not in st.session_state:
        st.session_state["sweep_tasks"] = task_names[:2]
    tasks = c2.multiselect("Tasks (2 or 3)", task_names, key="sweep_tasks", max_selections=3)
    c1, c2, c3 = st.columns(3)
    if len(tasks) == 3:
        points = c1.slider("Points per edge of the simplex", 2, 6, 3, key="sweep_points3",
                           help="A simplex lattice: 3 gives 6 weightings, 4 gives 10, 5 gives 15")
    else:
        points = c1.slider("Weightings on the grid", 5, 11, 5, key="sweep_points2")
    corners = c2.toggle("Include corners", value=False, key="sweep_corners",  # a longer label is cut at 1280 px
                        help="On: the grid reaches the simplex's corners, where a task has weight 0. Off: every "
                             "weighting trains every task (the grid lies inside the simplex)")
    seeds = int(c3.number_input("Seeds", 1, 10, 1, key="sweep_seeds", help="seeds 0, 1, ..."))
    method_titles = catalog.titles(catalog.methods())  # as the Train page names them
    dynamic = [name for name in method_titles if name != STATIC]
    methods = st.multiselect("Dynamic methods beside the grid", dynamic, key="sweep_methods",
                             format_func=lambda n: method_titles.get(n, n),
                             default=[m for m in ("uw", "dwa") if m in dynamic],
                             help="Each trains once per seed; placed on the Pareto plot as labelled points")
    methods_slot = st.empty()
    arch_titles = catalog.titles(a for a in catalog.architectures() if a["name"] not in NOT_SWEPT)
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox("Architecture", list(arch_titles), key="sweep_arch",
                        format_func=lambda n: arch_titles.get(n, n))
    lr = c2.number_input("Learning rate", 1e-5, 1.0, 2e-3, 1e-4, format="%g", key="sweep_lr")
    epochs = c3.number_input("Epochs", 0.1, 100.0, 3.0, 0.5, key="sweep_epochs")
    max_steps = int(c4.number_input("Max steps (0: no cap)", 0, 10_000_000, 0, key="sweep_max_steps"))
    if len(tasks) < 2:
        st.info("Choose 2 or 3 tasks.", icon=":material/info:")
        return None
    clashes = unusable_methods(methods, arch)
    if clashes:
        methods_slot.error("\n\n".join(map(md_escape, clashes)), icon=":material/block:")
        return None
    try:
        base = RunConfig.from_dict({
            "data": {"name": dataset, "tasks": list(tasks)}, "model": {"architecture": arch},
            "optim": {"lr": float(lr), "epochs": float(epochs), "max_steps": max_steps or None}})
        name = naming.SEP.join([f"{titles[dataset]} {'+'.join(tasks)}", naming.architecture_text(arch)])
        sweep = SweepConfig(name=name, base=base, tasks=list(tasks),
                            grid_points=int(points), corners=bool(corners), methods=list(methods),
                            seeds=list(range(seeds))).validate()
    except ConfigError as exc:
        st.error(md_escape(exc), icon=":material/block:")
        return None
    n_grid = len(simplex_grid(len(tasks), int(points), bool(corners)))
    total = (n_grid + len(methods)) * seeds
    st.caption(f"{total} run(s): {n_grid} static weightings + {len(methods)} method(s), x {seeds} seed(s). "
               f"Static weights are simplex points times {len(tasks)}, so the centre is equal weighting.")
    return sweep


def unusable_methods(methods: list[str], arch: str) -> list[str]:
    """Why each chosen method cannot train on this architecture (the trainer's messages), from the
    registries' metadata: a gradient method needs shared parameters, some a shared representation."""
    found = (gradient_problem(catalog.method(m), catalog.architecture(arch)) for m in methods)
    return [why[1] for why in found if why is not None]


def execution() -> tuple[int, str]:
    c1, c2 = st.columns(2)
    cores = usable_cores()
    workers = int(c1.number_input("Local worker processes", 1, max(cores, 1) * 4, cores, key="sweep_workers",
                                  help="Runs training at once on this machine (default: one per core)"))
    address = c2.text_input("Ray cluster address (optional)", value=os.environ.get(RAY_ENV, ""), key="sweep_ray",
                            placeholder="host:port, auto, ray://host:10001 or local",
                            help="Given an address, the runs execute as Ray tasks there; the store must be "
                                 "reachable at the same path from every node").strip()
    if address and (why := ray_missing()):
        st.error(md_escape(why), icon=":material/block:")
    return workers, address


def new_sweep() -> None:
    sweep = sweep_form()
    workers, address = execution()
    if st.button("Start the sweep", type="primary", icon=":material/play_arrow:", key="sweep_start",
                 disabled=sweep is None or bool(address and ray_missing())):
        assert sweep is not None
        group = start_sweep(sweep, store(), workers=workers, ray_address=address or None,
                            owner=ownership.session_owner())
        st.query_params[SWEEP_PARAM] = group
        st.session_state[PICK] = group
        st.toast(f"Sweep {group} started")
        st.rerun()


# -- results ------------------------------------------------------------------------------------
def _picked() -> None:  # before the rerun reads the link: the link follows the pick
    st.query_params[SWEEP_PARAM] = st.session_state[PICK]


def choose_sweep(sweeps: pd.DataFrame) -> str | None:
    ids = sweeps["group_id"].tolist()
    info = {r.group_id: f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r.created))} · {r.dataset} · "
                        f"{r.tasks} · {r.runs} runs" for r in sweeps.itertuples()}
    wanted = st.query_params.get(SWEEP_PARAM)  # a link (the sidebar's) wins over the last pick
    if wanted in ids:
        st.session_state[PICK] = wanted
    elif PICK not in st.session_state or st.session_state[PICK] not in ids:
        st.session_state[PICK] = ids[0]
    group = st.selectbox("Sweep", ids, key=PICK, format_func=lambda g: info.get(g, g), on_change=_picked)
    if group:
        st.query_params[SWEEP_PARAM] = group
    return group


def progress_view(group: str) -> None:
    """One progress bar for the whole sweep, and its runs; refreshes while any run is active."""
    table = sweep_table(store(), group)
    if table.empty:
        return
    active = table["status"].isin(live.ACTIVE)
    was = st.session_state.get("_sweep_active")
    st.session_state["_sweep_active"] = bool(active.any())
    if was and not active.any():
        st.rerun(scope="app")  # the last run ended: redraw the Pareto plot with it
    ended = int((~active).sum())
    steps = table["step"].sum()
    planned = table["total_steps"].where(table["total_steps"] > 0).mean()
    frac = float(steps / (planned * len(table))) if planned == planned and planned else ended / len(table)
    counts = ", ".join(f"{v} {k}" for k, v in table["status"].value_counts().items())
    st.progress(min(1.0, frac), text=f"{ended} of {len(table)} runs ended ({counts})")
    c1, c2 = st.columns([4, 1])
    with c1.expander("Runs of this sweep", expanded=bool(active.any())):
        shown = table.assign(progress=[min(1.0, s / t) if t else 0.0
                                       for s, t in zip(table["step"], table["total_steps"])])
        st.dataframe(shown[["label", "seed", "status", "progress", "run_id"]], hide_index=True, width="stretch",
                     column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0,
                                                                                max_value=1.0, format="percent")})
    s = store()
    runs = [s.get_run(rid) for rid in table.loc[active, "run_id"]]
    mine = all(ownership.can_control(r) for r in runs if r is not None)
    why = None if mine else "Only the teacher may stop runs started outside this browser"
    if active.any() and c2.button("Stop the sweep", icon=":material/stop:", key="sweep_stop", disabled=not mine,
                                  help=why) and mine:
        n = stop_sweep(store(), group)
        st.toast(f"Asked {n} run(s) to stop")


def open_selection() -> None:
    """A click or box selection on the Pareto plot: remember its runs for the script to open."""
    state = st.session_state.get("sweep_pareto")
    ids = selected_run_ids(state.selection if state is not None else None)
    if ids:
        st.session_state["_sweep_open"] = ids


def train_baselines(run_ids: list[str]) -> None:
    s = store()
    for rid in run_ids:
        run = s.get_run(rid)
        if run is not None:
            config = baseline_config(RunConfig.from_dict(run["config"]))
            executor.start(config, s, name=config.name, owner=ownership.session_owner())
    st.toast(f"Training {len(run_ids)} single-task baseline(s); their lines appear when they finish")


def baselines(group: str, split: str) -> dict[str, float]:
    """Mean baseline values per objective, and a button for the seeds that have none yet."""
    s = store()
    values, missing_seeds = baseline_values(s, group, split)
    if missing_seeds:
        runs = s.list_runs(group_id=group)
        one_per_seed = runs[runs["seed"].isin(missing_seeds)].drop_duplicates("seed")
        on_the_way = find_baselines(s, one_per_seed, statuses=list(live.ACTIVE))
        todo = [rid for rid in one_per_seed["id"] if not on_the_way.get(rid)]
        if todo:
            st.button(f"Train the single-task baselines (seed {', '.join(map(str, missing_seeds))}) for the "
                      "reference lines", key="sweep_baselines", icon=":material/play_arrow:",
                      on_click=train_baselines, args=(todo,))
        else:
            st.caption("Single-task baselines are training; their reference lines appear when they finish.")
    return values


def pareto(group: str) -> None:
    s = store()
    runs = s.list_runs(group_id=group)
    dataset, tasks = runs["dataset"].iloc[0], list(runs["tasks"].iloc[0])
    defaults, _ = main_objectives(dataset, tasks)
    row = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")  # wraps when narrow
    split = row.radio("Split", ["val", "test"], key="sweep_split", horizontal=True, width="content",
                       help="Choose settings on validation; look at test only once you have chosen")
    objectives = []
    for i, task in enumerate(tasks):
        metrics = [m["name"] for m in catalog.task(dataset, task)["metrics"]]
        metric = row.selectbox(f"{md_escape(task)}: metric", metrics, key=f"sweep_metric_{task}", width=200,
                                    index=metrics.index(defaults[i].split("/", 1)[1]))
        objectives.append(f"{task}/{metric}")
    average = row.toggle("Average seeds", value=True, key="sweep_average", width="content")
    points, objectives, higher = group_pareto(s, group, split, objectives, average)
    refs = baselines(group, split)
    fig = pareto_figure(points, objectives, higher, refs, split, key=f"pareto-{group}-{split}")
    st.plotly_chart(fig, key="sweep_pareto", on_select=open_selection, selection_mode=("points", "box", "lasso"),
                    width="stretch")
    if not points.empty:
        shown = points.assign(seeds=points["seeds"].map(lambda v: ", ".join(map(str, v))),
                              runs=points["run_ids"].map(len),
                              front=points["on_front"].map({True: "yes", False: ""}))
        st.dataframe(shown[["label", "seeds", "runs", *objectives, "front"]], hide_index=True, width="stretch",
                     placeholder=tables.BLANK,
                     column_config={o: st.column_config.NumberColumn(o, format="%.4f") for o in objectives})
        labels = points["label"].tolist()
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        pick = c1.selectbox("Open a point's runs", labels, key="sweep_open_label")
        if c2.button("Open in Compare", key="sweep_open_button"):
            st.session_state["_sweep_open"] = list(points.loc[points["label"] == pick, "run_ids"].iloc[0])


def results() -> None:
    sweeps = list_sweeps(store())
    if sweeps.empty:
        st.info("No sweep yet: set one up under *New sweep*.", icon=":material/info:")
        return
    group = choose_sweep(sweeps)
    if not group:
        return
    active = bool(sweeps.loc[sweeps["group_id"] == group, "active"].iloc[0])
    st.fragment(run_every=LIVE_REFRESH_S if active else None)(progress_view)(group)
    with page_guard("the Pareto plot"):
        pareto(group)
    opened = st.session_state.pop("_sweep_open", None)
    if opened:
        st.switch_page(COMPARE_PAGE, query_params={"runs": ",".join(opened[:MAX_OPEN])})


def page() -> None:
    st.markdown("### :material/scatter_plot: Sweep the weight simplex")
    st.caption("Static task weights over a grid on the simplex, beside dynamic weighting methods: does a "
               "method reach the front that tuned static weights trace?")
    has_sweeps = not list_sweeps(store()).empty
    tabs = st.tabs(["Results", "New sweep"] if has_sweeps else ["New sweep", "Results"])
    results_tab, new_tab = (tabs[0], tabs[1]) if has_sweeps else (tabs[1], tabs[0])
    with new_tab:
        with page_guard("the sweep setup"):
            new_sweep()
    with results_tab:
        results()


with page_guard("the Sweep page"):
    page()
