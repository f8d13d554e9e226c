"""Rows whose parts keep a readable width: side by side where they fit, one under the other where not.

A horizontal container wraps only parts with a fixed width; parts that stretch share any width,
however small (three Compare runs side by side at 800 px were 145 px each, the Train page's chart
pair at 1280 px 231 px each). A keyed row gets a CSS minimum width for its parts, through `st.html`
(our own constant CSS, never user text), and they still stretch to fill the row.
"""

from __future__ import annotations

import re
from typing import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

_KEY = re.compile(r"[A-Za-z0-9_-]+")


def wrapping_row(key: str, min_px: int | Sequence[int], parts: int, gap: str = "small",
                 weights: Sequence[float] | None = None, vertical_alignment: str = "top") -> list[DeltaGenerator]:
    """`parts` containers in a row under `key`, each at least `min_px` wide (one width, or one per part;
    the row wraps below that), sharing the rest of the row equally or in proportion to `weights`."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"a row key is letters, digits, - and _ only, got {key!r}")
    widths = [int(min_px)] * parts if isinstance(min_px, int) else [int(w) for w in min_px]
    grow = [1.0] * parts if weights is None else list(weights)
    if len(widths) != parts or len(grow) != parts or any(not w > 0 for w in grow):
        raise ValueError(f"one minimum width and one positive weight per part: {widths}, {grow} for {parts} parts")
    part = f'.st-key-{key} > [data-testid="stLayoutWrapper"]'
    rules = (f"{part}:nth-child({i + 1}) {{min-width: {px}px; flex: {w:g} 1 {px}px;}}"
             for i, (px, w) in enumerate(zip(widths, grow)))
    st.html("<style>" + "".join(rules) + "</style>")
    row = st.container(horizontal=True, key=key, gap=gap, vertical_alignment=vertical_alignment)
    return [row.container(width="stretch") for _ in range(parts)]
