"""Rows whose parts keep a readable width: side by side where they fit, one under the other where not.

A horizontal container wraps only parts with a fixed width; parts that stretch share any width,
however small (three Compare runs side by side at 800 px were 145 px each, the Train page's chart
pair at 1280 px 231 px each). A keyed row gets a CSS minimum width for its parts, through `st.html`
(our own constant CSS, never user text), and they still stretch to fill the row.
"""

from __future__ import annotations

import re

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

_KEY = re.compile(r"[A-Za-z0-9_-]+")


def wrapping_row(key: str, min_px: int, parts: int, gap: str = "small") -> list[DeltaGenerator]:
    """`parts` containers in a row under `key`, each at least `min_px` wide (the row wraps below that)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"a row key is letters, digits, - and _ only, got {key!r}")
    st.html(f'<style>.st-key-{key} > [data-testid="stLayoutWrapper"] '
            f'{{min-width: {int(min_px)}px; flex: 1 1 {int(min_px)}px;}}</style>')
    row = st.container(horizontal=True, key=key, gap=gap)
    return [row.container(width="stretch") for _ in range(parts)]
