"""A stored run's setup on the Train page: `?run=ID` alone opens with it, "Load this run's setup" fills it.

A run link shared by a teacher used to show the run's charts beside a default setup (a run named
"static 1/15" beside a slider at 1). The widget values come from the run's stored RunConfig through
dashboard.train.from_config (the inverse of forms.build_config) and are set with widgets.set_values, so
the address bar gets them too.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.shared import widgets
from dashboard.shared.state import PRESENT_PARAM, RUN_PARAM, store, watched_run
from dashboard.train import forms, from_config
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError

OPENED = "_train_opened"  # set once a session's first script run has read the link


def stored_setup(run: dict[str, Any]) -> from_config.Restored | None:
    """The widget values of a stored run's setup, or None when its config no longer reads (an old
    run of a method or data set this version does not have)."""
    try:
        return from_config.widget_values(RunConfig.from_dict(run["config"]))
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def shows_setup_of(run: dict[str, Any]) -> bool:
    """The widgets hold the run's setup: the config they make is the run's, its name aside."""
    restored = stored_setup(run)
    if restored is None:
        return True  # nothing to load
    mine = forms.build_config(forms.read_setup(st.session_state), name="-").to_dict()
    theirs = forms.build_config(forms.read_setup(restored.values), name="-").to_dict()
    return mine == theirs


def load_setup_button(run: dict[str, Any]) -> None:
    """'Load this run's setup': fills every widget from the run's stored config (and so the URL)."""
    if shows_setup_of(run):
        return
    restored = stored_setup(run)
    assert restored is not None
    c1, c2 = st.columns([3, 2], vertical_alignment="center")
    c1.caption(":material/info: The setup on the left is not this run's.")
    if c2.button("Load this run's setup", key="load_setup", icon=":material/settings_backup_restore:",
                 width="stretch"):
        widgets.set_values(restored.values)
        st.rerun()  # the whole page: the button sits in the live fragment
    if restored.unheld:
        st.caption("The widgets cannot hold: " + "; ".join(restored.unheld))


def open_shared_run() -> None:
    """A fresh session opened on `?run=ID` alone (a shared run link) shows that run's setup."""
    if OPENED in st.session_state:
        return
    st.session_state[OPENED] = True
    rid = watched_run()
    if not rid or set(st.query_params) - {RUN_PARAM, PRESENT_PARAM}:
        return  # the link names its own setup: the link wins
    run = store().get_run(rid)
    restored = stored_setup(run) if run else None
    if restored is not None:
        widgets.set_values(restored.values)
