"""Presenter mode (issue 13): `?present=1` or the sidebar's toggle shows the live charts alone, large.

The setup column, the presets and the sidebar's navigation go; the weight sliders stay (a teacher
steers a static run in front of the class); leaving presenter mode brings back the same setup.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared import live_chart, present
from dashboard.train import forms, presets

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")


def open_page(**query: str | list[str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


WIDGETS = ("selectbox", "button", "select_slider", "multiselect", "toggle")


def keys(at: AppTest) -> set[str]:
    """The keys of the widgets a person sees: not those in the presenter's hidden setup block."""
    out: set[str] = set()

    def walk(node: object) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(child, "key", None) == present.HIDDEN_SETUP:
                continue
            if getattr(child, "type", None) in WIDGETS and child.key:
                out.add(child.key)
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return out


def hides_its_setup(at: AppTest) -> bool:
    style = "".join(h.proto.body for h in at.get("html"))
    return f".st-key-{present.HIDDEN_SETUP} {{ display: none; }}" in style


def test_the_flag_hides_the_setup_and_keeps_the_sliders() -> None:
    at = open_page(present="1", **{forms.weight_key("right"): "2"})
    shown = keys(at)
    assert forms.DATASET not in shown and "train_button" not in shown and "preset_scale" not in shown
    assert "present_toggle" not in shown  # the sidebar is not drawn
    assert {forms.weight_key("left"), forms.weight_key("right"), "present_exit"} <= shown
    assert at.select_slider(key=forms.weight_key("right")).value == 2.0
    assert hides_its_setup(at) and at.selectbox(key=forms.DATASET) is not None  # drawn, not shown


def test_a_presenting_link_opened_in_a_fresh_browser_has_the_links_setup() -> None:
    """The address bar of a session presenting a preset's run, opened elsewhere (the projector's
    browser): the sliders are the link's tasks at the link's weights (they were left and right at 1,
    the defaults, steering nothing: the setup widgets were not drawn, so they never read the link)."""
    query = presets.preset_state(presets.get("scale"))
    link = {forms.TASKS: list(query[forms.TASKS]), forms.weight_key("sum"): f"{presets.SCALE_WEIGHT:g}",
            "present": "1"}
    at = open_page(**link)
    sliders = {w.key: w.value for w in at.select_slider if w.key.startswith("w_")}
    assert sliders == {forms.weight_key("left"): 1.0, forms.weight_key("sum"): presets.SCALE_WEIGHT}
    assert {forms.weight_key("left"), forms.weight_key("sum")} <= keys(at)
    at.button(key="present_exit").click().run()
    assert at.multiselect(key=forms.TASKS).value == ["left", "sum"]
    assert at.select_slider(key=forms.weight_key("sum")).value == presets.SCALE_WEIGHT

    normal = open_page()
    assert {forms.DATASET, "train_button", "preset_scale", "present_toggle"} <= keys(normal)
    assert "present_exit" not in keys(normal)


def test_presenting_and_back_keeps_the_setup() -> None:
    at = open_page()
    at.button(key="preset_scale").click().run()
    expected = forms.build_config(forms.read_setup(presets.preset_state(presets.get("scale"))))
    at.toggle(key="present_toggle").set_value(True).run()
    assert at.query_params.get(present.PRESENT_PARAM) == "1"
    assert forms.DATASET not in keys(at)
    assert [w.key for w in at.select_slider if w.key.startswith("w_")] == ["w_left", "w_sum"]
    at.button(key="present_exit").click().run()
    assert present.PRESENT_PARAM not in at.query_params
    assert forms.DATASET in keys(at)
    assert forms.build_config(forms.read_setup(at.session_state)) == expected


def test_charts_grow_for_a_projector() -> None:
    import plotly.graph_objects as go

    fig = go.Figure(layout={"height": 300, "title": {"text": "Loss", "font": {"size": 14}},
                            "legend": {"font": {"size": 11}}, "margin": {"t": 62}})
    live_chart._enlarge(fig, present.CHART_SCALE)
    assert fig.layout.height == int(300 * present.CHART_SCALE) and fig.layout.title.font.size > 14
    assert fig.layout.legend.font.size > 11 and fig.layout.font.size > 12


def test_other_pages_in_presenter_mode_have_a_way_out() -> None:
    at = open_page(present="1")
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="present_exit").click().run()
    assert present.PRESENT_PARAM not in at.query_params
    assert "present_toggle" in keys(at)  # the sidebar is back
