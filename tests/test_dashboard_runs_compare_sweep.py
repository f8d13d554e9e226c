"""The Runs, Compare and Sweep pages in AppTest, on a store filled with known runs, and the pure
helpers behind them (curves, smoothing, thinning, config differences, Pareto clicks).

Nothing trains here: `executor.start` and `start_sweep` are replaced by recorders where a page would
start work (the sweep and Ray tests train for real). The pages are registered in a navigation of
their own (absolute paths), so switching between them works as in the app.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.compare import charts as cc
from dashboard.compare.data import load_compare
from dashboard.runs import table as runs_table
from dashboard.shared import catalog
from dashboard.shared.charts import MAX_POINTS
from dashboard.shared.text import md_plain
from dashboard.sweeps.charts import selected_run_ids
from mtlcore.config import RunConfig
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore
from mtlcore.sweeps import execute as sweep_execute
from mtlcore.sweeps import results as sweep_results
from mtlcore.sweeps.config import SweepConfig
from mtlcore.sweeps.delta_m import delta_m_for_runs
from mtlcore.sweeps.execute import submit

PAGES = Path(__file__).resolve().parent.parent / "dashboard" / "app_pages"
TASKS = ["left", "right"]
LONG = 2600  # steps of the long run: above the 1,000 points a curve is drawn with


def app(default: str, params: dict[str, str] | None = None) -> AppTest:
    entry = "\n".join([
        "import streamlit as st",
        "pages = [" + ", ".join(
            f"st.Page(r'{PAGES / name}.py', title='{name}', default={name == default})"
            for name in ("runs", "compare", "sweep")) + "]",
        "st.navigation(pages).run()",
    ])
    at = AppTest.from_string(entry, default_timeout=120)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at


def finished_run(store: RunStore, name: str, method: str, seed: int, steps: int, left: float, right: float,
                 arch: str = "hps", lr: float = 1e-3, group: str = "", params: dict | None = None) -> str:
    config = RunConfig.from_dict({"name": name, "seed": seed, "data": {"name": "multi_digits", "tasks": TASKS},
                                  "model": {"architecture": arch},
                                  "weighting": {"method": method, "params": params or {}},
                                  "optim": {"lr": lr, "max_steps": steps}})
    rid = store.create_run(config.to_dict(), status="queued", group_id=group)
    s = np.arange(1, steps + 1)
    rows: list[tuple] = []
    for i, task in enumerate(TASKS):
        loss = 2.0 * np.exp(-s / 400.0) + 0.05 * (i + 1)
        rows += [(int(k), k / 50, k * 0.01, "train", task, "loss", float(v)) for k, v in zip(s, loss)]
        rows += [(int(k), k / 50, k * 0.01, "train", task, "weight", 1.0 + 0.1 * i) for k in s]
        for k in s[::100]:
            rows += [(int(k), k / 50, k * 0.01, "val", task, "loss", float(loss[k - 1] * 1.1)),
                     (int(k), k / 50, k * 0.01, "val", task, "accuracy", float(1 - loss[k - 1] / 3))]
    rows += [(int(k), k / 50, k * 0.01, "grad", "left|right", "cosine", float(np.cos(k / 90))) for k in s[::25]]
    store.write_rows(rid, rows, [(0, 0.0, "started", json.dumps({"steps_per_epoch": 50}))], step=steps)
    final = {"left": {"loss": 0.3, "accuracy": left}, "right": {"loss": 0.3, "accuracy": right}}
    store.set_status(rid, "finished", summary={"steps": steps, "val": final, "test": final}, total_steps=steps,
                     started=1_000.0)
    return rid


@pytest.fixture
def filled() -> dict[str, Any]:
    store = RunStore()  # MTL_DB points at this test's own file (conftest)
    ids = {
        "long": finished_run(store, "long ew", "ew", 0, LONG, 0.90, 0.80),
        "uw": finished_run(store, "short uw", "uw", 0, 300, 0.85, 0.88, lr=2e-3),
        "seed1": finished_run(store, "seed one", "ew", 1, 200, 0.80, 0.80),
        "base": finished_run(store, "baseline", "ew", 0, 300, 0.95, 0.90, arch="single_task"),
    }
    sweep = SweepConfig.from_dict({"name": "s", "tasks": TASKS, "grid_points": 3, "corners": True, "methods": ["uw"],
                                   "base": {"data": {"name": "multi_digits", "tasks": TASKS}}})
    group = submit(sweep, store)
    finals = {"static (0, 1)": (0.10, 0.95), "static (0.5, 0.5)": (0.90, 0.90), "static (1, 0)": (0.96, 0.10),
              "uw": (0.85, 0.85)}
    for row in store.list_runs(group_id=group).itertuples():
        label = sweep_results.run_setting(row.config)[1]
        left, right = finals[label]
        final = {"left": {"accuracy": left}, "right": {"accuracy": right}}
        store.set_status(row.id, "finished", summary={"val": final, "test": final}, step=10, total_steps=10)
        ids[f"sweep {label}"] = row.id
    return {"store": store, "ids": ids, "group": group}


def spec(chart: Any) -> dict[str, Any]:
    return json.loads(chart.proto.spec)


def values(array: Any) -> np.ndarray:
    """A trace array from the chart's JSON (plotly sends NumPy arrays base64-encoded)."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """Every chart's figure by key: st.plotly_chart's, and the live charts' (a component whose data
    holds the figure; its element id ends with the key)."""
    out = {c.key: spec(c) for c in at.get("plotly_chart")}
    for c in at.get("bidi_component"):
        if c.proto.component_name == "mtl_live_chart":
            out[c.proto.id.split("-", 2)[2]] = json.loads(json.loads(c.proto.json)["figure"])
    return out


def chart_notes(fig: dict[str, Any]) -> str:
    """The text a figure writes about itself: its annotations and its title's subtitle (the note)."""
    subtitle = ((fig["layout"].get("title") or {}).get("subtitle") or {}).get("text", "")
    return " ".join([a["text"] for a in fig["layout"].get("annotations", [])] + [subtitle])


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# -- Runs page ------------------------------------------------------------------------------------
def test_runs_page_filters_renames_tags_deletes_and_opens_compare(filled: dict[str, Any]) -> None:
    store, ids = filled["store"], filled["ids"]
    at = app("runs").run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 8 and {"left · accuracy", "right · accuracy"} <= set(table.columns)
    assert at.dataframe[0].proto.placeholder == "—"  # an empty metric cell reads as a dash, not "None"
    assert table.set_index("id").loc[ids["long"], "left · accuracy"] == pytest.approx(0.90)
    at.multiselect(key="runs_method").set_value(["uw"]).run()
    shown = at.dataframe[0].value
    assert set(shown["method"]) == {"uw"} and len(shown) == 2  # the short uw run and the sweep's uw
    at.multiselect(key="runs_method").set_value([]).run()
    at.selectbox(key="runs_sort").set_value("left · accuracy").run()
    assert at.dataframe[0].value["id"].iloc[0] == ids["sweep static (1, 0)"]  # 0.96, the best left accuracy

    at.multiselect(key="runs_selected").set_value([ids["seed1"]]).run()
    at.text_input(key=f"runs_name_{ids['seed1']}").set_value("renamed run").run()
    at.button(key="runs_rename").click().run()
    assert store.get_run(ids["seed1"])["name"] == "renamed run"
    at.text_input(key="runs_tag_text").set_value("keep, check").run()
    at.button(key="runs_tag_add").click().run()
    assert store.get_run(ids["seed1"])["tags"] == ["check", "keep"]

    at.button(key="runs_delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="runs_delete_cancel").click().run()
    assert store.get_run(ids["seed1"]) is not None
    at.multiselect(key="runs_selected").set_value([ids["seed1"]]).run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_confirm").click().run()
    assert_clean(at)
    assert store.get_run(ids["seed1"]) is None and store.metrics(ids["seed1"]).empty
    assert len(at.dataframe[0].value) == 7

    at.multiselect(key="runs_selected").set_value([ids["long"], ids["uw"]]).run()
    at.button(key="runs_compare").click().run()
    assert_clean(at)
    assert at.query_params["runs"] == f"{ids['long']},{ids['uw']}"
    assert set(charts(at)) >= {"cmp_left", "cmp_right", "cmp_weights", "cmp_cosine"}


def test_exports_are_long_csv_and_rerunnable_configs(filled: dict[str, Any]) -> None:
    store, ids = filled["store"], filled["ids"]
    chosen = [ids["uw"], ids["seed1"]]
    csv = pd.read_csv(io.BytesIO(runs_table.metrics_csv(store, chosen)))
    assert list(csv.columns) == ["run_id", "step", "epoch", "time", "split", "task", "name", "value"]
    assert len(csv) == len(store.metrics(chosen)) and set(csv["run_id"]) == set(chosen)
    configs = json.loads(runs_table.configs_json(store, chosen))
    assert set(configs) == set(chosen)
    assert RunConfig.from_dict(configs[ids["uw"]]["config"]).weighting.method == "uw"


# -- Compare page ---------------------------------------------------------------------------------
def test_compare_overlay_smoothing_side_by_side_config_and_delta_m(filled: dict[str, Any]) -> None:
    store, ids = filled["store"], filled["ids"]
    at = app("compare", {"runs": f"{ids['long']},{ids['uw']}"}).run()
    assert_clean(at)
    figs = charts(at)
    assert set(figs) == {"cmp_left", "cmp_right", "cmp_weights", "cmp_cosine"}
    left = figs["cmp_left"]
    loss = [t for t in left["data"] if t.get("xaxis", "x") == "x"]
    assert len(loss) == 4  # 2 runs x (train, val)
    assert {t["line"]["dash"] for t in loss} == {"solid", "dash"}  # a dash per split
    assert len({t["line"]["color"] for t in loss}) == 2  # a colour per run
    assert max(len(values(t["x"])) for t in left["data"]) <= MAX_POINTS < LONG
    notes = chart_notes(left)
    assert "thinned" in notes and f"{LONG:,} points" in notes  # the long run's curves say they are thinned
    assert left["layout"]["yaxis"]["type"] == "log" and left["layout"]["uirevision"]

    at.slider(key="compare_smoothing").set_value(0.9).run()
    left = charts(at)["cmp_left"]
    faint = [t for t in left["data"] if t.get("opacity") == pytest.approx(cc.RAW_OPACITY)]
    assert len(faint) == 6  # every curve keeps its raw version underneath
    assert "EMA 0.9" in chart_notes(left)

    at.radio(key="compare_layout").set_value("side by side").run()
    assert_clean(at)
    figs = charts(at)
    assert {f"cmp_left_{ids['long']}", f"cmp_left_{ids['uw']}", f"cmp_right_{ids['uw']}"} <= set(figs)
    a, b = figs[f"cmp_left_{ids['long']}"], figs[f"cmp_left_{ids['uw']}"]
    assert a["layout"]["yaxis"]["range"] == b["layout"]["yaxis"]["range"]  # shared y-ranges
    assert a["layout"]["yaxis2"]["range"] == b["layout"]["yaxis2"]["range"]
    # a column is ~260 px: its note is short lines (one line of ~100 characters was cut at the edge)
    lines = a["layout"]["title"]["subtitle"]["text"].split("<br>")
    assert len(lines) == 3 and max(map(len, lines)) <= 45, lines
    assert "thinned" in lines[1] and f"{LONG:,}" in lines[1] and "EMA 0.9" in lines[2]
    assert a["layout"]["margin"]["t"] > left["layout"]["margin"]["t"]  # the plot makes room for them

    at.radio(key="compare_x").set_value("epoch").run()
    x = values(charts(at)[f"cmp_left_{ids['uw']}"]["data"][1]["x"])
    assert x.max() == pytest.approx(300 / 50)  # 300 steps at 50 steps per epoch

    final, diff = at.table[0].value, at.dataframe[0].value
    dm = delta_m_for_runs(store, [ids["long"], ids["uw"]], "test").set_index("run_id")
    # long run: left -(0.90-0.95)/0.95, right -(0.80-0.90)/0.90 (percent), averaged over the tasks
    assert dm.loc[ids["long"], "delta_m"] == pytest.approx((100 * 0.05 / 0.95 + 100 * 0.1 / 0.9) / 2)
    assert final["Δm (%) ↓"].tolist() == pytest.approx(dm["delta_m"].loc[[ids["long"], ids["uw"]]].tolist())
    assert set(final["baseline"]) == {ids["base"]}
    assert set(diff.index) == {"optim.lr", "optim.max_steps", "weighting.method"}
    assert any("lower is better" in c.value.lower() for c in at.caption)  # the definition is on the page
    assert any("averaged over all metrics at once" in c.value for c in at.caption)  # which form is shown


def test_compare_offers_to_train_a_missing_baseline(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    ids = filled["ids"]
    started: list[RunConfig] = []

    def record(config: RunConfig, store: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
        started.append(config)
        return store.create_run(config.to_dict(), status="queued", name=name, owner=owner)

    monkeypatch.setattr(executor, "start", record)
    at = app("compare", {"runs": f"{ids['long']},{ids['seed1']}"}).run()
    assert_clean(at)
    (button,) = [b for b in at.button if b.key == f"baseline_{ids['seed1']}"]
    button.click().run()
    assert len(started) == 1
    config = started[0]
    assert config.model.architecture == "single_task" and config.seed == 1 and config.data.tasks == TASKS


def test_compare_trains_every_missing_baseline_at_once_in_seed_order(filled: dict[str, Any],  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ids = filled["ids"]
    two = finished_run(filled["store"], "seed two", "ew", 2, 200, 0.80, 0.80)
    started: list[RunConfig] = []

    def record(config: RunConfig, store: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
        started.append(config)
        return store.create_run(config.to_dict(), status="queued", name=name, owner=owner)

    monkeypatch.setattr(executor, "start", record)
    at = app("compare", {"runs": f"{two},{ids['seed1']},{ids['long']}"}).run()  # seed 0 has its baseline
    assert_clean(at)
    singles = [b for b in at.button if b.key.startswith("baseline_") and b.key != "baseline_all"]
    assert [b.label.rsplit("seed ", 1)[1] for b in singles] == ["1", "2"]  # in seed order, not the runs'
    at.button(key="baseline_all").click().run()
    assert sorted(c.seed for c in started) == [1, 2]
    assert {c.model.architecture for c in started} == {"single_task"}
    assert not [b for b in at.button if b.key.startswith("baseline_")]  # now on their way: said, not offered
    assert sum("is training" in i.value for i in at.info) == 2


# -- Sweep page -----------------------------------------------------------------------------------
def test_sweep_page_pareto_with_front_methods_and_baselines(filled: dict[str, Any]) -> None:
    ids = filled["ids"]
    at = app("sweep").run()
    assert_clean(at)
    fig = charts(at)["sweep_pareto"]
    traces = {t.get("name"): t for t in fig["data"]}
    grid = traces["static weights (grid)"]
    assert sorted(zip(values(grid["x"]).tolist(), values(grid["y"]).tolist())) == [
        (0.1, 0.95), (0.9, 0.9), (0.96, 0.1)]
    assert traces["dynamic methods"]["text"] == ["uw"]
    front = traces["Pareto front"]
    # (0.85, 0.85) for uw is dominated by (0.9, 0.9); the three grid points are the front
    assert list(zip(values(front["x"]).tolist(), values(front["y"]).tolist())) == [
        (0.1, 0.95), (0.9, 0.9), (0.96, 0.1)]
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert sorted((s["x0"], s["y0"]) for s in lines) == [(0, 0.9), (0.95, 0)]  # baseline left 0.95, right 0.9
    assert set(grid["customdata"]) == {ids["sweep static (0, 1)"], ids["sweep static (0.5, 0.5)"],
                                       ids["sweep static (1, 0)"]}
    points = at.dataframe[-1].value
    assert points.set_index("label")["front"].to_dict() == {
        "static (0, 1)": "yes", "static (0.5, 0.5)": "yes", "static (1, 0)": "yes", "uw": ""}

    at.selectbox(key="sweep_open_label").set_value("uw").run()
    at.button(key="sweep_open_button").click().run()
    assert_clean(at)
    assert at.query_params["runs"] == ids["sweep uw"]
    assert "cmp_left" in charts(at)  # the Compare page shows the opened run


def test_sweep_form_names_methods_and_architectures_as_the_train_page_does(filled: dict[str, Any]) -> None:
    """By their titles ("Uncertainty weighting", "Hard parameter sharing"), not registry names."""
    at = app("sweep").run()
    assert_clean(at)
    methods = at.multiselect(key="sweep_methods")
    titles = {m["name"]: m["title"] for m in catalog.methods()}
    assert methods.options == [titles[n] for n in titles if n != "static"]
    assert methods.value == ["uw", "dwa"]  # the values stay the names the config takes
    arch = at.selectbox(key="sweep_arch")
    assert arch.options == [a["title"] for a in catalog.architectures() if a["name"] != "single_task"]
    assert arch.value == "hps" and "hps" not in arch.options


def test_sweep_page_starts_a_sweep(filled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[SweepConfig, int, str | None]] = []

    def record(sweep: SweepConfig, store: RunStore, workers: int | None = None, ray_address: str | None = None,
               owner: str = "") -> str:
        started.append((sweep, workers or 0, ray_address))
        return submit(sweep, store, owner=owner)

    monkeypatch.setattr(sweep_execute, "start_sweep", record)
    at = app("sweep").run()
    at.multiselect(key="sweep_tasks").set_value(["left", "right"]).run()
    at.slider(key="sweep_points2").set_value(5).run()
    at.multiselect(key="sweep_methods").set_value(["uw", "dwa"]).run()
    at.number_input(key="sweep_max_steps").set_value(40).run()
    assert any("7 run(s)" in c.value for c in at.caption)
    at.button(key="sweep_start").click().run()
    assert_clean(at)
    (sweep, workers, ray_address), = started
    assert sweep.grid_points == 5 and sweep.methods == ["uw", "dwa"] and sweep.base.optim.max_steps == 40
    assert workers >= 1 and ray_address is None
    assert at.query_params["sweep"].startswith("sweep-")
    runs = filled["store"].list_runs(group_id=at.query_params["sweep"])
    owners = {filled["store"].get_run(rid)["owner"] for rid in runs["id"]}  # recorded with the runs
    assert len(runs) == 7 and len(owners) == 1 and len(owners.pop()) == 64


@pytest.mark.slow
def test_starting_a_sweep_trains_it_elsewhere_and_logs_no_streamlit_warning(filled: dict[str, Any]) -> None:
    """The real start path: the page records the sweep and spawns its coordinator, which trains the
    runs on cold workers through the machine's queue. Nothing in the page's process may call
    Streamlit outside the script (each such call logs "missing ScriptRunContext"); the watch starts
    after AppTest's own set-up, which logs one such warning itself."""
    import logging
    import time

    from mtlcore.runs import workers

    at = app("sweep").run()
    at.multiselect(key="sweep_tasks").set_value(["left", "right"]).run()
    at.multiselect(key="sweep_methods").set_value([]).run()
    at.number_input(key="sweep_max_steps").set_value(4).run()
    seen: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    catch = Catch(logging.WARNING)
    watched = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    watched.addHandler(catch)
    try:
        at.button(key="sweep_start").click().run()
        assert_clean(at)
        group = at.query_params["sweep"]
        store = RunStore()
        deadline = time.monotonic() + 300
        while store.list_runs(status=["queued", "running"], group_id=group).shape[0] and time.monotonic() < deadline:
            time.sleep(0.5)
        runs = store.list_runs(group_id=group)
        assert runs["status"].tolist() == ["finished"] * 5, runs["error"].tolist()  # the page's 5-point grid
        assert (runs["step"] == 4).all()
        while workers.live_children() and time.monotonic() < deadline:  # the coordinator exits last
            time.sleep(0.2)
        assert not workers.live_children()
    finally:
        watched.removeHandler(catch)
    assert not [m for m in seen if "ScriptRunContext" in m], seen


def test_sweep_page_refuses_methods_the_architecture_cannot_serve(filled: dict[str, Any]) -> None:
    at = app("sweep").run()
    at.multiselect(key="sweep_methods").set_value(["uw", "mgda"]).run()
    assert not at.button(key="sweep_start").disabled  # hard sharing (the default) serves both
    at.selectbox(key="sweep_arch").set_value("soft_sharing").run()
    assert not at.exception
    assert at.button(key="sweep_start").disabled
    assert [md_plain(e.value) for e in at.error] == ["method 'mgda' combines gradients on shared parameters, and "
                                           "architecture 'soft_sharing' shares none; use a loss-based method or 'hps'"]
    at.multiselect(key="sweep_methods").set_value(["uw"]).run()
    assert_clean(at)
    assert not at.button(key="sweep_start").disabled


# -- helpers --------------------------------------------------------------------------------------
def test_ema_keeps_a_constant_and_follows_a_step() -> None:
    y = np.full(50, 3.0, dtype=np.float32)
    assert np.allclose(cc.ema(y, 0.9), 3.0)  # debiased: no pull towards zero at the start
    assert cc.ema(y, 0.0) is y
    step = np.r_[np.zeros(20), np.ones(200)].astype(np.float32)
    s = cc.ema(step, 0.8)
    assert s[19] == 0 and 0 < s[20] < 1 and s[-1] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        cc.ema(y, 1.0)


def test_config_diff_shows_only_differences() -> None:
    a = {"name": "a", "seed": 0, "optim": {"lr": 0.1, "batch_size": 32}, "weighting": {"params": {}}}
    b = {"name": "b", "seed": 0, "optim": {"lr": 0.2, "batch_size": 32}, "weighting": {"params": {"weights": [1, 2]}}}
    diff = cc.config_diff({"A": a, "B": b})
    assert diff.to_dict(orient="index") == {"optim.lr": {"A": "0.1", "B": "0.2"},
                                            "weighting.params.weights": {"A": "", "B": "[1, 2]"}}


def test_pareto_clicks_read_run_ids() -> None:
    selection = {"points": [{"customdata": "a,b"}, {"customdata": ["c"]}, {"customdata": "a"}, {"x": 1}]}
    assert selected_run_ids(selection) == ["a", "b", "c"]
    assert selected_run_ids(None) == []


def test_compare_data_reads_every_curve_in_step_order(filled: dict[str, Any]) -> None:
    store, ids = filled["store"], filled["ids"]
    data = load_compare(store, [ids["uw"], ids["long"]], with_clock=True)
    assert [r.id for r in data.runs] == [ids["uw"], ids["long"]]
    steps, loss = data.curve(ids["long"], "train", "loss", "left")
    assert len(steps) == LONG and np.all(np.diff(steps) > 0)
    assert loss[0] == pytest.approx(2.0 * np.exp(-1 / 400) + 0.05)
    assert len(data.curve(ids["uw"], "grad", "cosine", "left|right")[0]) == 12
    assert data.runs[0].colour != data.runs[1].colour
    t = cc.x_values(data, data.runs[1], np.array([100.0]), "time")
    assert t[0] == pytest.approx(1.0)


def test_runs_page_shows_live_progress_of_training_runs(filled: dict[str, Any]) -> None:
    store = filled["store"]
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        rid = store.create_run(RunConfig(name="training now").to_dict(), status="queued")
        store.set_status(rid, "running", pid=sleeper.pid, host=store.host, step=25, total_steps=100)
        at = app("runs").run()
        assert_clean(at)
        (bar,) = at.get("progress")
        assert bar.proto.value == 25 and f"training now · {rid[:4]} · running · step 25 / 100" in bar.proto.text
        assert at.dataframe[0].value.set_index("id").loc[rid, "progress"] == pytest.approx(0.25)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_pareto_figure_of_three_tasks_has_a_panel_per_pair() -> None:
    from dashboard.sweeps.charts import pareto_figure
    from mtlcore.sweeps.pareto import pareto_table

    rows = [{"run_id": f"r{i}", "status": "finished", "kind": "grid", "label": f"p{i}", "point": p, "seed": 0,
             "a/accuracy": a, "b/accuracy": b, "c/mae": c}
            for i, (p, a, b, c) in enumerate([((0.2, 0.4, 0.4), 0.9, 0.8, 1.0), ((0.4, 0.2, 0.4), 0.8, 0.9, 1.0),
                                              ((0.4, 0.4, 0.2), 0.7, 0.7, 2.0)])]
    rows.append({"run_id": "m", "status": "finished", "kind": "method", "label": "uw", "point": None, "seed": 0,
                 "a/accuracy": 0.85, "b/accuracy": 0.85, "c/mae": 0.9})
    objectives, higher = ["a/accuracy", "b/accuracy", "c/mae"], [True, True, False]
    points = pareto_table(pd.DataFrame(rows), objectives, higher)
    assert points.set_index("label")["on_front"].to_dict() == {"p0": True, "p1": True, "p2": False, "uw": True}
    fig = pareto_figure(points, objectives, higher, {"c/mae": 1.1})
    axes = {t.xaxis for t in fig.data}
    assert axes == {"x", "x2", "x3"} and not [t for t in fig.data if t.name == "Pareto front"]
    grid = [t for t in fig.data if t.name == "static weights (grid)" and t.xaxis == "x"][0]
    assert list(grid.marker.line.width) == [2.0, 2.0, 1.0]  # the front is ringed
    assert len([s for s in fig.layout.shapes if s.type == "line"]) == 2  # c's baseline in its two panels
