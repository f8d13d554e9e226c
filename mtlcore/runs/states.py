"""Run states read off a store row or a process: is the owner alive, can the run be resumed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

RESUMABLE = ("stopped", "interrupted")  # a run in these states with a checkpoint can go on


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child (killed but not yet reaped) is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def resume_problem(run: dict[str, Any] | None) -> str | None:
    """Why the run cannot be resumed, or None when it can."""
    if run is None:
        return "no such run"
    if run["status"] not in RESUMABLE:
        return f"run {run['id']} is {run['status']}; only a stopped or interrupted run can be resumed"
    if not run.get("checkpoint"):
        return f"run {run['id']} has no checkpoint to resume from"
    if not Path(run["checkpoint"]).is_file():
        return f"the checkpoint of run {run['id']} is missing ({run['checkpoint']})"
    return None
