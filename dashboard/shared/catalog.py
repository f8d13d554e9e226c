"""What the core offers (data sets, weighting methods, architectures), read once per process.

Every widget on the Train page is generated from these lists, so a method or data set added to the
core appears in the app without page code. The lists are shared: callers must not mutate them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mtlcore.registry import ConfigError, Param, resolve_params


@lru_cache(maxsize=1)
def datasets() -> tuple[dict[str, Any], ...]:
    from mtlcore.data import catalogue

    return tuple(catalogue())


@lru_cache(maxsize=1)
def methods() -> tuple[dict[str, Any], ...]:
    from mtlcore.weighting import describe

    return tuple(describe())


@lru_cache(maxsize=1)
def architectures() -> tuple[dict[str, Any], ...]:
    from mtlcore.models import describe

    return tuple(describe())


def _by_name(items: tuple[dict[str, Any], ...], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["name"] == name:
            return item
    raise ConfigError(f"unknown {what} '{name}'; available: {', '.join(i['name'] for i in items)}")


def dataset(name: str) -> dict[str, Any]:
    return _by_name(datasets(), name, "data set")


def method(name: str) -> dict[str, Any]:
    return _by_name(methods(), name, "weighting method")


def architecture(name: str) -> dict[str, Any]:
    return _by_name(architectures(), name, "architecture")


def task_names(dataset_name: str) -> list[str]:
    return [t["name"] for t in dataset(dataset_name)["tasks"]]


def task(dataset_name: str, task_name: str) -> dict[str, Any]:
    return _by_name(tuple(dataset(dataset_name)["tasks"]), task_name, f"task of {dataset_name}")


def param_spec(spec: dict[str, Any]) -> Param:
    """Turn a described parameter back into the core's Param, to validate with the core's own rules."""
    return Param(**{**spec, "choices": tuple(spec.get("choices") or ())})


def resolve(specs: list[dict[str, Any]], given: dict[str, Any], owner: str) -> dict[str, Any]:
    """The core's validation of a parameter dict; raises ConfigError with the parameter's name."""
    return resolve_params(tuple(param_spec(s) for s in specs), given, owner)


def missing_source(dataset_name: str, params: dict[str, Any]) -> str | None:
    """Why the data set cannot load with these parameters (how to install it), or None.

    The catalogue answers for the default parameters; a path typed by the user is checked again.
    """
    entry = dataset(dataset_name)
    if not params:
        return entry["missing"]
    from mtlcore.data import get_info

    info = get_info(dataset_name)
    try:
        full = resolve(entry["params"], params, f"data set '{dataset_name}'")
    except ConfigError as exc:
        return str(exc)
    return info.available(full)


@lru_cache(maxsize=1)
def auto_device() -> str:
    """The device `device = "auto"` resolves to on this machine (CUDA, then MPS, then CPU)."""
    from mtlcore.device import pick_device

    return str(pick_device("auto"))
