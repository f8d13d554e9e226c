"""Device and thread choice, in one place so the CLI, the app's workers and the benchmarks agree.

torch is imported inside the functions that need it: pages and the sweep planner size their
workers with `usable_cores` without paying for (or being allowed) a torch import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU, unless a device is named."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from mtlcore.registry import ConfigError

        raise ConfigError(f"device '{name}' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        from mtlcore.registry import ConfigError

        raise ConfigError(f"device '{name}' was asked for but MPS is not available here; use 'auto' or 'cpu'")
    return dev


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: int = 0) -> int:
    """Threads for torch: the request, else MTL_WORKER_THREADS (set by the launcher), else all cores.

    A worker that shares the cores with other workers or the app's server runs faster with fewer
    threads than cores (oversubscribed threads spin against each other), so the launcher sizes it.
    """
    if requested > 0:
        return requested
    env = os.environ.get("MTL_WORKER_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()
