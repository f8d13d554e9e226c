"""Where a page's script run spends its time, for benchmarks/bench_app.py: off unless asked for.

With MTL_PAGE_TIMING=<file>, every full script run appends one JSON line to that file: the page,
the seconds of the whole run (sidebar and page), and how many run-store calls it made and the
seconds they took. Store calls are timed by wrapping RunStore's public methods once per process
(only the outermost call on the script's thread counts, so a method calling another is not counted
twice). Imports are measured by the benchmark itself (python -X importtime on the server), not here.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from mtlcore.runs.store import RunStore

ENV = "MTL_PAGE_TIMING"
_local = threading.local()
_install_lock = threading.Lock()
_installed = False


def timing_file() -> str | None:
    """The file script runs are logged to, or None when timing is off."""
    return os.environ.get(ENV) or None


def _timed(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts = getattr(_local, "counts", None)
        if counts is None or getattr(_local, "depth", 0):
            return method(*args, **kwargs)
        _local.depth = 1
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            _local.depth = 0
            counts["queries"] += 1
            counts["queries_s"] += time.perf_counter() - t0
            counts["calls"][method.__name__] = counts["calls"].get(method.__name__, 0) + 1
    return wrapper


def _install() -> None:
    """Wrap RunStore's public methods (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for name, value in list(vars(RunStore).items()):
            if not name.startswith("_") and callable(value):
                setattr(RunStore, name, _timed(value))
        _installed = True


@contextmanager
def script_run(page: str) -> Iterator[None]:
    """Time one script run of `page` (a no-op unless MTL_PAGE_TIMING names a file)."""
    path = timing_file()
    if path is None:
        yield
        return
    _install()
    _local.counts = {"queries": 0, "queries_s": 0.0, "calls": {}}
    t0 = time.perf_counter()
    try:
        yield
    finally:
        counts, _local.counts = _local.counts, None
        record = {"page": page, "end": time.time(), "script_s": round(time.perf_counter() - t0, 4),
                  "queries": counts["queries"], "queries_s": round(counts["queries_s"], 4),
                  "calls": counts["calls"]}
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
