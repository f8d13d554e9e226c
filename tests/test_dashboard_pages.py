"""Every page runs in AppTest without an exception; the Train page's widgets, checks and controls.

Training itself is not started here: `mtlcore.runs.executor.start` is replaced by a recorder that stores the
config (the end-to-end test trains for real). Runs that should look alive get the pid of a sleeping
process of their own, so the store does not reap them and nothing of the test's is ever killed.
"""

from __future__ import annotations

import html
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared import catalog, charts, ownership
from dashboard.shared.text import md_plain
from dashboard.train import forms, presets
from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.data import tabular
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py")
WIDGET_KINDS = ("selectbox", "multiselect", "select_slider", "slider", "number_input", "text_input",
                "toggle", "checkbox")


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90)


def keys(at: AppTest) -> set[str]:
    return {w.key for kind in WIDGET_KINDS for w in getattr(at, kind) if w.key}


def texts(at: AppTest, kind: str) -> list[str]:
    """What the page shows in these elements (user-supplied parts are escaped Markdown)."""
    return [md_plain(str(e.value)) for e in getattr(at, kind)]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")  # no training here: no pre-imported worker either


@pytest.fixture
def store() -> RunStore:
    return RunStore()  # MTL_DB points at this test's own file (conftest)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[RunConfig]:
    """Record what the Train button submits instead of spawning a worker."""
    configs: list[RunConfig] = []

    def fake_start(config: RunConfig, store: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
        configs.append(config)
        return store.create_run(config.to_dict(), status="finished", name=name, owner=owner)

    monkeypatch.setattr(executor, "start", fake_start)
    return configs


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def running_run(store: RunStore, pid: int, tasks: list[str], method: str = forms.STATIC) -> str:
    params: dict[str, Any] = {"weights": [1.0] * len(tasks)} if method == forms.STATIC else {}
    config = RunConfig(name="live one")
    config.data.tasks = tasks
    config.weighting.method = method
    config.weighting.params = params
    rid = store.create_run(config.to_dict(), status="queued")
    store.set_status(rid, "running", pid=pid, host=store.host, total_steps=100, device="cpu", step=10)
    store.write_rows(rid, [(s, s / 10, s * 0.05, "train", t, name, v) for s in range(1, 11)
                           for t in tasks for name, v in (("loss", 1.0 / s), ("weight", 1.0))], step=10)
    return rid


def test_train_page_renders_with_a_valid_default_setup() -> None:
    at = app().run()
    assert_clean(at)
    assert {forms.DATASET, forms.TASKS, forms.METHOD, forms.ARCH, forms.LR, forms.BATCH, forms.EPOCHS,
            forms.SEED, forms.DEVICE, forms.weight_key("left"), forms.weight_key("right")} <= keys(at)
    assert not at.button(key="train_button").disabled
    assert len(at.button) >= 3 + 1  # the presets and Train
    assert not at.error


def test_method_widgets_come_from_the_registry() -> None:
    methods = [m for m in catalog.methods() if m["name"] != forms.STATIC and m["params"]]
    assert methods, "the registry has no method with parameters"
    at = app().run()
    for m in methods[:3]:
        at.selectbox(key=forms.METHOD).set_value(m["name"]).run()
        assert_clean(at)
        expected = {forms.param_key("m", m["name"], p["name"]) for p in m["params"]}
        assert expected <= keys(at), (m["name"], expected - keys(at))
        assert forms.weight_key("left") not in keys(at)  # sliders belong to static weights only
    arch = next(a for a in catalog.architectures() if a["name"] != "hps" and a["params"])
    at.selectbox(key=forms.ARCH).set_value(arch["name"]).run()
    assert {forms.param_key("a", arch["name"], p["name"]) for p in arch["params"]} <= keys(at)


def test_moving_a_slider_changes_the_submitted_config(started: list[RunConfig]) -> None:
    at = app().run()
    at.select_slider(key=forms.weight_key("right")).set_value(5.0).run()
    at.button(key="train_button").click().run()
    assert_clean(at)
    at.select_slider(key=forms.weight_key("right")).set_value(0.2).run()
    at.button(key="train_button").click().run()
    assert [c.weighting.params["weights"] for c in started] == [[1.0, 5.0], [1.0, 0.2]]
    assert started[0].data.tasks == ["left", "right"] and started[0].weighting.method == "static"
    assert at.query_params.get("run")  # the started run is in the URL: a refresh finds it


def test_the_task_heads_choice_reaches_the_config(started: list[RunConfig]) -> None:
    """Gradient methods show "Task heads" (weighting.heads), weighted by default as the references."""
    at = app().run()
    assert forms.HEADS not in {w.key for w in at.selectbox}  # static weights: no gradient method
    at.selectbox(key=forms.METHOD).set_value("nash_mtl").run()
    assert at.selectbox(key=forms.HEADS).value == "weighted"
    at.button(key="train_button").click().run()
    at.selectbox(key=forms.HEADS).set_value("unweighted").run()
    at.button(key="train_button").click().run()
    assert_clean(at)
    assert [c.weighting.heads for c in started] == ["weighted", "unweighted"]


@pytest.mark.parametrize("change, words", [
    ({forms.weight_key("left"): 0.0, forms.weight_key("right"): 0.0}, "All weights are zero"),
    ({forms.TASKS: []}, "Choose at least one task"),
])
def test_impossible_choices_disable_train_and_say_why(change: dict, words: str) -> None:
    at = app().run()
    for key, value in change.items():
        widget = at.multiselect(key=key) if key == forms.TASKS else at.select_slider(key=key)
        widget.set_value(value)
    at.run()
    assert_clean(at)
    assert at.button(key="train_button").disabled
    assert any(words in t for t in texts(at, "error"))


def test_a_method_the_architecture_cannot_serve_is_refused_next_to_the_architecture() -> None:
    at = app().run()
    at.selectbox(key=forms.METHOD).set_value("mgda").run()
    assert not at.button(key="train_button").disabled  # hard sharing serves every method
    at.selectbox(key=forms.ARCH).set_value("single_task").run()
    assert_clean(at)
    assert at.button(key="train_button").disabled
    assert texts(at, "error") == ["method 'mgda' combines gradients on shared parameters, and architecture "
                                  "'single_task' shares none; use a loss-based method or 'hps'"]
    at.selectbox(key=forms.METHOD).set_value("ew").run()  # a loss-based method trains on it
    assert_clean(at)
    assert not at.button(key="train_button").disabled and not at.error
    at.selectbox(key=forms.METHOD).set_value("pcgrad").run()
    at.selectbox(key=forms.ARCH).set_value("hps").run()
    at.selectbox(key=forms.GRADIENTS).set_value("representation").run()
    assert at.button(key="train_button").disabled
    assert any("does not work on the shared representation" in t for t in texts(at, "error"))


def test_a_missing_data_source_says_how_to_install_it() -> None:
    missing = [d for d in catalog.datasets() if d["missing"]]
    if not missing:
        pytest.skip("every data set's source is installed here")
    at = app().run()
    at.selectbox(key=forms.DATASET).set_value(missing[0]["name"]).run()
    assert_clean(at)
    assert at.button(key="train_button").disabled
    assert any(missing[0]["missing"] in t for t in texts(at, "warning"))


def test_the_url_restores_the_setup() -> None:
    at = app()
    at.query_params.update({forms.DATASET: "Multi-Digits", forms.TASKS: ["left", "sum"],
                            forms.weight_key("sum"): "15", forms.LR: "0.01", forms.EPOCHS: "2"})
    at.run()
    assert_clean(at)
    assert at.multiselect(key=forms.TASKS).value == ["left", "sum"]
    assert at.select_slider(key=forms.weight_key("sum")).value == 15.0
    assert at.select_slider(key=forms.LR).value == 0.01
    assert at.number_input(key=forms.EPOCHS).value == 2.0


def test_a_preset_sets_the_whole_setup_in_one_click() -> None:
    at = app().run()
    at.select_slider(key=forms.BATCH).set_value(16).run()
    at.button(key="preset_scale").click().run()
    assert_clean(at)
    assert at.multiselect(key=forms.TASKS).value == ["left", "sum"]
    assert at.select_slider(key=forms.weight_key("sum")).value == presets.SCALE_WEIGHT
    assert at.select_slider(key=forms.BATCH).value == forms.DEFAULTS[forms.BATCH]  # nothing stale


def test_every_preset_states_what_it_shows_and_the_applied_one_stays_in_view() -> None:
    """The texts sit folded under the buttons (the setup stays above the fold); the preset just
    applied shows its explanation and measured effect without a click."""
    at = app().run()
    scale = presets.get("scale")
    said = lambda: [c.value for c in at.caption if scale.observation in c.value]  # noqa: E731
    assert len(said()) == 1  # in the popover, for every preset
    for p in presets.all_presets():
        assert any(p.explanation in c.value for c in at.caption), p.key
    at.button(key="preset_scale").click().run()
    assert len(said()) == 2  # and in view, for the one applied


def test_a_diverged_run_shows_as_failed_with_task_and_step(store: RunStore) -> None:
    rid = store.create_run(RunConfig().to_dict(), status="queued")
    store.set_status(rid, "failed", error="the loss of task 'left' became NaN at step 12 "
                                          "(diverged: lower the learning rate or the weights)", step=12)
    at = app()
    at.query_params["run"] = rid
    at.run()
    assert_clean(at)
    failed = [t for t in texts(at, "error") if "Failed" in t]
    assert failed and "'left'" in failed[0] and "step 12" in failed[0]


def test_sliders_steer_a_running_static_run(store: RunStore, sleeper: subprocess.Popen) -> None:
    rid = running_run(store, sleeper.pid, ["left", "right"])
    at = app()
    at.session_state["_owner_token"] = "0" * 32  # this browser started the run
    store.set_owner(rid, ownership.owner_hash("0" * 32))
    at.run()  # no run in the URL: the page finds this browser's active run by itself
    assert_clean(at)
    assert any("sliders are live" in str(c.value) for c in at.caption)
    at.select_slider(key=forms.weight_key("right")).set_value(3.0).run()
    stop, weights, _ = store.read_control(rid)
    assert weights == [1.0, 3.0] and not stop
    assert store.get_run(rid)["name"] == "live one"  # a name the user gave is kept


def test_a_steered_run_says_so_in_its_name(store: RunStore, sleeper: subprocess.Popen) -> None:
    rid = running_run(store, sleeper.pid, ["left", "right"])
    config = store.get_run(rid)["config"]
    named = naming.run_name(config, forms.dataset_title)
    store.rename(rid, named)  # the name the Train page gives its runs
    at = app()
    at.session_state["_owner_token"] = "0" * 32  # this browser started the run
    store.set_owner(rid, ownership.owner_hash("0" * 32))
    at.run()
    at.select_slider(key=forms.weight_key("right")).set_value(3.0).run()
    assert store.get_run(rid)["name"] == f"{named}→1/3"
    at.select_slider(key=forms.weight_key("right")).set_value(0.5).run()
    assert store.get_run(rid)["name"] == f"{named}→1/0.5"  # where it started, and where it is now


def test_stop_asks_the_run_to_stop(store: RunStore, sleeper: subprocess.Popen,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(executor, "stop", lambda s, rid, grace_s=5.0: stopped.append(rid))
    rid = running_run(store, sleeper.pid, ["left", "right"], method="ew")
    at = app()
    at.query_params["run"] = rid
    at.run()
    at.button(key="stop_button").click().run()
    assert_clean(at)
    assert store.read_control(rid)[0] is True
    assert at.button(key="stop_button").disabled  # "Stopping..." until the worker confirms


def test_queued_runs_say_where_they_wait(store: RunStore, sleeper: subprocess.Popen) -> None:
    rid = store.create_run(RunConfig().to_dict(), status="queued")
    store.set_status(rid, "queued", pid=sleeper.pid)
    at = app()
    at.query_params["run"] = rid
    at.run()
    assert_clean(at)
    assert any("Queued (position 1" in t for t in texts(at, "info"))


def test_no_traceback_reaches_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> tuple:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(catalog, "methods", broken)
    at = app().run()
    assert_clean(at)
    assert any("registry exploded" in t for t in texts(at, "error"))


DATASETS_OPEN = "set"  # the Data sets page's pick (a page module runs when imported: named here)


def test_data_sets_page_lists_every_set_and_opens_the_card_of_each() -> None:
    at = app().run()
    at.switch_page("app_pages/datasets.py").run()
    assert_clean(at)
    sets = list(catalog.datasets())
    overview = at.get("html")[0].proto.body  # one row per set: title, name, state, input, tasks
    for d in sets:
        state = "your files" if not d["tasks"] else "not installed" if d["missing"] else "ready"
        tasks = ", ".join(t["name"] for t in d["tasks"]) or "the columns you pick"
        row = "".join(f"<td>{html.escape(v)}</td>" for v in (d["title"], d["name"], state, d["input_kind"], tasks))
        assert row in overview
    first = next(d for d in sets if d["tasks"] and not d["missing"])
    assert at.selectbox(key=DATASETS_OPEN).value == first["name"]  # a set that trains here as it is
    uses = [b for b in at.get("button") if (b.key or "").startswith("use_")]
    assert len(at.get("html")) == 2 + bool(first["params"]) and len(uses) == 1  # one card at a time
    for d in sets:
        at.selectbox(key=DATASETS_OPEN).set_value(d["name"]).run()
        assert_clean(at)
        head = at.markdown[1].value  # after the page's title: the card's head
        assert d["title"] in md_plain(head)
        state = "your files]" if not d["tasks"] else "not installed]" if d["missing"] else "ready]"
        assert state in head
        bodies = [h.proto.body for h in at.get("html")[1:]]
        if d["tasks"]:  # the set's tasks, in their chart colours
            names = [t["name"] for t in d["tasks"]]
            assert "<th>what it asks</th>" in bodies[0]
            for name in names:
                assert f"<td>{html.escape(name)}</td>" in bodies[0] and charts.task_colour(name, names) in bodies[0]
        else:  # its tasks are the user's columns: no task table
            assert not any("<th>what it asks</th>" in b for b in bodies)
        params = [b for b in bodies if "<th>what it asks</th>" not in b]
        assert len(params) == (1 if d["params"] else 0)
        assert all(f"<td>{html.escape(p['name'])}</td>" in params[0] for p in d["params"])
        warnings, infos = texts(at, "warning"), texts(at, "info")
        if d["missing"]:  # what to install (a set of its own), or what of yours to give it
            assert d["missing"] in (warnings if d["tasks"] else infos)
        else:
            assert not warnings and not infos
        uses = [b.proto.label for b in at.get("button") if (b.key or "").startswith("use_")]
        assert uses == ([] if d["missing"] else ["Train on this set"])
        links = [link.proto.label for link in at.get("page_link") if link.proto.page.endswith("upload")]
        assert links == (["Upload a table"] if d["name"] == tabular.DIRECT_NAME else [])


def test_data_sets_page_opens_the_card_a_link_names() -> None:
    """The picked set is in the URL (by its title, as a bound select box writes it); a name that is no
    set's falls back to the first ready set."""
    fashion = catalog.dataset("multi_fashion")
    for linked, shown in ((fashion["title"], "multi_fashion"), ("no such set", "multi_digits")):
        at = AppTest.from_file(str(Path(APP).parent / "app_pages" / "datasets.py"), default_timeout=30)
        at.query_params[DATASETS_OPEN] = linked
        at.run()
        assert_clean(at)
        assert at.selectbox(key=DATASETS_OPEN).value == shown


def test_data_sets_page_leads_to_training_on_a_set() -> None:
    name = next(d["name"] for d in catalog.datasets() if not d["missing"] and d["name"] != "multi_digits")
    at = app().run()
    at.switch_page("app_pages/datasets.py").run()
    at.selectbox(key=DATASETS_OPEN).set_value(name).run()
    at.button(key=f"use_{name}").click().run()
    assert_clean(at)
    assert at.selectbox(key=forms.DATASET).value == name


def test_a_run_that_cannot_start_is_explained_under_train(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_room(config: RunConfig, store: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
        raise OSError("No space left on device")

    monkeypatch.setattr(executor, "start", no_room)
    at = app().run()
    at.button(key="train_button").click().run()
    assert_clean(at)
    assert any("could not start" in t and "No space left" in t for t in texts(at, "error"))
