"""Tracking and steering users' own training loops (issue 16): `Session`.

`Session` imports torch, so it is loaded on first use; the torch-free helpers pages need
(`is_external`, `external_caption`) import from here without it.
"""

from __future__ import annotations

from typing import Any

from mtlcore.tracking.origin import external_caption, is_external

__all__ = ["Session", "external_caption", "is_external"]


def __getattr__(name: str) -> Any:
    if name == "Session":
        from mtlcore.tracking.session import Session

        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
