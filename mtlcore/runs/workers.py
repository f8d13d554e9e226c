"""Start, queue and stop runs in worker processes. No torch import: the pages call this.

Each run trains in its own process (`python -m mtlcore worker`), so a crash or a kill never takes
the app's server down. Workers queue themselves: a new worker waits (cheaply, before importing
torch) until fewer than the limit of runs are running and it is the oldest queued run, then claims
the slot atomically in the store. The queue therefore survives a restart of the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mtlcore.config import RunConfig
from mtlcore.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


def max_concurrent() -> int:
    """How many runs may train at once: MTL_MAX_CONCURRENT, else 2."""
    raw = os.environ.get("MTL_MAX_CONCURRENT", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 2


def log_dir(db: str) -> Path:
    """Where the processes started for this run database write their output."""
    return Path(db).parent / "logs"


def spawn(args: list[str], log: Path, stdin: int = subprocess.DEVNULL,
          env_defaults: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python *args` from the project root, its output appended to `log`, in a session of
    its own: a Ctrl-C in the server's terminal does not kill the runs.

    The child sees this environment with the project root first on PYTHONPATH, plus `env_defaults`
    for the variables this environment does not set. Used for cold workers (`start`) and for the
    dashboard's warm ones (dashboard/standby.py), so both start alike.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**(env_defaults or {}), **os.environ}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=str(ROOT), env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=stdin, start_new_session=True)


def start(config: RunConfig, store: RunStore, group_id: str = "", name: str = "") -> str:
    """Record the run as queued and spawn its worker; returns at once with the run id."""
    config.validate()
    run_id = store.create_run(config.to_dict(), status="queued", group_id=group_id, name=name)
    proc = spawn(["-m", "mtlcore", "worker", "--db", store.path, "--run", run_id],
                 log_dir(store.path) / f"{run_id}.log")
    store.set_status(run_id, "queued", pid=proc.pid)
    _children[run_id] = proc
    return run_id


_children: dict[str, subprocess.Popen] = {}


def reap_children() -> None:
    """Collect exited workers so they do not linger as zombies in a long-lived server."""
    for rid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[rid]


def _wait_until_ended(store: RunStore, run_id: str, grace_s: float) -> bool:
    """True once the run has left queued/running, False if grace_s passed first."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        run = store.get_run(run_id)
        if run is None or run["status"] not in ("queued", "running"):
            return True
        time.sleep(0.05)
    return False


def stop(store: RunStore, run_id: str, grace_s: float = 5.0) -> None:
    """Ask the run to stop (it keeps every point); end its process if it does not within grace_s."""
    store.request_stop(run_id)
    if grace_s > 0 and not _wait_until_ended(store, run_id, grace_s):
        kill(store, run_id)


def kill(store: RunStore, run_id: str, grace_s: float = 2.0) -> None:
    """SIGTERM first (the worker turns it into a clean stop, even while it is still setting up),
    then SIGKILL if the run has not ended after grace_s."""
    run = store.get_run(run_id)
    if run and run["pid"] and run["host"] == store.host and run["status"] in ("queued", "running"):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(run["pid"], sig)
            except (ProcessLookupError, PermissionError):
                break
            if _wait_until_ended(store, run_id, grace_s):
                break
        proc = _children.pop(run_id, None)
        if proc is not None:
            proc.wait(timeout=5)
        store.reap()


def worker_main(db: str, run_id: str, poll_s: float = 0.2) -> int:
    """Body of the worker process: wait for a slot, then train and store the run."""
    store = RunStore(db)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _worker_body(store, db, run_id, poll_s)
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: a stop, not a crash; the points written stay
        current = store.get_run(run_id)
        if current is not None and current["status"] in ("queued", "running"):
            store.set_status(run_id, "stopped", error="")
        return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _worker_body(store: RunStore, db: str, run_id: str, poll_s: float) -> int:
    run = store.get_run(run_id)
    if run is None:
        print(f"no run {run_id} in {db}", file=sys.stderr)
        return 2
    limit = max_concurrent()
    while not store.claim_slot(run_id, limit, os.getpid()):
        stop_requested, _, _ = store.read_control(run_id)
        current = store.get_run(run_id)
        if stop_requested or current is None or current["status"] != "queued":
            if current is not None and current["status"] == "queued":
                store.set_status(run_id, "stopped", error="")
            return 0
        time.sleep(poll_s)
    running = len(store.list_runs(status=["running"]))
    from mtlcore.device import usable_cores

    os.environ.setdefault("MTL_WORKER_THREADS", str(max(1, usable_cores() // max(1, running))))
    from mtlcore.runner import execute  # imports torch only once the run may train

    config = RunConfig.from_dict(run["config"])
    execute(config, store, run_id)
    return 0
