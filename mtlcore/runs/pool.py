"""A warm pool of worker processes for short, many, CPU-bound calls (the teaching toy's runs).

Why apart from `workers`: a training run is one long process with its own store row; the toy's
computations are hundreds of short function calls whose start-up would dominate. This pool's
processes come from a forkserver that imports the given modules once, so after the first use (or
`warm_up`) a call starts at once. The pool is made on first use and made again when it broke (a
worker died) or when another size is asked for; ProcessPoolExecutor joins its own processes, so
none is left as a zombie. No torch import here (the preloaded modules may import it).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence


def _ping() -> int:
    return os.getpid()


class WarmPool:
    """One shared ProcessPoolExecutor whose workers start with `preload` already imported."""

    def __init__(self, preload: Sequence[str] = (), initializer: Callable[[], None] | None = None) -> None:
        self.preload = list(preload)
        self.initializer = initializer
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0
        self._lock = threading.Lock()

    def _context(self) -> Any:
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(self.preload)
            return ctx
        return multiprocessing.get_context("spawn")

    def get(self, workers: int = 2) -> ProcessPoolExecutor:
        """The pool of `workers` processes (made on first use, made again when broken or resized)."""
        if workers < 1:
            raise ValueError(f"a pool needs at least 1 worker, got {workers}")
        with self._lock:
            if self._pool is None or self._size != workers or getattr(self._pool, "_broken", False):
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=self._context(),
                                                 initializer=self.initializer)
                self._size = workers
            return self._pool

    def warm_up(self, workers: int = 2) -> None:
        """Start the worker processes now, without waiting (their imports take a few seconds, once)."""
        pool = self.get(workers)
        for _ in range(workers):
            pool.submit(_ping)

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._size = None, 0
