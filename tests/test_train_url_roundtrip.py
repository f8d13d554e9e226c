"""The Train page's link holds its whole setup (issue 13, item 1).

After the Scale imbalance preset the address bar was `?tasks=left&tasks=sum&epochs=4.0`: sum's weight
(15) was missing, so the shared link opened a different lesson. Streamlit wrote values set by code to
the URL only for widgets already drawn in the previous script run. And `?run=ID` showed that run's
charts beside a default setup. Checked here as properties: state -> URL -> fresh session -> the same
RunConfig, for every preset and for random setups sampled from the catalog; RunConfig -> widget values
-> RunConfig is the identity for every config the page can make.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from dashboard.shared import catalog
from dashboard.train import forms, presets
from dashboard.train.from_config import widget_values
from mtlcore.config import RunConfig

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")  # each test has its own run store (tests/conftest.py)


# -- a random setup, drawn from what the widgets offer --------------------------------------------
def _param(rng: random.Random, spec: dict[str, Any]) -> Any:
    kind, low, high = spec["kind"], spec.get("low"), spec.get("high")
    if rng.random() < 0.4:
        return forms.widget_default(spec)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "choice":
        return rng.choice(list(spec["choices"]))
    if kind == "int":
        lo = int(low) if low is not None else 0
        return rng.randint(lo, int(high) if high is not None else lo + 1000)
    if kind == "float":
        lo = float(low) if low is not None else 0.0
        hi = float(high) if high is not None else lo + 10.0
        return float(f"{rng.uniform(lo, hi):.3g}")
    if kind == "floats":
        return ", ".join(f"{rng.choice([0.1, 0.5, 1, 2.5, 10]):g}" for _ in range(rng.randint(1, 3)))
    return rng.choice(["", "x1", "a,b"])


def random_state(rng: random.Random, datasets: list[str] | None = None) -> dict[str, Any]:
    """Widget values as a person could set them: each from its widget's own options or bounds."""
    dataset = rng.choice(datasets or [d["name"] for d in catalog.datasets() if d["tasks"]])
    method = rng.choice([m["name"] for m in catalog.methods()])
    arch = rng.choice([a["name"] for a in catalog.architectures()])
    all_tasks = catalog.task_names(dataset)
    state: dict[str, Any] = {
        forms.DATASET: dataset, forms.METHOD: method, forms.ARCH: arch,
        forms.TASKS: rng.sample(all_tasks, rng.randint(1, len(all_tasks))),
        forms.GRADIENTS: rng.choice(forms.GRADIENT_MODES), forms.OPTIMIZER: rng.choice(forms.OPTIMIZERS),
        forms.DEVICE: rng.choice(forms.DEVICES), forms.LR: rng.choice(forms.LR_CHOICES),
        forms.BATCH: rng.choice(forms.BATCH_CHOICES), forms.EPOCHS: float(rng.choice([0.5, 1, 2.5, 7])),
        forms.SEED: rng.randint(0, 10**6), forms.EVAL_EVERY: rng.choice([0, 5, 20, 75]),
        forms.GRAD_EVERY: rng.choice([0, 1, 5, 40]), forms.WEIGHT_DECAY: rng.choice(forms.WEIGHT_DECAY_CHOICES),
        forms.AUG_CROP: rng.choice([0, 0, 2, 4]), forms.AUG_FLIP: rng.random() < 0.3,
        forms.AUG_ROTATION: rng.choice([0, 0, 10, 45]), forms.UNTIL_STOPPED: rng.random() < 0.3,
    }
    for t in all_tasks:
        state[forms.weight_key(t)] = rng.choice(forms.WEIGHT_CHOICES[1:])
    for owner, name, specs in (("d", dataset, catalog.dataset(dataset)["params"]),
                               ("m", method, catalog.method(method)["params"]),
                               ("a", arch, catalog.architecture(arch)["params"])):
        for spec in specs:
            if not (owner == "m" and method == forms.STATIC and spec["name"] == "weights"):
                state[forms.param_key(owner, name, spec["name"])] = _param(rng, spec)
    return state


def config_of(values: Any) -> RunConfig:
    setup = forms.read_setup(values)
    assert not setup.problems, setup.problems
    return forms.build_config(setup, name="same")


# -- the inverse of build_config, as a property -----------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(hs.integers(0, 2**32 - 1))
def test_widget_values_of_a_config_make_that_config(seed: int) -> None:
    config = config_of(random_state(random.Random(seed)))
    restored = widget_values(config)
    assert restored.unheld == []
    assert config_of(restored.values) == config


@pytest.mark.parametrize("preset", presets.all_presets(), ids=lambda p: p.key)
def test_widget_values_of_each_preset_make_its_config(preset: presets.Preset) -> None:
    config = config_of(presets.preset_state(preset))
    assert config_of(widget_values(config).values) == config


def test_fields_without_a_widget_are_named() -> None:
    config = config_of({})
    config.optim.lr = 3e-3  # between the slider's steps
    config.optim.max_steps = 50
    config.diverge_factor = 10.0
    unheld = widget_values(config).unheld
    assert any("learning rate (0.003)" in u for u in unheld)
    assert any("max_steps 50" in u for u in unheld) and any("diverge_factor 10" in u for u in unheld)


# -- through the page: state -> URL -> fresh session -> state ---------------------------------------
def open_page(query: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def link_of(at: AppTest) -> dict[str, Any]:
    return {k: v for k, v in at.query_params.items() if k != "run"}


@pytest.mark.parametrize("preset", presets.all_presets(), ids=lambda p: p.key)
def test_a_presets_link_opens_the_same_setup(preset: presets.Preset) -> None:
    at = open_page()
    at.button(key=f"preset_{preset.key}").click().run()
    expected = config_of(presets.preset_state(preset))
    assert config_of(at.session_state) == expected
    fresh = open_page(link_of(at))
    assert config_of(fresh.session_state) == expected
    if preset.key == "scale":  # the reported case, spelled out
        assert float(at.query_params["w_sum"]) == presets.get("scale").values[forms.weight_key("sum")]


def _stored_run(config: RunConfig) -> str:
    from dashboard.shared.state import store

    return store().create_run(config.to_dict(), status="finished", name="shared")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_run_link_opens_that_runs_setup_and_its_url_holds_it(seed: int) -> None:
    rng = random.Random(seed)
    config = config_of(random_state(rng, ["multi_digits", "scale_imbalance", "multi_fashion"]))
    rid = _stored_run(config)
    at = open_page({"run": rid})
    assert config_of(at.session_state) == config  # ?run=ID alone: that run's setup in the widgets
    fresh = open_page(link_of(at))
    assert config_of(fresh.session_state) == config  # and the address bar holds all of it


def test_load_this_runs_setup_fills_every_widget() -> None:
    config = config_of(presets.preset_state(presets.get("scale")))
    rid = _stored_run(config)
    at = open_page({"run": rid, forms.SEED: "7"})  # the link names a setup of its own: it wins
    assert config_of(at.session_state) != config
    at.button(key="load_setup").click().run()
    assert config_of(at.session_state) == config
    assert not [b for b in at.button if b.key == "load_setup"]  # nothing left to load
    assert config_of(open_page(link_of(at)).session_state) == config

