"""A warm training worker, started before anyone presses Train.

A cold worker (`mtlcore.launch.start`) pays Python's start-up and the pandas and PyTorch imports
before its first step: 2-3 s on an idle 2-core CPU, much more under load, which is most of the wait
between pressing Train and the first point. The standby pays that in advance, then blocks on its
stdin until the page hands it the id of a run it has just recorded as queued; from there it is an
ordinary worker (`mtlcore.launch.worker_main`: queue slot, training, store). One standby serves one
run. The page starts the next standby only when nothing trains, so the imports never compete with
a run for the CPU; without a ready standby, it falls back to a cold `launch.start`. Both kinds of
worker are started by `launch.spawn`; this module adds only the waiting and the hand-over.

Run as `python -m dashboard.standby --db PATH`; the server's side is `StandbyPool`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Sequence

from mtlcore import launch
from mtlcore.config import RunConfig
from mtlcore.store import RunStore


def app_worker_threads() -> int:
    """Torch threads for a worker the app starts: the cores minus one, shared by the runs at once.

    The app's server and the browser drawing its charts need a core too; a worker whose threads
    outnumber the free cores spins against them (Multi-Digits trained 3x slower with 2 threads than
    with 1 on a busy 2-core machine).
    """
    from mtlcore.device import usable_cores

    return max(1, (usable_cores() - 1) // launch.max_concurrent())


def ready_file(db: str, pid: int) -> Path:
    """Exists while the standby `pid` is warmed up and waiting for a run."""
    return launch.log_dir(db) / f"standby-{pid}.ready"


def waiting(db: str) -> bool:
    """Is a warmed-up standby waiting for a run of this database?"""
    for f in launch.log_dir(db).glob("standby-*.ready"):
        pid = f.stem.split("-", 1)[1]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            return True
    return False


class StandbyPool:
    """At most one waiting standby per run database; thread-safe (tabs share it)."""

    def __init__(self, db: str) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._spent: list[subprocess.Popen] = []

    def ensure(self) -> None:
        """Start a standby if none is waiting (call when nothing trains)."""
        with self._lock:
            self._reap()
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        # started like a cold worker; stdin is the pipe the run id comes through
        return launch.spawn(["-m", "dashboard.standby", "--db", self.db], launch.log_dir(self.db) / "standby.log",
                            stdin=subprocess.PIPE, env_defaults={"MTL_WORKER_THREADS": str(app_worker_threads())})

    def ready(self) -> bool:
        """A standby has finished warming up and waits (a run handed now starts at once)."""
        proc = self._proc
        return proc is not None and proc.poll() is None and ready_file(self.db, proc.pid).exists()

    def _reap(self) -> None:
        self._spent = [p for p in self._spent if p.poll() is None]

    def start(self, config: RunConfig, store: RunStore, name: str = "") -> str:
        """Hand the run to the waiting standby, or start a cold worker; returns the run id."""
        config.validate()
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or proc.poll() is not None or proc.stdin is None:
                return launch.start(config, store, name=name)
            rid = store.create_run(config.to_dict(), status="queued", name=name)
            try:
                proc.stdin.write(f"{rid}\n".encode())
                proc.stdin.close()
            except OSError:  # it died meanwhile: the run is still queued, give it a cold worker
                store.delete_run(rid)
                return launch.start(config, store, name=name)
            store.set_status(rid, "queued", pid=proc.pid)
            self._spent.append(proc)
            return rid

    def close(self) -> None:
        """Let the waiting standby exit (its stdin closes); runs already handed over go on."""
        with self._lock:
            if self._proc is not None and self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                except OSError:
                    pass
            self._proc = None


def warm_up() -> None:
    """One throwaway training step on Multi-Digits, through the core's own trainer.

    Importing is not all of a cold start: PyTorch imports more on first use (the first optimiser
    imports torch._dynamo, seconds on a loaded CPU), the data set's cache is read, autograd warms up.
    Doing one step now moves all of that out of the user's wait, and leaves the default data set's
    prepared tensors on disk for the real run.
    """
    from mtlcore.trainer import train

    config = RunConfig(name="standby warm-up", grad_stats_every=1, eval_every=0)
    config.data.tasks = ["left", "right"]
    config.optim.max_steps = 1
    try:
        train(config)
    except Exception as exc:  # noqa: BLE001  a failed warm-up only costs speed, never the run
        print(f"warm-up failed ({type(exc).__name__}: {exc}); the run will start cold", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a pre-imported training worker waiting for a run id")
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    import mtlcore.runner  # noqa: F401  PyTorch, the trainer and every registry: the slow part, done now

    warm_up()
    marker = ready_file(args.db, os.getpid())
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        line = sys.stdin.readline().strip()
    finally:
        marker.unlink(missing_ok=True)
    if not line:  # the server closed the pipe (it stopped, or replaced this standby)
        return 0
    return launch.worker_main(args.db, line)


if __name__ == "__main__":
    sys.exit(main())
