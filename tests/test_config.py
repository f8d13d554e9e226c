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
    ({"weighting": {"heads": "halved"}}, "weighting.heads"),
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


ARCH_PROBLEMS = [  # (method, gradients, architecture, what the message says)
    ("mgda", "auto", "single_task", "shares none"),
    ("pcgrad", "parameters", "soft_sharing", "shares none"),
    ("graddrop", "auto", "mmoe", "needs a shared representation"),
    ("mgda", "representation", "cross_stitch", "needs a shared representation"),
    ("pcgrad", "representation", "hps", "does not work on the shared representation"),
]


@pytest.mark.parametrize("method, gradients, arch, words", ARCH_PROBLEMS)
def test_validate_rejects_a_method_the_architecture_cannot_serve(method: str, gradients: str, arch: str,
                                                                 words: str) -> None:
    """Caught from the registries' metadata before any worker starts, with the trainer's own message."""
    import torch

    from mtlcore.models import build_model
    from mtlcore.tasks import TaskSpec
    from mtlcore.trainer import gradient_mode
    from mtlcore.weighting import create

    config = RunConfig.from_dict({"model": {"architecture": arch},
                                  "weighting": {"method": method, "gradients": gradients}})
    with pytest.raises(ConfigError, match=words) as rejected:
        config.validate()
    torch.manual_seed(0)
    tasks = {t: TaskSpec(t, "classification", 3) for t in ("left", "right")}
    model = build_model(arch, (12,), tasks, {"depth": 1, "width": 4})
    with pytest.raises(ConfigError) as failed:
        gradient_mode(config, create(method, 2), model)
    assert str(rejected.value) == str(failed.value)


@pytest.mark.parametrize("method, gradients, arch", [
    ("ew", "auto", "single_task"), ("uw", "representation", "soft_sharing"), ("mgda", "auto", "cross_stitch"),
    ("mgda", "auto", "mmoe"), ("graddrop", "auto", "hps"), ("mgda", "representation", "hps"),
])
def test_validate_accepts_what_the_architecture_can_serve(method: str, gradients: str, arch: str) -> None:
    RunConfig.from_dict({"model": {"architecture": arch},
                         "weighting": {"method": method, "gradients": gradients}}).validate()


@pytest.mark.parametrize("section, name, words", [("model", "architecture", "unknown architecture"),
                                                   ("weighting", "method", "unknown weighting method")])
def test_validate_names_unknown_registry_entries(section: str, name: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_dict({section: {name: "nope"}}).validate()
