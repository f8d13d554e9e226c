"""Execute a sweep's queued runs as Ray tasks on a Ray cluster (an optional extra).

Why Ray: a sweep of dozens of runs outgrows one machine's cores; Ray spreads them over a cluster
with no change to the runs themselves. Each task is `mtlcore.sweep.execute_queued`, i.e.
`runner.execute` writing into the same run store, so the pages follow a Ray sweep exactly as a
local one. The store is one SQLite file: every node must see it at the same absolute path (one
machine, or a shared filesystem), and each node needs this project's requirements installed. The
`mtlcore` package itself is shipped to the workers with the job (Ray's `py_modules`).

Ray is imported lazily, so nothing else in mtlcore depends on it: `pip install -r requirements-ray.txt`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from mtlcore.registry import ConfigError
from mtlcore.store import RunStore

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALL_HINT = "Ray is not installed: pip install -r requirements-ray.txt (ray==2.60.0)"


def ray_missing() -> str | None:
    """None when Ray can be imported here, else the reason (for a page to show)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return ray


def _task(db_path: str, run_id: str, threads: int) -> str:
    """The body of one Ray task: train one queued run into the shared store."""
    os.environ["MTL_WORKER_THREADS"] = str(threads)
    from mtlcore.sweep import execute_queued

    return execute_queued(db_path, run_id)


def run_on_ray(db_path: str, run_ids: Sequence[str], address: str, cpus_per_run: int = 1,
               on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
    """Run each queued run as one Ray task on the cluster at `address`; blocks until all end.

    `address` is what `ray.init` accepts: "host:port" of a running cluster, "auto", "ray://host:port"
    (Ray Client) or "local" (start a Ray instance in this process for the duration). Returns run id
    -> final status. If this process connected to Ray, it disconnects at the end.
    """
    if not address:
        raise ConfigError("a Ray address is needed (e.g. 127.0.0.1:6379, auto, ray://host:10001 or local)")
    if cpus_per_run < 1:
        raise ConfigError(f"cpus_per_run must be >= 1, got {cpus_per_run}")
    ray = _import_ray()
    db_path = os.path.abspath(db_path)
    runtime_env = {"py_modules": [str(PACKAGE_DIR)]}
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(address=None if address == "local" else address, runtime_env=runtime_env,
                     log_to_driver=False, logging_level=logging.WARNING,
                     **({"include_dashboard": False} if address == "local" else {}))
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"could not connect to the Ray cluster at {address!r}: {exc}") from None
    remote = ray.remote(num_cpus=cpus_per_run, max_retries=0)(_task)
    if not connected_here:
        remote = remote.options(runtime_env=runtime_env)
    store = RunStore(db_path)
    pending = {remote.remote(db_path, rid, cpus_per_run): rid for rid in run_ids}
    results: dict[str, str] = {}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                rid = pending.pop(ref)
                try:
                    status = ray.get(ref)
                except Exception as exc:  # the task died (node lost, import error on the worker)
                    status = "failed"
                    store.set_status(rid, "failed", error=f"the Ray task failed: {type(exc).__name__}: {exc}")
                results[rid] = status
                if on_done is not None:
                    on_done(rid, status)
    except BaseException:
        for rid in pending.values():
            store.request_stop(rid)  # running tasks stop at their next poll, queued ones never start
        for ref in pending:
            ray.cancel(ref)
        raise
    finally:
        store.close()
        if connected_here:
            ray.shutdown()
    return results
