"""Worker processes: how they start, the cold worker's body, and the warm standby.

Each local run trains in its own process (`python -m mtlcore worker`), so a crash or a kill never
takes the app's server down. A cold worker pays Python's start-up and the PyTorch import before its
first step (2-3 s on an idle 2-core CPU); a standby pays that in advance, then blocks on its stdin
until the server hands it the id of a run it has just recorded as queued. From there both are the
same worker: wait for a turn in the queue (`queue.take_turn`), train, store.

Every child this process spawns is reaped the moment it exits (a waiter thread per child), so a
long-lived server never collects `<defunct>` workers. No torch import until a run may train.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from mtlcore.config import RunConfig
from mtlcore.runs.queue import max_concurrent, running_local, take_turn
from mtlcore.runs.store import RunStore, StoreError

ROOT = Path(__file__).resolve().parents[2]  # the project root: workers run from here

_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


def log_dir(db: str) -> Path:
    """Where the processes started for this run database write their output."""
    return Path(db).parent / "logs"


def spawn(args: list[str], log: Path, stdin: int = subprocess.DEVNULL,
          env_defaults: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python *args` from the project root, its output appended to `log`, in a session of
    its own: a Ctrl-C in the server's terminal does not kill the runs.

    The child sees this environment plus `env_defaults` for the variables this environment does
    not set. `python -m mtlcore ...` run from the root finds the package there (the root is first on
    its sys.path), installed or not. Used for every process the runs and sweeps start.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**(env_defaults or {}), **os.environ}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=str(ROOT), env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=stdin, start_new_session=True)
    with _children_lock:
        _children[proc.pid] = proc
    threading.Thread(target=_reap_when_done, args=(proc,), name=f"mtl-reap-{proc.pid}", daemon=True).start()
    return proc


def _reap_when_done(proc: subprocess.Popen) -> None:
    """Waiter thread: collect the child's exit status at once (never touches anything else)."""
    proc.wait()
    with _children_lock:
        _children.pop(proc.pid, None)


def live_children() -> list[subprocess.Popen]:
    """The processes this process spawned that have not exited yet."""
    with _children_lock:
        return [p for p in _children.values() if p.returncode is None]


def start_worker(store: RunStore, run_id: str, threads: int | None = None) -> subprocess.Popen:
    """Spawn a cold worker for a run already recorded as queued; it becomes the run's owner."""
    env = {"MTL_WORKER_THREADS": str(threads)} if threads else None
    proc = spawn(["-m", "mtlcore", "worker", "--db", store.path, "--run", run_id],
                 log_dir(store.path) / f"{run_id}.log", env_defaults=env)
    store.hand_to_process([run_id], proc.pid)
    return proc


def start_cold(config: RunConfig, store: RunStore, name: str = "", group_id: str = "", owner: str = "") -> str:
    """Record the run as queued and spawn its worker; returns at once with the run id."""
    config.validate()
    run_id = store.create_run(config.to_dict(), status="queued", group_id=group_id, name=name, pid=os.getpid(),
                              owner=owner)
    start_worker(store, run_id)
    return run_id


def start_resume(store: RunStore, run_id: str) -> subprocess.Popen:
    """Queue a stopped or interrupted run again from its checkpoint and spawn its worker (ValueError
    with the reason when it cannot be resumed); the worker continues it under the same id."""
    store.prepare_resume(run_id, pid=os.getpid())
    return start_worker(store, run_id)


# -- the worker's side --------------------------------------------------------------------------
def train_queued(db: str, run_id: str, limit: int | None = None, poll_s: float = 0.2) -> str:
    """Take the queued run's turn (under `limit` local runs, or at once), train it to its end in
    this process, and return its final status.

    The body of every worker (cold, warm, Ray task). A run stopped while it waited is marked
    stopped without training; a run someone else already took is left alone.
    """
    store = RunStore(db)
    try:
        run = store.get_run(run_id)
        if run is None:
            return "missing"
        if not take_turn(store, run_id, os.getpid(), limit, poll_s):
            current = store.get_run(run_id)
            return current["status"] if current else "missing"
        from mtlcore.device import usable_cores

        os.environ.setdefault("MTL_WORKER_THREADS", str(max(1, usable_cores() // max(1, running_local(store)))))
        from mtlcore.runs.runner import execute  # imports torch only once the run may train

        execute(RunConfig.from_dict(run["config"]), store, run_id)
        final = store.get_run(run_id)
        return final["status"] if final else "missing"
    finally:
        store.close()


def worker_main(db: str, run_id: str, poll_s: float = 0.2) -> int:
    """Body of a local worker process: wait for a slot under MTL_MAX_CONCURRENT, then train."""
    signal.signal(signal.SIGTERM, _terminate)
    if RunStore(db).get_run(run_id) is None:
        print(f"no run {run_id} in {db}", file=sys.stderr)
        return 2
    try:
        train_queued(db, run_id, max_concurrent(), poll_s)
    except StoreError as exc:  # a full disk, a store gone read-only: the run says so (when it can)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: a stop, not a crash; the points written stay
        store = RunStore(db)
        current = store.get_run(run_id)
        if current is not None and current["status"] in ("queued", "running"):
            store.set_status(run_id, "stopped", error="")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- the warm standby ---------------------------------------------------------------------------
def app_worker_threads() -> int:
    """Torch threads for a worker the app starts: the cores minus one, shared by the runs at once.

    The app's server and the browser drawing its charts need a core too; a worker whose threads
    outnumber the free cores spins against them (Multi-Digits trained 3x slower with 2 threads than
    with 1 on a busy 2-core machine).
    """
    from mtlcore.device import usable_cores

    return max(1, (usable_cores() - 1) // max_concurrent())


def ready_file(db: str, pid: int) -> Path:
    """Exists while the standby `pid` is warmed up and waiting for a run."""
    return log_dir(db) / f"standby-{pid}.ready"


def waiting(db: str) -> bool:
    """Is a warmed-up standby waiting for a run of this database?"""
    for f in log_dir(db).glob("standby-*.ready"):
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
    """At most one waiting standby per run database; thread-safe (tabs share it).

    The server starts the next standby only when nothing trains, so its imports never compete with
    a run for the CPU; without a ready standby, a run gets a cold worker.
    """

    def __init__(self, db: str) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def ensure(self) -> None:
        """Start a standby if none is waiting (call when nothing trains)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        # started like a cold worker; stdin is the pipe the run id comes through
        return spawn(["-m", "mtlcore", "worker", "--standby", "--db", self.db], log_dir(self.db) / "standby.log",
                     stdin=subprocess.PIPE, env_defaults={"MTL_WORKER_THREADS": str(app_worker_threads())})

    def ready(self) -> bool:
        """A standby has finished warming up and waits (a run handed now starts at once)."""
        proc = self._proc
        return proc is not None and proc.poll() is None and ready_file(self.db, proc.pid).exists()

    def start(self, config: RunConfig, store: RunStore, name: str = "", group_id: str = "", owner: str = "") -> str:
        """Hand the run to the waiting standby, or start a cold worker; returns the run id."""
        config.validate()
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or proc.poll() is not None or proc.stdin is None:
                return start_cold(config, store, name=name, group_id=group_id, owner=owner)
            rid = store.create_run(config.to_dict(), status="queued", name=name, group_id=group_id, pid=proc.pid,
                                   owner=owner)
            try:
                proc.stdin.write(f"{rid}\n".encode())
                proc.stdin.close()
            except OSError:  # it died meanwhile: the run is still queued, give it a cold worker
                store.delete_run(rid)
                return start_cold(config, store, name=name, group_id=group_id, owner=owner)
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


def standby_main(db: str) -> int:
    """Body of a standby (`python -m mtlcore worker --standby --db PATH`): import, warm up, mark
    itself ready, then wait for one run id on stdin and be that run's worker."""
    import mtlcore.runs.runner  # noqa: F401  PyTorch, the trainer and every registry: the slow part, done now

    warm_up()
    marker = ready_file(db, os.getpid())
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        line = sys.stdin.readline().strip()
    finally:
        marker.unlink(missing_ok=True)
    if not line:  # the server closed the pipe (it stopped, or replaced this standby)
        return 0
    return worker_main(db, line)
