"""Compare fills in Delta-m by itself, and run names say what a run is.

Issue 13: after "Train the missing single-task baseline" the page said "is training" minutes after
the baseline had finished. The page now refreshes (a fragment with run_every) while a run it shows
or waits on is queued or training. AppTest never fires run_every, so the test records the refresh
period the page asks for and reruns the page itself, as the timer would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.compare import charts as cc
from dashboard.compare.data import load_compare, run_rows, waited_on
from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore
from tests.support.stored_runs import stored_run

PAGE = Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "compare.py"


@pytest.fixture
def refresh_periods(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every run_every the pages pass to st.fragment, in call order."""
    periods: list[Any] = []
    real = st.fragment

    def recording(func: Any = None, *, run_every: Any = None) -> Any:
        periods.append(run_every)
        return real(func, run_every=run_every) if func is not None else real(run_every=run_every)

    monkeypatch.setattr(st, "fragment", recording)
    return periods


def test_compare_shows_delta_m_once_the_baseline_it_started_finishes(
        monkeypatch: pytest.MonkeyPatch, refresh_periods: list[Any]) -> None:
    store = RunStore()
    ew = stored_run(store, "ew", seed=1, left=0.9, right=0.8)
    uw = stored_run(store, "uw", seed=1, left=0.85, right=0.88)
    started: list[str] = []

    def queue_only(config: RunConfig, s: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
        rid = s.create_run(config.to_dict(), status="queued", name=name, owner=owner)
        started.append(rid)
        return rid

    monkeypatch.setattr(executor, "start", queue_only)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["runs"] = f"{ew},{uw}"
    at.run()
    assert not at.exception and not at.error
    assert refresh_periods[-1] is None  # nothing trains: no refresh
    (button,) = [b for b in at.button if b.key == f"baseline_{ew}"]
    button.click().run()
    (baseline,) = started
    assert any("is training" in i.value for i in at.info)
    assert refresh_periods[-1] and refresh_periods[-1] > 0  # the page refreshes while the baseline is queued
    assert at.session_state["_compare_watched"] == [baseline]
    assert "Δm (%) ↓" not in at.table[0].value.columns or at.table[0].value["Δm (%) ↓"].isna().all()

    # the worker trains it: running, then finished with its results
    store.set_status(baseline, "running", step=10, total_steps=300)
    at.run()  # what the refresh timer does
    assert any("is training" in i.value for i in at.info)
    final = {"left": {"loss": 0.3, "accuracy": 0.95}, "right": {"loss": 0.3, "accuracy": 0.9}}
    store.set_status(baseline, "finished", summary={"val": final, "test": final}, step=300)
    at.run()
    assert not at.exception and not at.error
    assert not any("is training" in i.value for i in at.info)
    table = at.table[0].value
    assert table["Δm (%) ↓"].notna().all()  # Delta-m of both runs, against the new baseline
    assert set(table["baseline"]) == {baseline}
    assert at.session_state["_compare_watched"] == []
    assert refresh_periods[-1] is None  # and the refresh switched off


def test_waited_on_lists_active_selected_runs_and_their_baselines() -> None:
    store = RunStore()
    a = stored_run(store, "ew", seed=2)
    b = stored_run(store, "uw", seed=2, status="running")
    assert waited_on(store, run_rows(store, [a, b])) == [b]
    base = stored_run(store, "ew", seed=2, arch="single_task", status="queued")
    assert waited_on(store, run_rows(store, [a, b])) == sorted([b, base])
    store.set_status(base, "finished")
    store.set_status(b, "diverged")
    assert waited_on(store, run_rows(store, [a, b])) == []


def test_final_table_blanks_alerts_and_statuses() -> None:
    store = RunStore()
    ok = stored_run(store, "ew", seed=3)
    stuck = stored_run(store, "static", seed=3, params={"weights": [1.0, 15.0]},
                       alerts=[{"step": 100, "kind": "collapse", "task": "left", "message": "left stayed at chance"}])
    bad = stored_run(store, "uw", seed=3, status="diverged", error="the loss of left grew 1000x")
    data = load_compare(store, [ok, stuck, bad])
    table = cc.final_table(data.runs, "test")
    assert list(table.columns[:2]) == ["status", "alerts"]
    labels = [r.label for r in data.runs]
    assert table.loc[labels[1], "alerts"] == "left stayed at chance"
    assert table.loc[labels[2], "status"] == "diverged"
    assert table.loc[labels[2]].drop(["status", "alerts"]).isna().all()  # a diverged run has no test results

    from dashboard.shared import live, tables
    levels = {r.label: live.status_level(r.row) for r in data.runs}
    assert [levels[x] for x in labels] == ["success", "warning", "error"]
    html = tables.styled(table, levels).to_html()
    assert "None" not in html and tables.BLANK in html and live.LEVEL_COLOURS["error"] in html


def test_compare_colours_mean_runs_on_every_chart() -> None:
    store = RunStore()
    ids = [stored_run(store, "ew", seed=4), stored_run(store, "static", seed=4, params={"weights": [1.0, 15.0]})]
    data = load_compare(store, ids)
    colours = {r.label: r.colour for r in data.runs}
    for fig in (cc.weights_figure(data), cc.cosine_figure(data), cc.task_figure(data, "left")):
        for trace in fig.data:
            assert trace.line.color == colours[trace.name or trace.legendgroup], (fig.layout.title.text, trace.name)
    weights = cc.weights_figure(data)
    assert [a.text for a in weights.layout.annotations] == ["weight of left", "weight of right"]  # a panel per task


# -- names ------------------------------------------------------------------------------------------
def test_run_names_say_data_tasks_architecture_and_weights() -> None:
    config = RunConfig.from_dict({"data": {"name": "multi_digits", "tasks": ["left", "sum"]},
                                  "model": {"architecture": "hps"},
                                  "weighting": {"method": "static", "params": {"weights": [1, 15]}}})
    assert naming.run_name(config, "Multi-Digits") == "Multi-Digits left+sum · HPS · static 1/15"
    assert naming.run_name(config) == "Multi-Digits left+sum · HPS · static 1/15"  # the registry's title
    assert naming.run_name(config, "Multi-Digits", [1, 1]) == "Multi-Digits left+sum · HPS · static 1/15→1/1"
    mmoe = json.loads(config.to_json())
    mmoe["model"] = {"architecture": "mmoe"}
    mmoe["weighting"] = {"method": "uw"}
    assert naming.run_name(mmoe, "Multi-Digits") == "Multi-Digits left+sum · MMoE · uw"


def test_steering_renames_only_runs_named_by_the_app() -> None:
    config = RunConfig.from_dict({"data": {"name": "multi_digits", "tasks": ["left", "sum"]},
                                  "weighting": {"method": "static", "params": {"weights": [1, 15]}}})
    name = naming.run_name(config, "Multi-Digits")
    once = naming.steered_name(name, config, None, [1, 1], "Multi-Digits")
    assert once == f"{name}→1/1"
    assert naming.steered_name(once, config, [1, 1], [1, 4], "Multi-Digits") == f"{name}→1/4"
    assert naming.steered_name("my own name", config, None, [1, 1], "Multi-Digits") is None
    assert naming.steered_name(once, config, [1, 1], [1, 1], "Multi-Digits") is None


def test_shown_names_are_unique_even_for_identical_setups() -> None:
    shown = naming.display_names([("abcd1234ef00", "same"), ("abcd9999ef00", "same"), ("ffff0000aaaa", "other")])
    assert len(set(shown.values())) == 3
    assert shown["ffff0000aaaa"] == "other · ffff"
    assert shown["abcd1234ef00"].startswith("same · abcd1")
    assert naming.display_name("", "abcd1234ef00") == "abcd1234ef00"


def test_charts_are_built_once_per_selection_and_again_when_a_run_moves_on_or_is_renamed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures' JSON is cached per selection and settings (a finished selection costs no figure
    work on the next view), but never served stale: more points or a new name build them afresh."""
    from dashboard.shared import live_chart

    st.cache_data.clear()
    store = RunStore()
    a = stored_run(store, "ew", seed=1)
    b = stored_run(store, "uw", seed=2, status="running")
    drawn: dict[str, str] = {}
    monkeypatch.setattr(live_chart, "_component", lambda data, key: drawn.__setitem__(key, data["figure"]))
    monkeypatch.setattr(live_chart, "served_plotly_js", lambda: "app/static/plotly.min.js")
    built: list[str] = []
    real = cc.task_figure
    monkeypatch.setattr(cc, "task_figure",
                        lambda data, task, *args, **kw: built.append(task) or real(data, task, *args, **kw))

    def size(key: str) -> int:
        """The chart's points, as the bytes of its traces' x arrays (base64 or lists)."""
        traces = json.loads(drawn[key])["data"]
        return sum(len(t["x"]["bdata"]) if isinstance(t["x"], dict) else len(t["x"]) for t in traces)

    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["runs"] = f"{a},{b}"
    at.run()
    assert not at.exception and built == ["left", "right"]
    first = drawn["cmp_left"]
    at.run()  # the same selection, nothing moved: no figure work, the same charts
    assert built == ["left", "right"] and drawn["cmp_left"] == first

    before = size("cmp_left")
    more = [(k, k / 50, k * 0.01, "train", t, "loss", 0.1) for t in ("left", "right") for k in range(301, 601)]
    store.write_rows(b, more, [], step=600)
    at.run()  # the refresh while b trains
    assert built == ["left", "right"] * 2 and size("cmp_left") > before

    store.rename(a, "my renamed run")
    at.run()
    assert len(built) == 6 and "my renamed run" in drawn["cmp_left"]
