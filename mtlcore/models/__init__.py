"""Multi-task architectures, registered by name; importing this package registers all of them."""

from __future__ import annotations

from typing import Any

# imported for their registration, in the order the architectures are listed
from mtlcore.models import cgc, cross_stitch, dselect_k, hps, mmoe, mtan, ple, single_task, soft_sharing, tutorial_cnn  # noqa: F401, I001  # noqa: F401, I001
from mtlcore.models.base import ARCHITECTURES, ModelInfo, MTLModel, build_model

__all__ = ["ARCHITECTURES", "MTLModel", "ModelInfo", "build_model", "describe"]


def describe() -> list[dict[str, Any]]:
    """Registry metadata as JSON-able dicts, in registration order (for the CLI and the dashboard)."""
    return [{k: v for k, v in entry.to_dict().items() if k != "info"} for entry in ARCHITECTURES]
