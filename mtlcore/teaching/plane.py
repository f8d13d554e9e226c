"""The explorer's plane: what one method does with a few task gradients in two dimensions.

torch is imported when a direction is computed (the methods are torch modules), not at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mtlcore.registry import ConfigError


@dataclass
class PlaneDirection:
    """One method's answer to a few task gradients in the plane."""

    method: str
    direction: np.ndarray  # (2,)
    weights: np.ndarray | None  # (T,) where the method defines them
    cosines: np.ndarray  # (T,) cosine of the direction with each gradient (0 when either is zero)

    @property
    def conflicts(self) -> list[int]:
        """Tasks (0-based) whose gradient the direction opposes."""
        return [i for i, c in enumerate(self.cosines) if c < -1e-9]


def combine_in_plane(method: str, gradients: Any, params: dict[str, Any] | None = None,
                     seed: int = 0) -> PlaneDirection:
    """The direction a fresh instance of `method` takes for these (T, 2) gradients, as in training.

    Gradient methods get `aggregate(J, losses)`, loss methods `combine(losses)` weights times J; the
    losses are all 1 (the plane has no losses), which is what loss-reading methods then see.
    """
    import torch

    from mtlcore.weighting import GradientWeighting, create

    g = np.asarray(gradients, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 2 or g.shape[0] < 1:
        raise ConfigError(f"expected (tasks, 2) gradients, got shape {g.shape}")
    m = create(method, g.shape[0], **(params or {}))
    m.set_generator(torch.Generator().manual_seed(seed))
    jac = torch.from_numpy(g.copy())
    losses = torch.ones(g.shape[0], dtype=torch.float64)
    if isinstance(m, GradientWeighting):
        agg = m.aggregate(jac, losses)
        direction = agg.direction.double().numpy()
        weights = None if agg.weights is None else agg.weights.double().numpy()
    else:
        _, w = m.combine(losses)
        weights = w.detach().double().numpy()
        direction = weights @ g
    size = float(np.hypot(direction[0], direction[1]))
    if size <= 1e-12 * float(np.hypot(g[:, 0], g[:, 1]).max()):
        size = 0.0  # roundoff of a zero direction (Pareto-stationary gradients): it moves nothing
    norms = np.hypot(g[:, 0], g[:, 1]) * size
    cosines = np.divide(g @ direction, norms, out=np.zeros(g.shape[0]), where=norms > 0)
    return PlaneDirection(method, direction, weights, cosines)


class Failure(str):
    """A method's unexpected error in the plane (not a refusal written for users): shown, never kept."""


def _directions_here(methods: list[str], gradients: np.ndarray) -> list[PlaneDirection | str]:
    """Worker entry: each method's direction, or the message of its ConfigError."""
    out: list[PlaneDirection | str] = []
    for name in methods:
        try:
            out.append(combine_in_plane(name, gradients))
        except ConfigError as exc:  # written for users
            out.append(str(exc))
        except Exception as exc:  # noqa: BLE001  one method's fault must not hide the others
            out.append(Failure(f"{type(exc).__name__}: {exc}"))
    return out


def plane_directions(methods: list[str], gradients: Any) -> list[PlaneDirection | str]:
    """Every method's direction for these gradients (a message where a method refuses them), computed
    in a toy worker process when this one keeps torch out (the dashboard's server). Answers are kept
    on disk per method and gradients (with the toy's runs), so the explorer's view after a server
    restart needs no worker (whose start, importing torch, took 2-3 s of the page's first load)."""
    from mtlcore.teaching.parallel import CALL_TIMEOUT_S, offloaded, worker_limit, worker_pool

    g = np.asarray(gradients, dtype=np.float64)
    names = list(methods)
    answers: dict[str, PlaneDirection | str] = {}
    for name in names:
        kept = _load(name, g)
        if kept is not None:
            answers[name] = kept
    missing = [n for n in dict.fromkeys(names) if n not in answers]
    if missing:
        if offloaded():
            fresh = worker_pool(worker_limit()).submit(_directions_here, missing, g).result(timeout=CALL_TIMEOUT_S)
        else:
            fresh = _directions_here(missing, g)
        for name, answer in zip(missing, fresh):
            _save(name, g, answer)
            answers[name] = answer
    return [answers[n] for n in names]


def _path(method: str, g: np.ndarray) -> Any:
    import hashlib
    import json

    from mtlcore.data.base import cache_dir
    from mtlcore.teaching.cache import _code_version

    key = json.dumps({"code": _code_version(), "method": method, "shape": list(g.shape),
                      "gradients": [float.hex(float(v)) for v in g.ravel()]}, sort_keys=True)
    return cache_dir() / "plane" / f"{method}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"


def _save(method: str, g: np.ndarray, answer: PlaneDirection | str) -> None:
    import json
    import os

    if isinstance(answer, Failure):
        return  # an unexpected failure is not kept: it is tried again next time
    if isinstance(answer, str):
        body: dict[str, Any] = {"error": answer}
    else:
        body = {"direction": answer.direction.tolist(), "cosines": answer.cosines.tolist(),
                "weights": None if answer.weights is None else answer.weights.tolist()}
    try:
        path = _path(method, g)
        path.parent.mkdir(parents=True, exist_ok=True)  # here only: a lookup writes nothing
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache folder: computed again next time


def _load(method: str, g: np.ndarray) -> PlaneDirection | str | None:
    import json

    try:
        path = _path(method, g)
        if not path.exists():
            return None
        body = json.loads(path.read_text())
        if "error" in body:
            return str(body["error"])
        weights = body["weights"]
        return PlaneDirection(method, np.array(body["direction"], dtype=np.float64),
                              None if weights is None else np.array(weights, dtype=np.float64),
                              np.array(body["cosines"], dtype=np.float64))
    except (OSError, ValueError, KeyError, TypeError):
        return None
