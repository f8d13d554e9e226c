"""The disk cache of toy runs, keyed by everything that changes them, so a page shows a computed
set instantly. No torch at import; the key resolves a method's parameters through the weighting
registry, which is read only when a path is asked for."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mtlcore.teaching.objective import PAPER_LR, PAPER_STARTS, PAPER_STEPS
from mtlcore.teaching.simulator import MethodSpec, Trajectories, _Spec, _spec, _validated_inputs

_FORMAT = 1  # bump when the toy or the simulator changes what a cached result holds


@lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the toy's modules and every weighting module: a changed method invalidates its cached runs."""
    here = Path(__file__).resolve().parent
    files = [*sorted(here.glob("*.py")), *sorted((here.parent / "weighting").rglob("*.py"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(spec: _Spec, starts: np.ndarray, steps: int, lr: float, imbalance: float, seed: int) -> Path:
    from mtlcore.data.base import cache_dir
    from mtlcore.registry import resolve_params
    from mtlcore.weighting import method_class

    cls = method_class(spec.method)
    resolved = resolve_params(cls.params, spec.params, f"weighting method '{spec.method}'")
    key = json.dumps({"format": _FORMAT, "code": _code_version(), "method": spec.method, "params": resolved,
                      "starts": [[float.hex(float(v)) for v in p] for p in starts], "steps": int(steps),
                      "lr": float.hex(float(lr)), "imbalance": float.hex(float(imbalance)), "seed": int(seed)},
                     sort_keys=True, default=str)
    folder = cache_dir() / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{spec.method}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def _save(path: Path, run: Trajectories) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, steps=run.steps, points=run.points, losses=run.losses, weights=run.weights,
             meta=np.array(json.dumps({"seconds": run.seconds, "params": run.params}, default=str)))
    os.replace(tmp, path)


def _load(path: Path, spec: _Spec, starts: np.ndarray, steps: int, lr: float, imbalance: float,
          seed: int) -> Trajectories | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return Trajectories(
                method=spec.method, params=dict(spec.params), starts=starts.copy(), steps=data["steps"],
                points=data["points"], losses=data["losses"], weights=data["weights"], total_steps=steps,
                lr=float(lr), imbalance=float(imbalance), seed=seed, seconds=float(meta["seconds"]), cached=True)
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)  # unreadable: computed again
        return None


def cached_runs(methods: Sequence[MethodSpec], starts: Any = PAPER_STARTS, steps: int = PAPER_STEPS,
                lr: float = PAPER_LR, imbalance: float = 1.0, seed: int = 0) -> list[Trajectories] | None:
    """Every method's result from the disk cache, or None when any of them has not been computed."""
    s = _validated_inputs(starts, steps, lr, imbalance)
    out = []
    for spec in (_spec(m) for m in methods):
        path = _cache_path(spec, s, steps, lr, imbalance, seed)
        run = _load(path, spec, s, steps, lr, imbalance, seed) if path.exists() else None
        if run is None:
            return None
        out.append(run)
    return out
