"""MTL Playground's training core: data sets and tasks, architectures, weighting methods, trainer,
run store. Headless: usable from the CLI (`python -m mtlcore`) and from Python; never imports
Streamlit.

The light modules (config, events, registry, catalog, tasks, data, runs.store, runs.queue,
runs.executor) import without torch; the heavy ones are imported on first use, so `import mtlcore`
stays cheap for the dashboard, which reads the methods' and architectures' metadata through
`mtlcore.catalog`.
"""

from __future__ import annotations

from typing import Any

from mtlcore.config import DataConfig, ModelConfig, OptimConfig, RunConfig, WeightingConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore

__all__ = [
    "ConfigError", "DataConfig", "ModelConfig", "OptimConfig", "RunConfig", "RunStore", "Session",
    "WeightingConfig", "train",
]


def __getattr__(name: str) -> Any:
    """`Session` (your own training loop, mtlcore.tracking) imports torch: loaded on first use."""
    if name == "Session":
        from mtlcore.tracking.session import Session

        return Session
    raise AttributeError(f"module 'mtlcore' has no attribute {name!r}")


def train(config: RunConfig, db: str | None = None) -> str:
    """Train one run headless and store it; returns the run id (the same runs the dashboard shows)."""
    from mtlcore.runs.runner import execute

    return execute(config, RunStore(db))
