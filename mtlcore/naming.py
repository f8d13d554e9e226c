"""Run names: one function builds them, so the Train page, sweeps, the CLI and every table agree.

A name says what a run is: data set, tasks, architecture, method (or its static weights), e.g.
"Multi-Digits left+sum · HPS · static 1/15". A run whose weights were steered while it trained says
so ("static 1/15→1/1"), so two runs that started alike are not confused afterwards. The short id
is added where a run is shown (`display_name`), never stored, so a user's own name keeps it too and
two runs with the same setup still read differently. No torch, no Streamlit.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Mapping, Sequence

STATIC = "static"
SEP = " · "
STEERED = "→"
SHORT_ID = 4  # hex characters of the run id shown after a name; more only where they collide

# Short forms of the architectures' registry names; others are shown with spaces for underscores.
ARCHITECTURE_SHORT = {"hps": "HPS", "mmoe": "MMoE", "single_task": "single-task", "cross_stitch": "cross-stitch",
                      "soft_sharing": "soft sharing", "tutorial_cnn": "tutorial CNN", "mtan": "MTAN",
                      "resnet18": "ResNet-18"}


def _config_dict(config: Any) -> Mapping[str, Any]:
    return config.to_dict() if hasattr(config, "to_dict") else config


def _lookup_title(dataset: str) -> str:
    """The data set's title from the core's registry (imports the data sets: for the CLI and sweeps,
    which train anyway; pages pass the title they already have)."""
    try:
        from mtlcore.data import get_info

        return get_info(dataset).title
    except Exception:  # noqa: BLE001  an unknown or unloadable data set: its registry name will do
        return dataset


def weights_text(weights: Sequence[float] | None, n_tasks: int) -> str:
    """Static weights as "1/15"; none given means every task at 1."""
    ws = list(weights) if weights else [1.0] * max(1, n_tasks)
    return "/".join(f"{float(w):g}" for w in ws)


def architecture_text(architecture: str) -> str:
    return ARCHITECTURE_SHORT.get(architecture, architecture.replace("_", " "))


def run_name(config: Any, dataset_title: str | Callable[[str], str] | None = None,
             live_weights: Sequence[float] | None = None) -> str:
    """The telling name of a run from its config (a RunConfig or its dict).

    `dataset_title`: the data set's title, or a function name -> title (default: the registry's).
    `live_weights`: the weights a static run was steered to while training ("static 1/15→1/1").
    """
    cfg = _config_dict(config)
    data = cfg.get("data") or {}
    dataset = str(data.get("name", ""))
    tasks = list(data.get("tasks") or [])
    if dataset_title is None:
        title = _lookup_title(dataset)
    elif callable(dataset_title):
        title = dataset_title(dataset)
    else:
        title = dataset_title
    weighting = cfg.get("weighting") or {}
    method = str(weighting.get("method", ""))
    if method == STATIC:
        how = f"{STATIC} {weights_text((weighting.get('params') or {}).get('weights'), len(tasks))}"
        if live_weights is not None:
            how += STEERED + weights_text(live_weights, len(tasks))
    else:
        how = method
    parts = [f"{title} {'+'.join(tasks)}".strip(), architecture_text(str((cfg.get("model") or {}).get(
        "architecture", ""))), how]
    return SEP.join(p for p in parts if p)


def steered_name(current: str, config: Any, before: Sequence[float] | None, after: Sequence[float],
                 dataset_title: str | Callable[[str], str] | None = None) -> str | None:
    """The new name of a static run steered to `after` while its name is still the one this module
    gave it (`before`: the weights it was steered to last, None if never); None when the user named
    it themselves (their name is kept) or nothing changes."""
    if str((_config_dict(config).get("weighting") or {}).get("method")) != STATIC:
        return None
    if current not in (run_name(config, dataset_title), run_name(config, dataset_title, before)):
        return None
    new = run_name(config, dataset_title, after)
    return new if new != current else None


def short_id(run_id: str, chars: int = SHORT_ID) -> str:
    return run_id[:chars]


def display_name(name: str, run_id: str, chars: int = SHORT_ID) -> str:
    """A run as shown: its name and a short id (only the id when it has no name)."""
    sid = short_id(run_id, chars)
    if not name or name == run_id:
        return run_id
    return f"{name}{SEP}{sid}"


def display_names(runs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """run id -> shown name for (id, name) pairs, unique among them: the short id grows only where
    two runs would otherwise read the same (same name and same first id characters)."""
    pairs = list(runs)
    chars = {rid: SHORT_ID for rid, _ in pairs}
    while True:
        shown = {rid: display_name(name, rid, chars[rid]) for rid, name in pairs}
        counts = Counter(shown.values())
        clashing = [rid for rid in shown if counts[shown[rid]] > 1 and chars[rid] < len(rid)]
        if not clashing:
            return shown
        for rid in clashing:
            chars[rid] += 2
