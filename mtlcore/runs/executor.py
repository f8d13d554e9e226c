"""One interface for executing runs: start, stop, kill; local worker processes or a Ray cluster.

Why one interface: the Train page, the Compare page's baselines, sweeps and the CLI all start runs,
and each must queue, stream and stop the same way wherever the run trains. Every executor records
the run in the store first and the run writes its points there, so pages follow a run the same way
whoever executes it; a stop is a request in the store that the trainer polls about ten times a
second, and a kill is the executor's own way of ending what ignores it.

`default_executor()` chooses: with MTL_RAY_ADDRESS set, Ray (a classroom server that outgrows its
cores); otherwise local workers. No torch and no Ray import here.
"""

from __future__ import annotations

import os
import signal
from typing import Protocol

from mtlcore.config import RunConfig
from mtlcore.runs import workers
from mtlcore.runs.queue import wait_until_ended
from mtlcore.runs.store import LOCAL, RunStore

RAY_ENV = "MTL_RAY_ADDRESS"


class Executor(Protocol):
    """What the pages and sweeps need from whatever trains a run."""

    kind: str  # the store's `executor` column for the runs it starts

    def start(self, config: RunConfig, store: RunStore, name: str = "", group_id: str = "", owner: str = "") -> str:
        """Record the run as queued (owned by `owner`, a browser's hash) and have it trained; returns
        the run id at once."""
        ...

    def stop(self, store: RunStore, run_id: str, grace_s: float = 5.0) -> None:
        """Ask the run to stop (it keeps every point); kill it if it has not ended within grace_s."""
        ...

    def kill(self, store: RunStore, run_id: str, grace_s: float = 2.0) -> None:
        """End the run's process now; the points written so far stay."""
        ...


class LocalExecutor:
    """Runs in worker processes on this machine, queued under MTL_MAX_CONCURRENT.

    With a StandbyPool, a run goes to the warm worker when one waits, else to a cold one.
    """

    kind = LOCAL

    def __init__(self, standby: workers.StandbyPool | None = None) -> None:
        self.standby = standby

    def start(self, config: RunConfig, store: RunStore, name: str = "", group_id: str = "", owner: str = "") -> str:
        if self.standby is not None:
            return self.standby.start(config, store, name=name, group_id=group_id, owner=owner)
        return workers.start_cold(config, store, name=name, group_id=group_id, owner=owner)

    def stop(self, store: RunStore, run_id: str, grace_s: float = 5.0) -> None:
        store.request_stop(run_id)
        if grace_s > 0 and not wait_until_ended(store, run_id, grace_s):
            self.kill(store, run_id)

    def kill(self, store: RunStore, run_id: str, grace_s: float = 2.0) -> None:
        """SIGTERM first (the worker turns it into a clean stop, even while it is still setting up),
        then SIGKILL if the run has not ended after grace_s."""
        run = store.get_run(run_id)
        if run and run["pid"] and run["host"] == store.host and run["status"] in ("queued", "running"):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(run["pid"], sig)
                except (ProcessLookupError, PermissionError):
                    break
                if wait_until_ended(store, run_id, grace_s):
                    break
            store.reap()


def ray_address() -> str | None:
    """The Ray cluster runs go to (MTL_RAY_ADDRESS), or None for local workers."""
    return os.environ.get(RAY_ENV, "").strip() or None


def default_executor(standby: workers.StandbyPool | None = None) -> Executor:
    """The executor new runs go to: Ray when MTL_RAY_ADDRESS is set, else local workers (warm
    ones from `standby` when given)."""
    address = ray_address()
    if address:
        from mtlcore.runs.ray import shared_executor

        return shared_executor(address)
    return LocalExecutor(standby)


def executor_of(store: RunStore, run_id: str) -> Executor:
    """The executor that runs this run (stop and kill must go through it)."""
    run = store.get_run(run_id)
    if run is not None and run.get("executor") == "ray":
        from mtlcore.runs.ray import shared_executor

        return shared_executor(ray_address() or "auto")
    return LocalExecutor()


def start(config: RunConfig, store: RunStore, group_id: str = "", name: str = "", owner: str = "") -> str:
    """Start a run on the default executor; returns its id at once."""
    return default_executor().start(config, store, name=name, group_id=group_id, owner=owner)


def stop(store: RunStore, run_id: str, grace_s: float = 5.0) -> None:
    """Stop a run, whoever executes it (see Executor.stop)."""
    executor_of(store, run_id).stop(store, run_id, grace_s)


def kill(store: RunStore, run_id: str, grace_s: float = 2.0) -> None:
    """Kill a run, whoever executes it (see Executor.kill)."""
    executor_of(store, run_id).kill(store, run_id, grace_s)
