"""The dashboard's plain modules: setup parsing and checks, presets, downsampling, live reading."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dashboard.shared import catalog, charts, live
from dashboard.train import forms, presets
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore


def _methods_with_params() -> list[dict]:
    return [m for m in catalog.methods() if m["name"] != forms.STATIC and m["params"]]


# -- forms -------------------------------------------------------------------------------------------
def test_defaults_make_a_valid_static_run() -> None:
    config, problems = forms.config_from_values({})
    assert problems == []
    assert config is not None
    assert config.data.name == "multi_digits" and config.data.tasks == ["left", "right"]
    assert config.weighting.method == "static" and config.weighting.params == {"weights": [1.0, 1.0]}
    assert config.weighting.heads == "weighted"  # the reference code's behaviour
    RunConfig.from_json(config.to_json()).validate()  # what the worker will read back


def test_slider_values_become_the_weights_in_task_order() -> None:
    values = {forms.TASKS: ["sum", "left"], forms.weight_key("left"): 0.5, forms.weight_key("sum"): 20.0}
    config, problems = forms.config_from_values(values)
    assert not problems
    assert config.data.tasks == ["left", "sum"]  # data set order, whatever the click order
    assert config.weighting.params["weights"] == [0.5, 20.0]


@pytest.mark.parametrize("values, key, words", [
    ({forms.TASKS: []}, forms.TASKS, "at least one task"),
    ({forms.weight_key("left"): 0.0, forms.weight_key("right"): 0.0}, forms.WEIGHTS, "all weights are zero"),
    ({forms.DATASET: "multi_mnist"}, forms.DATASET, "root"),
    ({forms.LR: "fast"}, forms.LR, "number"),
])
def test_impossible_setups_are_explained_at_their_widget(values: dict, key: str, words: str) -> None:
    config, problems = forms.config_from_values(values)
    assert config is None
    assert any(p.key == key and words in p.message.lower() for p in problems), problems


@pytest.mark.parametrize("values, key, words", [
    ({forms.METHOD: "mgda", forms.ARCH: "single_task"}, forms.ARCH, "shares none"),
    ({forms.METHOD: "pcgrad", forms.ARCH: "soft_sharing"}, forms.ARCH, "shares none"),
    ({forms.METHOD: "graddrop", forms.ARCH: "mmoe"}, forms.ARCH, "needs a shared representation"),
    ({forms.METHOD: "pcgrad", forms.GRADIENTS: "representation"}, forms.GRADIENTS, "does not work on the shared"),
])
def test_a_method_the_architecture_cannot_serve_is_refused_at_its_widget(values: dict, key: str, words: str) -> None:
    config, problems = forms.config_from_values(values)
    assert config is None
    assert [p.key for p in problems] == [key] and words in problems[0].message, problems


def test_the_page_refuses_exactly_the_pairs_validate_rejects() -> None:
    for m in catalog.methods():
        for a in catalog.architectures():
            config, problems = forms.config_from_values({forms.METHOD: m["name"], forms.ARCH: a["name"]})
            plain = RunConfig.from_dict({"model": {"architecture": a["name"]}, "weighting": {"method": m["name"]}})
            try:
                plain.validate()
                rejected = ""
            except ConfigError as exc:
                rejected = str(exc)
            assert (config is None) == bool(rejected), (m["name"], a["name"], problems)
            if rejected:
                assert [p.message for p in problems] == [rejected]


def test_generated_parameter_values_are_validated_by_the_core() -> None:
    method = _methods_with_params()[0]
    spec = next(p for p in method["params"] if p["kind"] in ("float", "int") and p["low"] is not None)
    key = forms.param_key("m", method["name"], spec["name"])
    config, problems = forms.config_from_values({forms.METHOD: method["name"], key: spec["low"] - 1})
    assert config is None
    assert [p.key for p in problems] == [key]
    assert spec["name"] in problems[0].message


def test_every_method_builds_a_config_with_its_default_widgets() -> None:
    for m in catalog.methods():
        config, problems = forms.config_from_values({forms.METHOD: m["name"]})
        assert not problems, (m["name"], problems)
        assert config.weighting.method == m["name"]


def test_floats_text_is_parsed_and_bad_text_explained() -> None:
    assert forms.parse_floats(" 1, 0.5;2 ") == [1.0, 0.5, 2.0]
    assert forms.parse_floats("") is None
    with pytest.raises(Exception, match="'x' is not a number"):
        forms.parse_floats("1, x")


def test_live_weights_need_a_valid_positive_slider() -> None:
    values = {forms.weight_key("left"): 2.0, forms.weight_key("sum"): 0.0}
    assert forms.live_weights(values, ["left", "sum"]) == [2.0, 0.0]
    assert forms.live_weights({forms.weight_key("left"): 0.0}, ["left"]) is None


# -- presets -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", presets.all_presets(), ids=lambda p: p.key)
def test_presets_are_complete_valid_setups(preset: presets.Preset) -> None:
    values = presets.preset_state(preset)
    setup = forms.read_setup(values)
    assert setup.tasks == [t for t in catalog.task_names(setup.dataset) if t in preset.values[forms.TASKS]]
    assert forms.build_config(setup).validate()
    blocking = [p for p in forms.check(setup) if p.key != forms.DATASET]  # a set may be missing here
    assert blocking == []
    assert preset.explanation and "\n" not in preset.explanation
    for key in (forms.LR, forms.BATCH):
        assert values[key] in (forms.LR_CHOICES if key == forms.LR else forms.BATCH_CHOICES)
    for t in setup.tasks:
        assert values[forms.weight_key(t)] in forms.WEIGHT_CHOICES


def test_scale_imbalance_preset_weighs_a_regression_over_a_classification() -> None:
    setup = forms.read_setup(presets.preset_state(presets.get("scale")))
    kinds = {t: catalog.task(setup.dataset, t)["kind"] for t in setup.tasks}
    weights = dict(zip(setup.tasks, setup.weights))
    reg = [t for t, k in kinds.items() if k == "regression"]
    cls = [t for t, k in kinds.items() if k == "classification"]
    assert reg and cls and min(weights[t] for t in reg) >= 10 * max(weights[t] for t in cls)


# -- charts ------------------------------------------------------------------------------------------
def test_downsample_keeps_extremes_and_the_last_point() -> None:
    x = np.arange(100_000, dtype=np.float32)
    y = np.sin(x / 500).astype(np.float32)
    y[12_345] = 50.0  # a spike must survive
    y[777] = np.nan
    xs, ys = charts.downsample(x, y)
    assert len(xs) <= charts.MAX_POINTS
    assert 50.0 in ys and xs[-1] == x[-1]
    assert np.all(np.diff(xs) > 0)
    small_x, small_y = charts.downsample(x[:10], y[:10])
    assert len(small_x) == 10


def test_task_colours_follow_the_data_set_order_on_every_chart() -> None:
    all_tasks = ["left", "right", "sum"]
    assert charts.task_colour("sum", all_tasks) == charts.PALETTE[2]
    view = charts.RunView(tasks=["sum"], all_tasks=all_tasks,
                          series={("train", "loss", "sum"): (np.arange(3, dtype=np.float32),) * 2,
                                  ("train", "weight", "sum"): (np.arange(3, dtype=np.float32),) * 2})
    for fig in (charts.loss_figure(view), charts.weights_figure(view)):
        assert fig.data[0].line.color == charts.PALETTE[2]


def test_long_runs_are_cut_with_a_visible_note() -> None:
    n = 10_000
    steps = np.arange(1, n + 1, dtype=np.float32)
    view = charts.RunView(tasks=["left"], all_tasks=["left"], total_steps=n, key="r1",
                          series={("train", "loss", "left"): (steps, 1 / steps),
                                  ("train", "weight", "left"): (steps, np.ones(n, np.float32))})
    fig = charts.loss_figure(view)
    assert len(fig.data[0].x) <= charts.MAX_POINTS
    assert any("of 10,000 points" in a.text for a in fig.layout.annotations)
    assert fig.layout.uirevision == "r1"
    short = charts.RunView(tasks=["left"], all_tasks=["left"], series={("train", "loss", "left"): (steps[:5],) * 2})
    assert not any("points" in (a.text or "") for a in charts.loss_figure(short).layout.annotations)


def test_measured_series_have_markers_only_while_they_are_few() -> None:
    """Validation points and cosines: markers where each was taken, but a plain line for a run
    validated every few steps (a thousand markers drew one solid band over the curve)."""
    def view(n: int) -> charts.RunView:
        x = np.arange(1, n + 1, dtype=np.float32)
        return charts.RunView(tasks=["left", "right"], all_tasks=["left", "right"],
                              series={("val", "loss", "left"): (x, 1 / x), ("val", "accuracy", "left"): (x, x / n),
                                      ("grad", "cosine", "left|right"): (x, np.zeros(n, np.float32))})
    for n, mode in ((charts.MARKERS_UP_TO, "lines+markers"), (charts.MARKERS_UP_TO + 1, "lines"), (5_000, "lines")):
        v = view(n)
        traces = [*charts.loss_figure(v).data, *charts.metric_figure(v).data, *charts.cosine_figure(v).data]
        assert traces and {t.mode for t in traces} == {mode}, n


def test_every_figure_passes_plotly_validation() -> None:
    """Figures are built without plotly's checks for speed; here every kind gets the full checks."""
    import plotly.graph_objects as go

    s = np.arange(1, 50, dtype=np.float32)
    full = charts.RunView(
        tasks=["left", "sum"], all_tasks=["left", "right", "sum"], total_steps=100, key="k",
        metric={"left": ("accuracy", True), "sum": ("mae", False)}, weight_changes=[(10, {"left": 1.0, "sum": 2.0})],
        series={("train", "loss", "left"): (s, 1 / s), ("train", "loss", "sum"): (s, 2 / s),
                ("train", "weight", "left"): (s, s * 0 + 1), ("train", "weight", "sum"): (s, s * 0 + 2),
                ("val", "loss", "left"): (s[::10], 1 / s[::10]), ("val", "accuracy", "left"): (s[::10], s[::10] / 50),
                ("val", "mae", "sum"): (s[::10], 1 / s[::10]), ("grad", "cosine", "left|sum"): (s, np.cos(s))})
    empty = charts.RunView(tasks=["left"], all_tasks=["left"], series={})
    for view in (full, empty):
        for fig in (charts.loss_figure(view), charts.loss_figure(view, weighted=True), charts.metric_figure(view),
                    charts.weights_figure(view), charts.cosine_figure(view)):
            go.Figure(fig.to_dict())  # raises ValueError on any invalid property
    metric = charts.metric_figure(full)
    assert {t.xaxis for t in metric.data} == {"x", "x2"}  # one panel per task


def test_weights_chart_marks_live_changes() -> None:
    s = np.arange(10, dtype=np.float32)
    view = charts.RunView(tasks=["a"], all_tasks=["a"], series={("train", "weight", "a"): (s, s)},
                          weight_changes=[(4, {"a": 3.0})])
    fig = charts.weights_figure(view)
    assert any(sh.x0 == 4 for sh in fig.layout.shapes)
    marks = [t for t in fig.data if t.name == "slider moved"]
    assert list(marks[0].x) == [4] and "a 3" in marks[0].hovertext[0]


# -- live --------------------------------------------------------------------------------------------
def _rows(step: int, tasks=("left", "right")) -> list[tuple]:
    return [(step, step / 10, step * 0.1, "train", t, "loss", 1.0 / step) for t in tasks]


def test_metrics_buffer_reads_only_new_steps_and_never_misses_late_rows(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run({"data": {"name": "multi_digits", "tasks": ["left", "right"]}}, status="running")
    store.write_rows(rid, _rows(1) + _rows(2))
    buf = live.MetricsBuffer(rid)
    assert len(buf.update(store)) == 4
    store.write_rows(rid, [(2, 0.2, 0.2, "val", "left", "loss", 0.5)])  # an evaluation of step 2, later
    store.write_rows(rid, _rows(3))
    df = buf.update(store)
    assert len(df) == 7
    assert not df.duplicated(["step", "split", "task", "name"]).any()
    assert len(buf.update(store)) == 7


def test_waiting_for_first_points_returns_when_they_come_or_the_run_ends(db_path: str) -> None:
    store = RunStore(db_path)
    rid = store.create_run({"data": {"name": "multi_digits"}}, status="running")
    t = time.monotonic()
    assert live.wait_for_first_points(store, rid, timeout_s=0.3) is False
    assert time.monotonic() - t >= 0.3
    store.write_rows(rid, _rows(1))
    assert live.wait_for_first_points(store, rid, timeout_s=5) is True
    done = store.create_run({"data": {"name": "multi_digits"}}, status="queued")
    store.set_status(done, "failed", error="boom")
    t = time.monotonic()
    assert live.wait_for_first_points(store, done, timeout_s=5) is False
    assert time.monotonic() - t < 1


def test_progress_rate_and_time_left() -> None:
    steps = np.arange(1, 101, dtype=np.float64)
    times = steps * 0.05  # 20 steps/s
    p = live.progress({"step": 100, "total_steps": 300, "status": "running"}, steps, times)
    assert p.rate == pytest.approx(20.0)
    assert p.eta_s == pytest.approx(10.0)
    assert "100 / 300" in p.text() and "20.0 steps/s" in p.text() and "10 s left" in p.text()
    done = live.progress({"step": 300, "total_steps": 300, "status": "finished"}, steps, times)
    assert done.eta_s is None and done.fraction == 1.0


def test_status_messages_say_why() -> None:
    level, text = live.status_message({"status": "failed", "step": 12,
                                       "error": "the loss of task 'left' became NaN at step 12 (diverged)"})
    assert level == "error" and "'left'" in text and "step 12" in text
    level, text = live.status_message({"status": "queued"}, queue_position=2, running=2, limit=2)
    assert level == "info" and "position 2" in text and "2 of 2" in text
    level, text = live.status_message({"status": "stopped", "step": 40})
    assert level == "warning" and "kept" in text


def test_a_diverged_or_collapsed_run_is_never_a_green_finish() -> None:
    level, text = live.status_message({"status": "diverged", "step": 3, "error": "the loss of task 'sum' grew"})
    assert level == "error" and text.startswith("Diverged") and "'sum'" in text
    collapsed = {"status": "finished", "step": 141,
                 "summary": {"alerts": [{"step": 60, "kind": "collapse", "task": "left",
                                         "message": "task 'left' has stayed at chance level"}]}}
    level, text = live.status_message(collapsed)
    assert level == "warning" and "chance level" in text
    assert live.status_message({"status": "finished", "step": 141, "summary": {}})[0] == "success"


def test_queue_position_is_oldest_first() -> None:
    now = time.time()
    q = pd.DataFrame({"id": ["b", "a", "c"], "created": [now + 1, now, now + 2]})
    assert [live.queue_position(q, r) for r in ("a", "b", "c", "zz")] == [1, 2, 3, None]


def test_titles_map_registry_names_to_titles_in_order() -> None:
    methods = catalog.methods()
    titles = catalog.titles(methods)
    assert list(titles) == [m["name"] for m in methods] and titles["uw"] == catalog.method("uw")["title"]
