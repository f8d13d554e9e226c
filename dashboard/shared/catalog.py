"""What the core offers (data sets, weighting methods, architectures), read once per process.

Every widget on the Train page is generated from these lists, so a method or data set added to the
core appears in the app without page code. All of it comes from `mtlcore.catalog`, which never
imports torch. The lists are shared: callers must not mutate them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable

from mtlcore import catalog as core
from mtlcore.registry import ConfigError, Param, resolve_params


@lru_cache(maxsize=1)
def datasets() -> tuple[dict[str, Any], ...]:
    return core.datasets()


def methods() -> tuple[dict[str, Any], ...]:
    return core.methods()


def architectures() -> tuple[dict[str, Any], ...]:
    return core.architectures()


def titles(entries: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Registry name -> title, in the entries' order: pages show titles and keep names as values."""
    return {e["name"]: e["title"] for e in entries}


def dataset(name: str) -> dict[str, Any]:
    return core.by_name(datasets(), name, "data set")


def method(name: str) -> dict[str, Any]:
    return core.method(name)


def architecture(name: str) -> dict[str, Any]:
    return core.architecture(name)


def task_names(dataset_name: str) -> list[str]:
    return [t["name"] for t in dataset(dataset_name)["tasks"]]


def task(dataset_name: str, task_name: str) -> dict[str, Any]:
    return core.by_name(tuple(dataset(dataset_name)["tasks"]), task_name, f"task of {dataset_name}")


def param_spec(spec: dict[str, Any]) -> Param:
    """Turn a described parameter back into the core's Param, to validate with the core's own rules."""
    return core.param_spec(spec)


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


def auto_device() -> str:
    """The device `device = "auto"` resolves to on this machine (CUDA, then MPS, then CPU)."""
    return core.auto_device()
