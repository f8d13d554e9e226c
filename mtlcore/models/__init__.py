"""Multi-task architectures, registered by name; importing this package registers all of them."""

from __future__ import annotations

import importlib
from typing import Any

from mtlcore.models.base import ARCHITECTURES, ModelInfo, MTLModel, build_model

# The one listing of the architectures: module names under mtlcore/models, in the order pages show them.
ARCHITECTURE_MODULES: tuple[str, ...] = (
    "hps", "single_task", "soft_sharing", "cross_stitch", "mmoe", "cgc", "ple", "dselect_k", "mtan", "tutorial_cnn",
)
for _module in ARCHITECTURE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ARCHITECTURES", "MTLModel", "ModelInfo", "build_model", "describe"]


def describe() -> list[dict[str, Any]]:
    """Registry metadata as JSON-able dicts, in registration order (for the CLI and the dashboard)."""
    return [{k: v for k, v in entry.to_dict().items() if k != "info"} for entry in ARCHITECTURES]
