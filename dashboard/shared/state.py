"""What every page shares: the run store handle, the watched run in the URL, and the error guard.

The store is a cache_resource (one per database path, shared by all tabs; RunStore is thread-safe
with a connection per thread). The run a tab watches lives in the URL (`?run=<id>`), so a refresh or
a shared link finds it again.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import streamlit as st

from dashboard.shared.text import md_escape
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs import executor
from mtlcore.runs.store import RunStore, StoreError, default_db_path
from mtlcore.runs.workers import StandbyPool

RUN_PARAM = "run"
PRESENT_PARAM = "present"  # ?present=1: presenter mode (dashboard/shared/present.py)
SWEEP_PARAM = "sweep"  # ?sweep=GROUP: the Sweep page shows that sweep
log = logging.getLogger("mtl.dashboard")


STORE_FIX = ("Set MTL_DB to a SQLite file in a folder the server may write (or remove MTL_DB to use "
             "runs/mtl.sqlite) and restart the app.")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> RunStore:
    try:
        return RunStore(path)
    except OSError as exc:  # its folder cannot be made: a file is in the way, or no permission
        folder = Path(path).parent
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
        raise StoreError(f"{path} cannot be created: {why}") from None


def store() -> RunStore:
    """The run store named by MTL_DB (default runs/mtl.sqlite); StoreError says what is wrong with it."""
    return _store(default_db_path())


def store_problem() -> str | None:
    """Why the run store cannot be used, or None when it can (pages that need no store still work)."""
    try:
        store()
    except StoreError as exc:
        return str(exc)
    return None


@st.cache_resource(show_spinner=False)
def _standby(path: str) -> StandbyPool:
    return StandbyPool(path)


def standby_enabled() -> bool:
    """Keep a warm worker, unless runs go to Ray (MTL_RAY_ADDRESS), MTL_STANDBY=0 (to save its
    memory) or the page runs inside AppTest (in-process page tests never train; MTL_STANDBY=1
    forces it there)."""
    if executor.ray_address():
        return False
    flag = os.environ.get("MTL_STANDBY", "")
    if flag:
        return flag != "0"
    return "streamlit.testing.v1.app_test" not in sys.modules


def prepare_worker() -> None:
    """Have a warm worker waiting; call only when nothing trains (its imports take CPU)."""
    if standby_enabled():
        _standby(default_db_path()).ensure()


def worker_ready() -> bool | None:
    """True when a warm worker waits, False while one warms up, None when they are turned off."""
    return _standby(default_db_path()).ready() if standby_enabled() else None


def start_run(config: RunConfig, owner: str = "") -> str:
    """Start training `config` on the default executor (a warm local worker when one waits, Ray
    when MTL_RAY_ADDRESS is set), owned by `owner` (a browser's hash); returns the run id."""
    if standby_enabled():
        return _standby(default_db_path()).start(config, store(), name=config.name, owner=owner)
    return executor.start(config, store(), name=config.name, owner=owner)


def watched_run() -> str | None:
    rid = st.query_params.get(RUN_PARAM)
    return rid or None


def watch(run_id: str | None) -> None:
    if run_id:
        st.query_params[RUN_PARAM] = run_id
    elif RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


@contextmanager
def page_guard(where: str) -> Iterator[None]:
    """Show any error as a message on the page, never as a traceback.

    A ConfigError's message is written for users and shown as is; anything else is logged with its
    traceback on the server and summarised on the page. Streamlit's own rerun/stop signals are
    BaseExceptions and pass through untouched.
    """
    try:
        yield
    except ConfigError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
    except StoreError as exc:
        st.error(md_escape(f"The run database cannot be used: {exc}. {STORE_FIX}"), icon=":material/database:")
    except Exception as exc:  # noqa: BLE001  the page must survive any fault and say what happened
        log.exception("error in %s", where)
        st.error(md_escape(f"Something went wrong in {where}: {type(exc).__name__}: {exc}. "
                           "The details are in the server's log."), icon=":material/error:")
