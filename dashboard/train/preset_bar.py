"""The Train page's preset buttons and what each preset shows (its explanation and the effect we
measured with its own config, dashboard/train/presets.py)."""

from __future__ import annotations

import streamlit as st

from dashboard.shared import widgets
from dashboard.train import presets

PRESET_SHOWN = "_preset_shown"  # the preset last applied in this session: its text stays in view


def apply_preset(key: str) -> None:
    widgets.set_values(presets.preset_state(presets.get(key)))
    st.session_state[PRESET_SHOWN] = key


def preset_bar() -> None:
    shown = presets.all_presets()
    row = st.container(horizontal=True)  # wraps in a narrow window rather than cutting the titles
    for col, p in zip([row.container(width="stretch") for _ in shown], shown):
        with col:
            st.button(p.title, icon=p.icon, key=f"preset_{p.key}", on_click=apply_preset, args=(p.key,),
                      width="stretch", help=p.explanation)
    # the texts are long (the setup went below the fold at 1280 x 720): the applied preset's in view,
    # every preset's one click away
    applied = next((p for p in shown if p.key == st.session_state.get(PRESET_SHOWN)), None)
    if applied is not None:
        with st.container(border=True):
            preset_text(applied)
    # a popover: its texts are drawn only when opened (as an expander's eight captions they were
    # drawn, hidden, on every visit of the Train page)
    with st.popover("What each preset shows, and what we measured", icon=":material/info:", key="preset_texts",
                    width="stretch"):
        for p in shown:
            preset_text(p)


def preset_text(p: presets.Preset) -> None:
    st.caption(f"**{p.title}**: {p.explanation}")
    if p.observation:
        st.caption(f":material/science: {p.observation}")
