"""Scale-imbalance regression: the GradNorm paper's toy (Chen et al. 2018), tasks alike but for scale.

Inputs x in R^250 with entries from N(0, 1). Task i (named `t1`..`tT`) regresses the 100-dim
target f_i(x) = sigma_i * tanh((B + eps_i) x), where B (100 x 250) is shared by all tasks and
eps_i (100 x 250) is task i's own perturbation; their entries are drawn from N(0, 10) and
N(0, 3.5), read as variances. The tasks are nearly the same function at different scales, so
task i's squared-error loss is about sigma_i^2 times the others': with equal weights the largest
sigma dominates the shared gradient. The loss-balanced ("ideal") weights are therefore
proportional to 1 / sigma_i^2; `info["balanced_weights"]` holds them, normalised to sum to T.

Targets are deliberately not standardised (that would remove the imbalance under study).
`sigmas` defaults to T values spaced log-uniformly from 1 to 100. B, each eps_i and the inputs
come from their own seeded streams, so task i's function does not change with the number of tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mtlcore.data.base import DataSetInfo, PreparedData, Split, cached, dataset_params, register
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    import torch

NAME = "scale_imbalance"
_FORMAT = 1
_SPLITS = ("train", "val", "test")
IN_DIM, OUT_DIM = 250, 100
B_VARIANCE, EPS_VARIANCE = 10.0, 3.5

PARAMS = (
    Param("n_tasks", "int", 2, "number of tasks T", low=2, high=10),
    Param("sigmas", "floats", None, "scale sigma_i of each task (T positive numbers); empty = "
          "log-uniformly spaced from 1 to 100"),
    Param("n_train", "int", 8000, "training samples", low=10, high=200_000),
    Param("n_val", "int", 1000, "validation samples", low=10, high=100_000),
    Param("n_test", "int", 1000, "test samples", low=10, high=100_000),
    Param("data_seed", "int", 0, "seed of B, the eps_i and the inputs (not the training seed)", low=0),
)


def task_sigmas(params: dict[str, Any]) -> list[float]:
    """The sigma of each task: the given list checked against n_tasks, or the log-spaced default."""
    n = params["n_tasks"]
    given = params["sigmas"]
    if not given:
        return [float(s) for s in np.geomspace(1.0, 100.0, n)]
    if len(given) != n:
        raise ConfigError(f"data set '{NAME}': 'sigmas' has {len(given)} value(s) but n_tasks is "
                          f"{n}; give one sigma per task or leave it empty")
    if any(s <= 0 for s in given):
        raise ConfigError(f"data set '{NAME}': every sigma must be > 0, got {given}")
    return [float(s) for s in given]


def balanced_weights(sigmas: list[float]) -> list[float]:
    """Weights proportional to 1 / sigma_i^2, summing to the number of tasks."""
    inv = np.asarray(sigmas, dtype=np.float64) ** -2
    return (inv * len(sigmas) / inv.sum()).tolist()


def task_specs(params: dict[str, Any]) -> list[TaskSpec]:
    return [
        TaskSpec(f"t{i + 1}", "regression", OUT_DIM,
                 f"sigma = {s:g} * tanh((B + eps_{i + 1}) x), 100 outputs (raw scale)")
        for i, s in enumerate(task_sigmas(params))
    ]


def _normal(stream: list[int], shape: tuple[int, ...], variance: float = 1.0) -> torch.Tensor:
    import torch

    rng = np.random.default_rng(stream)
    return torch.from_numpy(rng.standard_normal(shape) * variance ** 0.5).float()


def _build(params: dict[str, Any], sigmas: list[float]) -> dict[str, Any]:
    import torch

    seed = params["data_seed"]
    shared = _normal([seed, 4], (OUT_DIM, IN_DIM), B_VARIANCE)
    maps = [shared + _normal([seed, 5, i], (OUT_DIM, IN_DIM), EPS_VARIANCE)
            for i in range(len(sigmas))]
    out: dict[str, Any] = {}
    for k, split in enumerate(_SPLITS):
        x = _normal([seed, 6, k], (params[f"n_{split}"], IN_DIM))
        out[f"{split}_x"] = x
        for i, (sigma, m) in enumerate(zip(sigmas, maps)):
            out[f"{split}_t{i + 1}"] = torch.tanh(x @ m.T).mul_(sigma)
    return out


def _load(params: dict[str, Any]) -> PreparedData:
    sigmas = task_sigmas(params)
    key = {"dataset": NAME, "format": _FORMAT, "params": params}
    blob = cached(key, lambda: _build(params, sigmas))
    specs = {t.name: t for t in task_specs(params)}
    splits = {s: Split(blob[f"{s}_x"], {t: blob[f"{s}_{t}"] for t in specs}) for s in _SPLITS}
    info = {
        "sigmas": sigmas,
        "balanced_weights": balanced_weights(sigmas),
        "sizes": {s: len(splits[s]) for s in _SPLITS},
    }
    return PreparedData(NAME, (IN_DIM,), specs, splits["train"], splits["val"], splits["test"], info)


SCALE_IMBALANCE = register(DataSetInfo(
    name=NAME, title="Scale-imbalance regression",
    summary=("GradNorm's toy: T regression tasks f_i(x) = sigma_i tanh((B + eps_i) x), alike but "
             "for their scale sigma_i, so the losses differ by sigma_i^2. The loss-balanced weights "
             "are proportional to 1/sigma_i^2: a check that a weighting method finds them."),
    tasks=lambda params: task_specs(dataset_params(NAME, params)),
    load=_load, available=lambda params: None, params=PARAMS, input_shape=lambda params: (IN_DIM,),
    source="generated (Chen et al. 2018, GradNorm, section 3 toy example)",
    input_kind="vector",
))
