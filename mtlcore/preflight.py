"""What a run needs from the registries and this machine, checked before its run row is written.

Without it a worker found these only after the row existed, and each left a 'failed' run behind: an
unknown data set, a data set parameter, a task the set does not have, a weighting method's or an
architecture's parameters (static weights of the wrong length, a cnn trunk on vectors), a missing
data source, a device this machine does not have. Everything here is metadata or cheap: no data is
loaded (a stored table's tasks are read from its metadata) and the model is built on PyTorch's meta
device, which allocates nothing. In the dashboard's server, which never imports torch
(`catalog.keep_torch_out`), the method's and the architecture's parameters are checked from their
metadata instead (`catalog.check_method`: the same rules and messages) and the device against the
snapshot's; the worker repeats the full check before its first step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtlcore.registry import ConfigError, resolve_params

if TYPE_CHECKING:
    from mtlcore.config import RunConfig
    from mtlcore.data.base import DataSetInfo
    from mtlcore.tasks import TaskSpec

# A vector set whose width is known only after loading: any width builds the same layers (an MLP's
# validity does not depend on it), so the check uses one.
ANY_VECTOR = (1,)


def check_run(config: RunConfig) -> None:
    """Raise ConfigError (or DataSourceMissing) for the first thing that would fail the run's set-up."""
    info = dataset_info(config.data.name)
    data_params = resolve_params(info.params, config.data.params, f"data set '{info.name}'")
    why = info.available(data_params)
    if why:
        from mtlcore.data.base import DataSourceMissing

        raise DataSourceMissing(why)
    specs = chosen_tasks(info, data_params, config.data.tasks)
    from mtlcore import catalog

    if catalog.torch_kept_out():
        _check_from_metadata(config, len(specs))
        return
    _check_method(config, len(specs))
    _check_architecture(config, info, data_params, specs)
    from mtlcore.device import pick_device

    pick_device(config.device)  # names a device this machine has, or says so


def _check_from_metadata(config: RunConfig, n_tasks: int) -> None:
    """The torch-free checks: parameters by their specs, static weights not all zero, the device."""
    from mtlcore import catalog

    params = catalog.check_method(config.weighting.method, n_tasks, config.weighting.params)
    weights = params.get("weights") if config.weighting.method == "static" else None
    if weights is not None and not any(w > 0 for w in weights):
        raise ConfigError("static weights: at least one weight must be above 0 (all are zero, nothing would train)")
    arch = catalog.architecture(config.model.architecture)
    resolve_params(tuple(catalog.param_spec(p) for p in arch["params"]), config.model.params,
                   f"architecture '{arch['name']}'")
    device = config.device
    if device.startswith("cuda") and catalog.auto_device() != "cuda":
        raise ConfigError(f"device '{device}' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if device == "mps" and catalog.auto_device() != "mps":
        raise ConfigError("device 'mps' was asked for but MPS is not available here; use 'auto' or 'cpu'")


def dataset_info(name: str) -> DataSetInfo:
    """The registered set; a stored table saved since this process registered them is looked up again."""
    from mtlcore.data import DATASETS, get_info

    if name not in DATASETS and name.startswith("table:"):
        from mtlcore.data.tabular import refresh_saved

        refresh_saved()
    return get_info(name)


def chosen_tasks(info: DataSetInfo, params: dict[str, Any], tasks: list[str]) -> list[TaskSpec]:
    """The specs of the chosen tasks (all of the set's when none are chosen), in the chosen order."""
    specs = {t.name: t for t in info.tasks(params)}
    chosen = tasks or list(specs)
    if not chosen:
        info.load(params)  # a set with no tasks at these parameters (a table that cannot be read): its loader says why
        raise ConfigError(f"data set '{info.name}' has no tasks with these parameters")
    missing = [t for t in chosen if t not in specs]
    if missing:
        raise ConfigError(f"data set '{info.name}' has no task(s) {missing}; its tasks: {list(specs)}")
    return [specs[t] for t in chosen]


def _check_method(config: RunConfig, n_tasks: int) -> None:
    """Build the method for this many tasks: its parameters and their fit to the tasks (static
    weights: one per task, not all zero) are checked by the code that uses them."""
    from mtlcore.weighting import create

    create(config.weighting.method, n_tasks, **config.weighting.params)


def _check_architecture(config: RunConfig, info: DataSetInfo, data_params: dict[str, Any],
                        specs: list[TaskSpec]) -> None:
    """Resolve the architecture's parameters, then build it on the meta device for the set's input
    shape (a trunk that cannot read these inputs, a depth that halves the image below a pixel)."""
    import torch

    from mtlcore.models.base import ARCHITECTURES, build_model

    entry = ARCHITECTURES.get(config.model.architecture)
    resolve_params(entry.params, config.model.params, f"architecture '{entry.name}'")
    shape = input_shape(info, data_params)
    if shape is None:
        return  # an image set that states no shape before loading: its parameters were checked
    with torch.device("meta"):
        build_model(entry.name, shape, {s.name: s for s in specs}, config.model.params)


def input_shape(info: DataSetInfo, params: dict[str, Any]) -> tuple[int, ...] | None:
    """The per-sample input shape the set will have, when it is known without loading it."""
    if info.input_shape is not None:
        return tuple(info.input_shape(params))
    return ANY_VECTOR if info.input_kind == "vector" else None
