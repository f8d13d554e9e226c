"""The teaching pages (Landscape, Gradient conflict, Method guide) in AppTest, and their Plotly figures.

The pages run inside an st.navigation with the Train page, as in the app, so the guide's links to
the Train page resolve. Toy runs here are short (a few hundred steps), which the Landscape page
computes within the script run; the long runs are tested in test_toy.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import plotly.graph_objects as go
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.teaching import charts as toy_charts
from mtlcore import teaching as toy
from mtlcore.weighting import available, describe

PAGES = Path(__file__).resolve().parent.parent / "dashboard" / "app_pages"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")  # no training here
    monkeypatch.setenv("MTL_TOY_WORKERS", "1")  # short toy runs, in the test process


def app(default: str, params: dict[str, str] | None = None) -> AppTest:
    entry = "\n".join([
        "import streamlit as st",
        "pages = [" + ", ".join(f"st.Page(r'{PAGES / name}.py', title='{name}', default={name == default})"
                                for name in ("train", "landscape", "explorer", "guide")) + "]",
        "st.navigation(pages).run()",
    ])
    at = AppTest.from_string(entry, default_timeout=120)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


# -- Landscape -------------------------------------------------------------------------------------------
def test_landscape_lists_the_registry_runs_and_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    at = app("landscape").run()
    assert_clean(at)
    methods = at.multiselect(key="toy_methods")
    assert methods.options == [m["title"] for m in describe()]  # every registered method, by title
    assert methods.value == ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl"]
    at.number_input(key="toy_steps").set_value(300).run()
    assert not at.get("plotly_chart")  # nothing computed yet: a Run button and an estimate
    at.button(key="toy_run").click().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table.index) == ["Equal weighting", "MGDA", "PCGrad", "CAGrad", "Nash-MTL"]
    assert list(table.columns)[:5] == ["(-8.5, 7.5)", "(0, 0)", "(9, 9)", "(-7.5, -0.5)", "(9, -1)"]
    figs = charts(at)
    assert set(figs) == {"toy_landscape", "toy_loss_space"}
    end_markers = [t for t in figs["toy_landscape"]["data"] if t.get("mode") == "markers" and t.get("name") == "MGDA"]
    assert len(end_markers) == 3  # the current positions, on each of the three panels

    # the step slider replays: at step 0 every method sits on its starts
    at.slider(key="toy_step_300").set_value(0).run()
    first = [t for t in charts(at)["toy_landscape"]["data"] if t.get("mode") == "markers" and t.get("name") == "MGDA"]
    assert first[0]["x"] != end_markers[0]["x"]

    # a second visit finds the set in the cache and draws it at once
    again = app("landscape")
    again.session_state["toy_steps"] = 300
    again.run()
    assert_clean(again)
    assert set(charts(again)) == {"toy_landscape", "toy_loss_space"}
    assert "from the cache" in " ".join(c.value for c in again.caption)


def test_landscape_reads_own_starts_and_explains_bad_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    at = app("landscape").run()
    at.multiselect(key="toy_methods").set_value(["mgda"])
    at.multiselect(key="toy_starts").set_value([])
    at.text_input(key="toy_own").set_value("5, 5; -2 8")
    at.number_input(key="toy_steps").set_value(100)
    at.run()
    at.button(key="toy_run").click().run()
    assert_clean(at)
    assert list(at.dataframe[0].value.columns)[:2] == ["(5, 5)", "(-2, 8)"]
    at.text_input(key="toy_own").set_value("5, 5, 5").run()
    assert not at.exception
    assert any("is not a point" in e.value for e in at.error)


def test_landscape_says_which_methods_cannot_adapt_in_the_toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    at = app("landscape").run()
    assert not any("no epochs" in c.value for c in at.caption)
    at.multiselect(key="toy_methods").set_value(["ew", "dwa"]).run()
    assert_clean(at)
    assert [c.value for c in at.caption if "no epochs" in c.value][0].startswith(":material/info: **Dynamic")


def test_the_server_warm_up_draws_the_landscapes_opening_backgrounds(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """server.py's warm-up calls warm_opening_view: the page's opening setup (shorter runs here; the
    backgrounds depend on the starts and the scale only) then finds its contour pictures drawn."""
    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    st.cache_resource.clear()  # the figures an earlier test drew
    toy_charts._backgrounds.cache_clear()
    toy_charts.warm_opening_view()
    before = toy_charts._backgrounds.cache_info()
    at = app("landscape").run()
    at.number_input(key="toy_steps").set_value(300).run()
    at.button(key="toy_run").click().run()
    assert_clean(at)
    assert set(charts(at)) == {"toy_landscape", "toy_loss_space"}
    after = toy_charts._backgrounds.cache_info()
    assert after.misses == before.misses and after.hits > before.hits


def test_landscape_presets_are_the_papers_protocols() -> None:
    at = app("landscape").run()
    assert_clean(at)
    protocol = at.selectbox(key="toy_protocol")
    assert protocol.value == "nash_mtl" and set(protocol.options) >= {
        "Nash-MTL paper (Navon et al. 2022): five starts, 35,000 Adam steps at lr 1e-3, L1 scaled by 0.1",
        "CAGrad paper (Liu et al. 2021): three starts, 100,000 Adam steps at lr 1e-3, CAGrad's c = 0.5, "
        "losses not scaled"}
    protocol.set_value("cagrad").run()
    assert_clean(at)
    assert at.multiselect(key="toy_starts").value == ["(-8.5, 7.5)", "(-8.5, -5)", "(9, 9)"]
    assert at.number_input(key="toy_steps").value == 100_000
    assert at.select_slider(key="toy_imbalance").value == 1.0 and at.select_slider(key="toy_lr").value == 1e-3
    from dashboard.train import forms

    key = forms.param_key("toy", "cagrad", "c")
    assert at.number_input(key=key).value == 0.5
    at.selectbox(key="toy_protocol").set_value("nash_mtl").run()
    assert at.number_input(key=key).value == 0.4  # back to CAGrad's own default
    assert at.number_input(key="toy_steps").value == 35_000 and len(at.multiselect(key="toy_starts").value) == 5


def test_landscape_grows_a_shown_set_by_the_new_start_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mtlcore.teaching import runs as toy_runs

    monkeypatch.setenv("MTL_CACHE", str(tmp_path))
    computed: list[tuple[str, tuple[int, ...]]] = []

    def counting(real):  # type: ignore[no-untyped-def]
        def run(jobs, *args, **kwargs):  # type: ignore[no-untyped-def]
            computed.extend((job.spec.method, job.slots) for job in jobs)
            return real(jobs, *args, **kwargs)
        return run

    # inline or in the worker processes (the dashboard keeps torch out of its process)
    monkeypatch.setattr(toy_runs, "_simulate_jobs", counting(toy_runs._simulate_jobs))
    monkeypatch.setattr(toy_runs, "_simulate_parallel", counting(toy_runs._simulate_parallel))
    built: list[int] = []
    real_figure = toy_charts.landscape_figure
    monkeypatch.setattr(toy_charts, "landscape_figure", lambda *a, **k: built.append(1) or real_figure(*a, **k))
    at = app("landscape").run()
    at.multiselect(key="toy_methods").set_value(["mgda", "ew"])
    at.number_input(key="toy_steps").set_value(250)
    at.run()
    at.button(key="toy_run").click().run()
    assert_clean(at)
    assert sorted(computed) == [("ew", (0, 1, 2, 3, 4)), ("mgda", (0, 1, 2, 3, 4))] and len(built) == 1
    at.run()  # a rerun draws the kept figures
    assert len(built) == 1
    computed.clear()
    at.text_input(key="toy_own").set_value("3, -2").run()  # no click: only the new start is computed
    assert_clean(at)
    assert sorted(computed) == [("ew", (5,)), ("mgda", (5,))]
    assert list(at.dataframe[0].value.columns)[5] == "(3, -2)"
    assert set(charts(at)) == {"toy_landscape", "toy_loss_space"}
    light = charts(at)["toy_landscape"]
    at.toggle(key="toy_detail").set_value(True).run()
    full = charts(at)["toy_landscape"]
    assert len(full["frames"]) > len(light["frames"]) and len(light["frames"]) <= toy_charts.LIGHT.frames


# -- Gradient conflict -----------------------------------------------------------------------------------
def test_explorer_shows_which_methods_stop_conflicting() -> None:
    at = app("explorer").run()
    assert_clean(at)
    assert at.multiselect(key="cx_methods").options == [m["title"] for m in describe()]
    frame = at.dataframe[0].value.set_index("method")
    assert frame.loc["Equal weighting", "conflicts with"] == "task 1"  # 120 degrees, |g2| = 3 |g1|
    assert frame.loc["MGDA", "conflicts with"] == "none"
    at.slider(key="cx_angle").set_value(60).run()
    frame = at.dataframe[0].value.set_index("method")
    assert (frame["conflicts with"] == "none").all()  # below 90 degrees nothing conflicts
    at.radio(key="cx_tasks").set_value(3).run()
    assert_clean(at)
    assert "cos(d, g3)" in at.dataframe[0].value.columns
    fig = charts(at)["cx_plane"]
    assert sum(1 for t in fig["data"] if t.get("name", "").startswith("g")) == 3


def test_explorer_runs_every_registered_method() -> None:
    at = app("explorer").run()
    at.multiselect(key="cx_methods").set_value(available()).run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == len(available())
    at.radio(key="cx_tasks").set_value(3)
    at.slider(key="cx_angle").set_value(180).run()  # g1 and g2 opposite: nothing lowers both
    assert_clean(at)
    assert "Pareto-stationary" in " ".join(m.value for m in at.markdown)


# -- Method guide -------------------------------------------------------------------------------------------
def test_guide_has_a_card_per_method_with_a_link_that_presets_the_train_page() -> None:
    at = app("guide").run()
    assert_clean(at)
    index = " ".join(h.proto.body for h in at.get("html"))
    assert all(f"<td>{m['name']}</td>" in index for m in describe())  # every method listed
    assert len(at.get("page_link")) == 1 and len(at.get("latex")) <= 1  # one card drawn, search first
    at.toggle(key="guide_all").set_value(True).run()
    links = at.get("page_link")
    assert len(links) == len(available())
    assert len(at.get("latex")) == sum(1 for m in describe() if m.get("formula"))
    by_title = {m["title"]: m["name"] for m in describe()}
    for link in links:
        assert link.proto.page == "train"
        assert parse_qs(link.proto.query_string)["method"][0] in by_title
    for title in ("MGDA", "Nash-MTL", "IMTL (IMTL-G + IMTL-L)"):  # following a link opens Train with that method
        train = app("train", {"method": title}).run()
        assert not train.exception
        assert train.selectbox(key="method").value == by_title[title]


def test_guide_states_where_a_method_departs_from_its_reference_code() -> None:
    at = app("guide").run()
    at.toggle(key="guide_all").set_value(True).run()  # every card, not only the one picked
    assert_clean(at)
    shown = " ".join(m.value for m in at.markdown)
    noted = [m for m in describe() if m.get("departures")]
    assert {"uw", "famo", "db_mtl", "nash_mtl", "fairgrad", "imtl", "gradvac"} <= {m["name"] for m in noted}
    assert shown.count("Against the reference code") == len(noted)
    assert "classification term" in shown and "weighting.heads" in " ".join(c.value for c in at.caption)


def test_guide_filters_by_kind_and_search() -> None:
    at = app("guide").run()
    at.toggle(key="guide_all").set_value(True)
    at.selectbox(key="guide_kind").set_value("loss").run()
    assert len(at.get("page_link")) == sum(1 for m in describe() if m["kind"] == "loss")
    at.selectbox(key="guide_kind").set_value("all")
    at.text_input(key="guide_search").set_value("bargaining").run()
    assert_clean(at)
    assert 1 <= len(at.get("page_link")) < len(available())


def test_guide_opens_the_card_chosen_in_its_index() -> None:
    at = app("guide").run()
    assert_clean(at)
    at.selectbox(key="guide_open").set_value("nash_mtl").run()
    assert_clean(at)
    (link,) = at.get("page_link")
    assert parse_qs(link.proto.query_string)["method"][0] == "Nash-MTL"


# -- the figures ---------------------------------------------------------------------------------------------
def test_every_figure_passes_plotly_validation() -> None:
    runs = toy.simulate(["mgda", "ew"], [(1.0, 2.0), (-3.0, -1.0)], steps=1500, use_cache=False)
    order = available()
    for fig in (toy_charts.landscape_figure(runs, 700, 0.1, order), toy_charts.loss_space_figure(runs, 700, 0.1, order),
                toy_charts.conflict_figure(toy_charts.gradients_from_angles([0, 120], [1, 2]),
                                           {"mgda": np.array([1.0, 1.0]), "ew": np.zeros(2)}, order)):
        go.Figure(fig.to_dict())  # full validation of every property
    fig = toy_charts.landscape_figure(runs, 700, 0.1, order)
    lines = [t for t in fig.data if t.type == "scatter" and t.mode == "lines" and t.name == "mgda"]
    assert lines
    for t in lines:  # one trace per panel, its starts split by NaN gaps, each start's path cut to the maximum
        x = np.asarray(t.x, dtype=np.float64)
        gaps = np.flatnonzero(np.isnan(x))
        assert gaps.size == len(runs[0].starts) - 1
        assert np.diff(np.concatenate([[-1], gaps, [x.size]])).max() - 1 <= toy_charts.MAX_TRAJECTORY_POINTS + 1
    assert "at most" in fig.layout.title.subtitle.text  # the cut is said under the title, over no panel


def test_nonconflicting_arc_by_hand() -> None:
    arc = toy_charts.nonconflicting_arc(toy_charts.gradients_from_angles([0, 120], [1, 3]))
    assert arc == pytest.approx((math.radians(30), math.radians(90)))
    arc = toy_charts.nonconflicting_arc(toy_charts.gradients_from_angles([0, 60], [1, 1]))
    assert arc == pytest.approx((math.radians(-30), math.radians(90)))
    assert toy_charts.nonconflicting_arc(toy_charts.gradients_from_angles([0, 180], [1, 1])) is None
    assert toy_charts.nonconflicting_arc(toy_charts.gradients_from_angles([0, 170, -170], [1, 1, 1])) is None
    arc = toy_charts.nonconflicting_arc(toy_charts.gradients_from_angles([170, -170], [1, 1]))
    assert arc is not None and arc[1] - arc[0] == pytest.approx(math.radians(160))


def test_method_colours_are_stable_and_distinct() -> None:
    order = available()
    colours = [toy_charts.method_colour(n, order) for n in order[: len(toy_charts.METHOD_PALETTE)]]
    assert len(set(colours)) == len(colours)
    assert toy_charts.method_colour("mgda", order) == toy_charts.method_colour("mgda", list(order))
