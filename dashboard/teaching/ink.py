"""The teaching charts' own colours on the app's light and dark backgrounds.

Streamlit's chart theme recolours a figure's background, text and grid for a dark app, but not the
colours a figure names itself: the Pareto set in near-black, the start crosses, the Play / Pause
buttons, dark method colours (navy, dark grey) all but vanished on a dark page. A page passes
`dark` (from `st.context.theme`) and the figures take these instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ink:
    strong: str  # the Pareto set and front, the start crosses
    muted: str  # small print: the slider's current step, notes
    dot_outline: str  # the ring around a method's current position
    zeroline: str
    button_background: str
    button_border: str
    button_text: str
    rail: str  # the animation slider's track


LIGHT = Ink("#111111", "#555555", "#ffffff", "#bbbbbb", "#f0f2f6", "#c8c8c8", "#31333f",
            "#f0f2f6")
DARK = Ink("#eeeeee", "#b0b0b0", "#0e1117", "#555555", "#262730", "#4a4d57", "#fafafa",
           "#4a4d57")


def ink(dark: bool) -> Ink:
    return DARK if dark else LIGHT


def _luminance(colour: str) -> float:
    """Relative luminance (WCAG) of a #rrggbb colour."""
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def readable(colour: str, dark: bool, floor: float = 0.12) -> str:
    """`colour` as drawn on the page's background: on a dark one, a colour darker than `floor` is
    mixed with white until it reaches it (same hue, so a method keeps its colour's identity)."""
    if not dark or _luminance(colour) >= floor:
        return colour
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    for step in range(1, 21):
        t = step / 20
        mixed = "#" + "".join(f"{round(v + (255 - v) * t):02x}" for v in (r, g, b))
        if _luminance(mixed) >= floor:
            return mixed
    return "#ffffff"
