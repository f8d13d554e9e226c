"""Weight sliders for a run a user's own training loop writes (mtlcore.tracking.Session).

Its tasks are not the setup form's, so it gets sliders of its own; a move reaches the script within
a second, as for one of our runs. Only the browser that may control the run (its owner, the
teacher) gets them, and the callback checks again.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.shared import live, ownership
from dashboard.shared.state import store
from dashboard.shared.text import md_escape
from dashboard.train import forms


def push_weights(rid: str, n_tasks: int) -> None:
    run = store().get_run(rid)
    if run is None or not ownership.can_control(run):
        return
    weights = [float(st.session_state[f"ext_w_{rid}_{i}"]) for i in range(n_tasks)]
    if any(w > 0 for w in weights):
        store().set_live_weights(rid, weights)


def weight_sliders(run: dict[str, Any], rows: pd.DataFrame) -> None:
    """One slider per task of the external run, starting at the weights it uses now."""
    rid, tasks = run["id"], list(run["tasks"])
    current = live.external_weights(run, rows)
    cols = st.columns(len(tasks))
    for i, (col, task, w) in enumerate(zip(cols, tasks, current)):
        key = f"ext_w_{rid}_{i}"
        if key not in st.session_state:
            st.session_state[key] = min(forms.WEIGHT_CHOICES, key=lambda c, w=w: abs(c - w))
        col.select_slider(f"Weight of {md_escape(task)}", options=list(forms.WEIGHT_CHOICES), key=key,
                          format_func=lambda v: f"{v:g}", on_change=push_weights, args=(rid, len(tasks)))
    st.caption(":material/touch_app: These sliders steer the script's weights within a second.")
