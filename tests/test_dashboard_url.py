"""Values in a Train page link obey the config's rules (issue 12, items 6 and 9).

`?seed=` with 400 nines crashed the setup ("OverflowError: cannot convert float infinity to
integer", no Train button); out-of-range numbers were dropped without a word; `w_right=2.0` was
ignored where `2` worked, and `dataset=` / `method=` took titles but not names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shared.text import md_plain
from dashboard.train import forms

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def _no_warm_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTL_STANDBY", "0")


def open_link(**query: str | list[str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    return at.run()


def warnings(at: AppTest) -> list[str]:
    return [md_plain(str(w.value)) for w in at.warning]


def assert_trainable(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "went wrong" in str(e.value)]
    assert not at.button(key="train_button").disabled


@pytest.mark.parametrize("key, raw, said", [
    (forms.SEED, "9" * 400, "must be <= 4294967295"),
    (forms.SEED, "-3", "must be >= 0"),
    (forms.EPOCHS, "1e300", "must be <= 10000"),
    (forms.EVAL_EVERY, "1e30", "must be <= 10000000"),
    (forms.GRAD_EVERY, "x", "is not a number"),
    (forms.param_key("a", "hps", "depth"), "9" * 400, "must be <= 8"),
])
def test_an_out_of_range_number_in_the_link_is_ignored_and_said(key: str, raw: str, said: str) -> None:
    at = open_link(**{key: raw})
    assert_trainable(at)
    assert at.number_input(key=key).value == forms.DEFAULTS.get(key, 2)  # drawn, at its default (depth: 2)
    shown = [w for w in warnings(at) if f"The link's {key}=" in w]
    assert len(shown) == 1 and said in shown[0], warnings(at)
    assert key not in at.query_params


def test_numbers_in_the_link_within_range_are_taken() -> None:
    at = open_link(**{forms.SEED: "4294967295", forms.EPOCHS: "2.5"})
    assert_trainable(at)
    assert at.number_input(key=forms.SEED).value == 4294967295
    assert at.number_input(key=forms.EPOCHS).value == 2.5
    assert not warnings(at)


def test_a_weight_written_as_a_float_is_taken() -> None:
    at = open_link(**{forms.TASKS: ["left", "right"], forms.weight_key("right"): "2.0",
                      forms.LR: "0.010", forms.BATCH: "64.0"})
    assert_trainable(at)
    assert at.select_slider(key=forms.weight_key("right")).value == 2.0
    assert at.select_slider(key=forms.LR).value == 0.01
    assert at.select_slider(key=forms.BATCH).value == 64


@pytest.mark.parametrize("key, given, expected", [
    (forms.DATASET, "scale_imbalance", "scale_imbalance"),
    (forms.DATASET, "Scale-imbalance regression", "scale_imbalance"),
    (forms.METHOD, "uw", "uw"),
    (forms.ARCH, "single_task", "single_task"),
])
def test_data_set_method_and_architecture_by_name_or_title(key: str, given: str, expected: str) -> None:
    at = open_link(**{key: given})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=key).value == expected


def test_the_form_applies_the_config_bounds_to_widget_values() -> None:
    """The same rule whatever the value came from: a session value out of range is a problem too."""
    setup = forms.read_setup({forms.SEED: 10**30, forms.EPOCHS: float("inf"), forms.BATCH: True})
    by_key = {p.key: p.message for p in setup.problems}
    assert "<= 4294967295" in by_key[forms.SEED] and "finite" in by_key[forms.EPOCHS]
    assert "not a number" in by_key[forms.BATCH]
    assert setup.seed == forms.DEFAULTS[forms.SEED]
