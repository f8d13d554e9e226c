from __future__ import annotations

import json

import pytest

from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError, Param, resolve_params


def test_round_trip_is_exact() -> None:
    cfg = RunConfig.from_dict({
        "name": "x", "seed": 3, "data": {"name": "multi_digits", "tasks": ["left", "sum"]},
        "weighting": {"method": "static", "params": {"weights": [1.0, 0.5]}},
        "optim": {"lr": 0.01, "batch_size": 64, "epochs": 2},
    })
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(again.to_json()) == json.loads(cfg.to_json())


@pytest.mark.parametrize("raw, fragment", [
    ({"bogus": 1}, "unknown key"),
    ({"optim": {"lr_rate": 1}}, "config.optim: unknown key"),
    ({"data": "multi_digits"}, "config.data must be an object"),
])
def test_unknown_or_malformed_keys_are_rejected(raw: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        RunConfig.from_dict(raw)


@pytest.mark.parametrize("patch, fragment", [
    ({"optim": {"lr": float("nan")}}, "optim.lr"),
    ({"optim": {"lr": 0}}, "optim.lr must be > 0"),
    ({"optim": {"batch_size": 0}}, "batch_size"),
    ({"optim": {"optimizer": "rmsprop"}}, "optimizer"),
    ({"device": "tpu"}, "device"),
    ({"data": {"tasks": ["a", "a"]}}, "duplicates"),
    ({"weighting": {"gradients": "sideways"}}, "weighting.gradients"),
])
def test_validate_names_the_field(patch: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        RunConfig.from_dict(patch).validate()


def test_invalid_json_gives_a_message() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{nope")
    with pytest.raises(ConfigError, match="JSON object"):
        RunConfig.from_json("[1, 2]")


def test_param_validation() -> None:
    specs = (Param("lr", "float", 0.1, low=0.0), Param("k", "int", 2, low=1),
             Param("mode", "choice", "a", choices=("a", "b")), Param("w", "floats", None))
    assert resolve_params(specs, {}, "m") == {"lr": 0.1, "k": 2, "mode": "a", "w": None}
    assert resolve_params(specs, {"k": 3.0, "w": [1, 2]}, "m")["w"] == [1.0, 2.0]
    for bad, frag in (({"lr": -1}, ">= 0.0"), ({"k": 1.5}, "whole number"), ({"mode": "c"}, "one of"),
                      ({"lr": float("inf")}, "finite"), ({"w": [1, float("nan")]}, "finite"),
                      ({"lr": "x"}, "number"), ({"nope": 1}, "unknown parameter")):
        with pytest.raises(ConfigError, match=frag):
            resolve_params(specs, bad, "m")


def test_example_configs_load() -> None:
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parent.parent.joinpath("examples").glob("*.json"))
    assert any(f.name == "multidigits_ew.json" for f in files)
    assert any(f.name == "multifashion_ew.json" for f in files)
    for f in files:
        if not f.name.startswith("sweep_"):  # sweep configs are checked in test_sweep.py
            RunConfig.load(f).validate()
