"""Multi-task architectures, registered by name; importing this package registers all of them."""

from __future__ import annotations

from typing import Any

from mtlcore.models.base import ARCHITECTURES, ModelInfo, MTLModel, build_model
from mtlcore.registry import import_all

# The order pages list the architectures in; a module not named here is still imported (and listed
# after them): adding an architecture is its file and its test.
ARCHITECTURE_ORDER: tuple[str, ...] = (
    "hps", "single_task", "soft_sharing", "cross_stitch", "mmoe", "cgc", "ple", "dselect_k", "mtan", "tutorial_cnn",
)
import_all(__name__, ARCHITECTURE_ORDER)

__all__ = ["ARCHITECTURES", "MTLModel", "ModelInfo", "build_model", "describe"]


def describe() -> list[dict[str, Any]]:
    """Registry metadata as JSON-able dicts, in registration order (for the CLI and the dashboard)."""
    return [{k: v for k, v in entry.to_dict().items() if k != "info"} for entry in ARCHITECTURES]
