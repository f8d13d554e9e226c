"""Delta-m: one number for how a multi-task run does against single-task baselines.

    Delta-m (%) = (1/K) * sum_k (-1)^{higher_k} * (M_k - B_k) / B_k * 100

M_k is the run's metric, B_k the single-task baseline's (same data set, data parameters, tasks and
seed), higher_k = 1 when higher is better. So a run better than its baselines has a negative
Delta-m: lower is better (the convention of the Nash-MTL, CAGrad and FAMO papers). By default the
changes are averaged over all K metrics at once ("metrics"), as those papers do, so their tables
compare directly; "tasks" averages within each task first and then over tasks (LibMTL's convention,
with which a task with several metrics does not count more than one with a single metric).

Baselines are looked up among the stored runs, never assumed: a missing baseline is reported as
missing (with the config that would train it) instead of being replaced by a guess. The catalogue
(metric directions, default data parameters) is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore

AVERAGING = ("metrics", "tasks")  # the first is the default: the papers' form
AVERAGING_LABELS = {"metrics": "all metrics at once (Nash-MTL, CAGrad, FAMO papers)",
                    "tasks": "each task's metrics first (LibMTL)"}
# which metric stands for a classification task (regression and reconstruction keep all theirs);
# accuracy is the papers' choice, macro recall and F1 weigh rare classes as much as common ones
CLASSIFICATION_METRICS = ("accuracy", "recall", "f1")
BASELINE_ARCHITECTURE = "single_task"
BASELINE_METHOD = "ew"  # each single-task network trains on its own loss alone, whatever the weights

DEFINITION = (
    "Delta-m (%) = (1/K) * sum_k (-1)^higher_k * (M_k - B_k) / B_k * 100, where M_k is this run's "
    "metric, B_k the single-task baseline's (same data set, data parameters, tasks and seed) and "
    "higher_k = 1 when higher is better. Lower is better; negative means better than the baselines."
)


@dataclass(frozen=True)
class DeltaM:
    """A Delta-m value with its parts, so a page can show where it comes from."""

    value: float | None  # None when no metric could be compared
    changes: dict[str, dict[str, float]]  # task -> metric -> signed relative change (%)
    per_task: dict[str, float]  # task -> mean of its changes (%)
    averaging: str
    skipped: list[str] = field(default_factory=list)  # "task/metric: why" for metrics left out


def signed_change(value: float, baseline: float, higher_is_better: bool) -> float:
    """(-1)^higher * (M - B) / B * 100: positive when the run is worse than the baseline."""
    rel = (value - baseline) / baseline * 100.0
    return -rel if higher_is_better else rel


def delta_m(results: Mapping[str, Mapping[str, float]], baselines: Mapping[str, Mapping[str, float]],
            higher_is_better: Mapping[str, Mapping[str, bool]], averaging: str = "metrics") -> DeltaM:
    """Delta-m of one run from its final metrics and its baselines' (task -> metric -> value).

    Only the metrics named in `higher_is_better` count (so a stored "loss" is never one of them).
    A metric missing on either side, or with a zero or non-finite baseline, is skipped and named.
    """
    if averaging not in AVERAGING:
        raise ConfigError(f"Delta-m averaging must be one of {list(AVERAGING)}, got {averaging!r}")
    changes: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    for task, directions in higher_is_better.items():
        for metric, higher in directions.items():
            m = results.get(task, {}).get(metric)
            b = baselines.get(task, {}).get(metric)
            why = ("missing in the run" if m is None else "missing in the baseline" if b is None
                   else "not finite" if not (math.isfinite(m) and math.isfinite(b))
                   else "the baseline is 0 (relative change undefined)" if b == 0 else "")
            if why:
                skipped.append(f"{task}/{metric}: {why}")
                continue
            changes.setdefault(task, {})[metric] = signed_change(float(m), float(b), bool(higher))
    per_task = {t: sum(c.values()) / len(c) for t, c in changes.items()}
    if not changes:
        value = None
    elif averaging == "tasks":
        value = sum(per_task.values()) / len(per_task)
    else:
        flat = [v for c in changes.values() for v in c.values()]
        value = sum(flat) / len(flat)
    return DeltaM(value, changes, per_task, averaging, skipped)


# -- the catalogue's view of a run --------------------------------------------------------------
def metric_directions(dataset: str, tasks: Sequence[str] | None = None,
                      classification_metric: str = "accuracy") -> dict[str, dict[str, bool]]:
    """task -> metric -> higher_is_better, from the data set's task specs (loads no data); a
    classification task counts with `classification_metric` alone."""
    from mtlcore.data.base import dataset_params, get_info  # importing the package registers the data sets

    if classification_metric not in CLASSIFICATION_METRICS:
        raise ConfigError(f"the classification metric of Delta-m must be one of {CLASSIFICATION_METRICS}, "
                          f"got {classification_metric!r}")
    specs = get_info(dataset).tasks(dataset_params(dataset, {}))
    out = {s.name: {m.name: m.higher_is_better for m in s.metrics
                    if s.kind != "classification" or m.name == classification_metric} for s in specs}
    if tasks:
        unknown = [t for t in tasks if t not in out]
        if unknown:
            raise ConfigError(f"data set '{dataset}' has no task(s) {unknown}; it has {list(out)}")
        out = {t: out[t] for t in tasks}
    return out


def comparison_key(config: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...], int]:
    """What a baseline must share with a run: data set, full data parameters, task set, seed."""
    from mtlcore.data.base import dataset_params, get_info

    data = config.get("data", {})
    name = data.get("name", "")
    params = dataset_params(name, data.get("params", {}) or {})
    tasks = data.get("tasks") or [t.name for t in get_info(name).tasks(params)]
    return name, json.dumps(params, sort_keys=True), tuple(sorted(tasks)), int(config.get("seed", 0))


def baseline_config(config: RunConfig) -> RunConfig:
    """The single-task run that is `config`'s baseline: same data, tasks, seed, optimiser and trunk."""
    from mtlcore import catalog  # the architectures' metadata without torch (pages call this)

    raw = copy.deepcopy(config.to_dict())
    accepted = {p["name"] for p in catalog.architecture(BASELINE_ARCHITECTURE)["params"]}
    raw["model"] = {"architecture": BASELINE_ARCHITECTURE,
                    "params": {k: v for k, v in raw["model"]["params"].items() if k in accepted}}
    raw["weighting"] = {"method": BASELINE_METHOD, "params": {}, "gradients": "auto"}
    raw["name"] = f"{naming.run_name(raw)} · seed {config.seed} baseline"
    return RunConfig.from_dict(raw).validate()


def _optim_matches(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("optim") == b.get("optim")


def find_baselines(store: RunStore, runs: pd.DataFrame,
                   statuses: Sequence[str] = ("finished",)) -> dict[str, str | None]:
    """run id -> id of its single-task baseline run (None when the store has none).

    Only baselines in `statuses` count (finished ones, by default; the queued and running ones to
    tell that a baseline is on its way). Among several candidates, one trained with the same
    optimiser settings wins, then the newest.
    """
    pool = store.list_runs(status=list(statuses))
    candidates = pool[pool["architecture"] == BASELINE_ARCHITECTURE]
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for row in candidates.itertuples(index=False):
        try:
            by_key.setdefault(comparison_key(row.config), []).append(
                {"id": row.id, "config": row.config, "created": row.created})
        except ConfigError:
            continue  # a run of a data set this install no longer has
    out: dict[str, str | None] = {}
    for row in runs.itertuples(index=False):
        try:
            pool = by_key.get(comparison_key(row.config), [])
        except ConfigError:
            pool = []
        pool = [c for c in pool if c["id"] != row.id]
        if not pool:
            out[row.id] = None
            continue
        best = max(pool, key=lambda c: (_optim_matches(c["config"], row.config), c["created"]))
        out[row.id] = best["id"]
    return out


def final_metrics(run: Mapping[str, Any], split: str = "test") -> dict[str, dict[str, float]]:
    """A run's final metrics of one split ('val' or 'test') from its stored summary."""
    if split not in ("val", "test"):
        raise ConfigError(f"split must be 'val' or 'test', got {split!r}")
    summary = run.get("summary") or {}
    return {t: {k: float(v) for k, v in ms.items() if k != "loss"} for t, ms in (summary.get(split) or {}).items()}


def delta_m_for_runs(store: RunStore, run_ids: Sequence[str], split: str = "test",
                     averaging: str = "metrics", classification_metric: str = "accuracy") -> pd.DataFrame:
    """One row per run: its baseline's id (None when missing) and its Delta-m (NaN when missing).
    Classification tasks count with `classification_metric` (accuracy, recall or f1)."""
    runs = store.list_runs()
    runs = runs[runs["id"].isin(list(run_ids))]
    baselines = find_baselines(store, runs)
    rows = []
    for row in runs.itertuples(index=False):
        base_id = baselines.get(row.id)
        dm: DeltaM | None = None
        if row.architecture == BASELINE_ARCHITECTURE:
            base_id = row.id  # a baseline is its own reference: Delta-m 0 by definition
            dm = delta_m(final_metrics(row._asdict(), split), final_metrics(row._asdict(), split),
                         metric_directions(row.dataset, row.config.get("data", {}).get("tasks") or None,
                                           classification_metric), averaging)
        elif base_id is not None:
            base = store.get_run(base_id)
            tasks = row.config.get("data", {}).get("tasks") or None
            dm = delta_m(final_metrics(row._asdict(), split), final_metrics(base or {}, split),
                         metric_directions(row.dataset, tasks, classification_metric), averaging)
        rows.append({"run_id": row.id, "baseline_id": base_id,
                     "delta_m": dm.value if dm is not None and dm.value is not None else math.nan,
                     "per_task": dm.per_task if dm is not None else {},
                     "skipped": dm.skipped if dm is not None else []})
    out = pd.DataFrame(rows, columns=["run_id", "baseline_id", "delta_m", "per_task", "skipped"])
    out["baseline_id"] = pd.Series([r["baseline_id"] for r in rows], index=out.index, dtype=object)  # None stays None
    return out
