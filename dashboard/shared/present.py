"""Presenter mode: the live charts alone, large, for a projector (`?present=1`, or the sidebar's toggle).

The flag lives in the URL, so a teacher can bookmark the presenting view of a run
(`?run=ID&present=1`). It hides the navigation, the sidebar and the Train page's setup column (the
widgets keep their values: every one is bound to the URL), and makes fonts and charts larger. The
style below is a constant of this module; nothing a user typed reaches it.
"""

from __future__ import annotations

import streamlit as st

from dashboard.shared.state import PRESENT_PARAM

ON = ("1", "true", "yes", "on")
CHART_SCALE = 1.45  # live charts' height in presenter mode, relative to the normal page
FONT_PX = 20  # the page's base font size in presenter mode (Streamlit's own is 16)
HIDDEN_SETUP = "presenter_setup"  # the Train page's setup widgets: drawn (they read the link), not shown

# Larger text for the back of a room, the whole width, the title clear of Streamlit's header bar
# (kept: its menu holds the light/dark switch). Plain CSS on
# Streamlit's stable test ids and the root font size (Streamlit sizes its text in rem).
_STYLE = f"""<style>
html {{ font-size: {FONT_PX}px; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 3.6rem; max-width: 100%; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {{ display: none; }}
.st-key-{HIDDEN_SETUP} {{ display: none; }}
</style>"""


def presenting() -> bool:
    """Presenter mode is on: the link says `present=1` (or true/yes/on)."""
    return str(st.query_params.get(PRESENT_PARAM, "")).strip().lower() in ON


def set_presenting(on: bool) -> None:
    if on:
        st.query_params[PRESENT_PARAM] = "1"
    elif PRESENT_PARAM in st.query_params:
        del st.query_params[PRESENT_PARAM]


def _toggled() -> None:
    set_presenting(bool(st.session_state.get("present_toggle")))


def sidebar_toggle() -> None:
    """The sidebar's switch into presenter mode (the way back is a button on the page)."""
    st.toggle("Presenter mode", value=presenting(), key="present_toggle", on_change=_toggled,
              help="charts only, large, for a projector; the link gets present=1")


def apply_style() -> None:
    """Call once per script run in presenter mode."""
    st.html(_STYLE)


def exit_button() -> None:
    """Leave presenter mode (the sidebar with its toggle is hidden while presenting)."""
    st.button("Exit", key="present_exit", icon=":material/close_fullscreen:", help="leave presenter mode",
              on_click=set_presenting, args=(False,), width="stretch")
