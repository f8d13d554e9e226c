"""Limits on user data: how big a file may be and how much a table may expand once encoded.

A file the app accepts is held in memory several times over (raw bytes, parsed columns, encoded
tensors), so caps are checked before the expensive step they protect. The size and row caps are
set by the environment (MTL_MAX_UPLOAD_MB, MTL_MAX_ROWS) so a bigger machine can raise them
without a code change; the others bound what a model on a 2-core CPU can sensibly learn from.
No torch import.
"""

from __future__ import annotations

import math
import os

from mtlcore.registry import ConfigError

DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_MAX_ROWS = 1_000_000

MAX_COLUMNS = 2_000  # columns in a file
MAX_CLASSES = 100  # classes of a classification target
MAX_CATEGORIES = 256  # distinct values of a categorical input (one-hot columns it becomes)
MAX_FEATURES = 4_096  # width of the encoded input vector
MIN_ROWS = 10  # usable rows (after dropping missing values) a data set needs
MAX_DISCRETE = 10  # a numeric target with at most this many distinct values is a classification


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def max_upload_bytes() -> int:
    """The size cap on a table file: MTL_MAX_UPLOAD_MB megabytes (default 200)."""
    return int(_env_number("MTL_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024)


def max_rows() -> int:
    """The row cap on a table: MTL_MAX_ROWS (default 1,000,000)."""
    return int(_env_number("MTL_MAX_ROWS", DEFAULT_MAX_ROWS))


def describe_bytes(n: int) -> str:
    """Sizes as people read them in messages (1.5 MB, 200 MB)."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
