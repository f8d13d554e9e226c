"""The Ray executor: runs trained as Ray tasks on a Ray cluster (an optional extra).

Why Ray: a classroom server or a sweep of dozens of runs outgrows one machine's cores; Ray spreads
the runs over a cluster with no change to the runs themselves. Each task is
`workers.train_queued`, i.e. `runner.execute` writing into the same run store, so the pages stream
and stop a Ray run exactly as a local one (a stop is a request in the store the trainer polls).
Ray's own scheduler queues the tasks by their CPUs, so Ray runs claim without the local limit.

The store is one SQLite file: every node must see it at the same absolute path (one machine, or a
shared filesystem), and each node needs this project's requirements installed. The `mtlcore`
package itself is shipped to the workers with the job (Ray's `py_modules`).
Ray is imported lazily: `pip install -r requirements-ray.txt`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.queue import wait_until_ended
from mtlcore.runs.store import RunStore

KIND = "ray"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the mtlcore package, shipped to the Ray workers
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
    from mtlcore.runs.workers import train_queued

    return train_queued(db_path, run_id)


class RayExecutor:
    """Start, stop and kill runs on the Ray cluster at `address`.

    `address` is what `ray.init` accepts: "host:port" of a running cluster, "auto", "ray://host:port"
    (Ray Client) or "local" (start a Ray instance in this process). When this process is already
    connected to Ray (a test's `ray.init()`), that connection is used.
    """

    kind = KIND

    def __init__(self, address: str, cpus_per_run: int = 1) -> None:
        if not address:
            raise ConfigError("a Ray address is needed (e.g. 127.0.0.1:6379, auto, ray://host:10001 or local)")
        if cpus_per_run < 1:
            raise ConfigError(f"cpus_per_run must be >= 1, got {cpus_per_run}")
        self.address = address
        self.cpus_per_run = cpus_per_run
        self._remote: Any = None
        self._connected_here = False
        self._refs: dict[str, Any] = {}  # run id -> its task, while this process may still cancel it
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Connect to the cluster once (idempotent); a connection failure is a ConfigError."""
        with self._lock:
            if self._remote is not None:
                return
            ray = _import_ray()
            runtime_env = {"py_modules": [str(PACKAGE_DIR)]}
            if not ray.is_initialized():
                local = self.address == "local"
                try:
                    ray.init(address=None if local else self.address, runtime_env=runtime_env,
                             log_to_driver=False, logging_level=logging.WARNING,
                             **({"include_dashboard": False} if local else {}))
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise ConfigError(f"could not connect to the Ray cluster at {self.address!r}: {exc}") from None
                self._connected_here = True
            # connected by someone else (the app's own ray.init, a test): that job's environment
            # holds, as Ray ships local folders only at the job level
            self._remote = ray.remote(num_cpus=self.cpus_per_run, max_retries=0)(_task)

    def submit(self, store: RunStore, run_id: str) -> Any:
        """Hand a queued run to Ray; this process owns it until a task claims it. Returns the task."""
        self.connect()
        store.hand_to_process([run_id], os.getpid(), executor=KIND)
        ref = self._remote.remote(os.path.abspath(store.path), run_id, self.cpus_per_run)
        with self._lock:
            self._refs[run_id] = ref
        return ref

    def start(self, config: RunConfig, store: RunStore, name: str = "", group_id: str = "", owner: str = "") -> str:
        config.validate()
        self.connect()
        rid = store.create_run(config.to_dict(), status="queued", name=name, group_id=group_id,
                               executor=KIND, pid=os.getpid(), owner=owner)
        self.submit(store, rid)
        return rid

    def wait(self, store: RunStore, run_ids: Sequence[str],
             on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
        """Block until the tasks of these submitted runs end; returns run id -> final status.

        A task that dies (node lost, import error on the worker) marks its run failed. On an
        interrupt, every run still pending is asked to stop and its task cancelled.
        """
        ray = _import_ray()
        pending = {self._refs[rid]: rid for rid in run_ids if rid in self._refs}
        results: dict[str, str] = {}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    rid = pending.pop(ref)
                    self._refs.pop(rid, None)
                    try:
                        status = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001  the task died; say why on the run
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
        return results

    def stop(self, store: RunStore, run_id: str, grace_s: float = 5.0) -> None:
        store.request_stop(run_id)
        if grace_s > 0 and not wait_until_ended(store, run_id, grace_s):
            self.kill(store, run_id)

    def kill(self, store: RunStore, run_id: str, grace_s: float = 2.0) -> None:
        """Cancel the run's task by force (when this process submitted it); the run ends stopped."""
        with self._lock:
            ref = self._refs.pop(run_id, None)
        store.request_stop(run_id)
        if ref is not None:
            _import_ray().cancel(ref, force=True)
        wait_until_ended(store, run_id, grace_s)
        run = store.get_run(run_id)
        # a cancelled task cannot write its end: the run was stopped on purpose, not lost
        if ref is not None and run is not None and run["status"] in ("queued", "running", "interrupted"):
            store.set_status(run_id, "stopped", error="")

    def close(self) -> None:
        """Disconnect from Ray if this executor connected (the tasks already ended or were cancelled)."""
        with self._lock:
            if self._connected_here:
                _import_ray().shutdown()
            self._remote, self._connected_here = None, False


_shared: dict[str, RayExecutor] = {}
_shared_lock = threading.Lock()


def shared_executor(address: str) -> RayExecutor:
    """One executor per address for this process (the app's server keeps its connection and tasks)."""
    with _shared_lock:
        if address not in _shared:
            _shared[address] = RayExecutor(address)
        return _shared[address]
