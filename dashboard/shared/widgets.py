"""Widgets generated from the core's parameter specs: one function for every method, architecture
and data set, so none of them needs page code of its own.

Every widget is keyed, and the key is also its URL query parameter (bind="query-params"), so a
shared link restores it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import streamlit as st

from dashboard.train import forms

BIND = "query-params"


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _step(spec: dict[str, Any]) -> float:
    default = spec.get("default")
    if isinstance(default, (int, float)) and default:
        return float(10 ** math.floor(math.log10(abs(float(default)))))
    return 0.01


def param_widget(spec: dict[str, Any], key: str, hint: str = "") -> None:
    """Draw the widget for one Param spec (kind float/int/bool/choice/floats/str) under `key`."""
    kind, label = spec["kind"], label_of(spec["name"])
    help_text = spec.get("help") or None
    default = forms.widget_default(spec)
    low, high = spec.get("low"), spec.get("high")
    if kind == "bool":
        st.toggle(label, value=bool(default), key=key, help=help_text, bind=BIND)
    elif kind == "choice":
        choices = list(spec["choices"])
        st.selectbox(label, choices, index=choices.index(default) if default in choices else 0,
                     key=key, help=help_text, bind=BIND)
    elif kind == "int":
        st.number_input(label, value=None if default is None else int(default),
                        min_value=None if low is None else int(low),
                        max_value=None if high is None else int(high), step=1, key=key,
                        help=help_text, bind=BIND)
    elif kind == "float":
        st.number_input(label, value=None if default is None else float(default),
                        min_value=None if low is None else float(low),
                        max_value=None if high is None else float(high), step=_step(spec),
                        format="%g", key=key, help=help_text, bind=BIND)
    elif kind == "floats":
        st.text_input(label, value=default, key=key, placeholder="numbers separated by commas",
                      help=" ".join(filter(None, [help_text, hint])) or None, bind=BIND)
    else:
        st.text_input(label, value="" if default is None else str(default), key=key, help=help_text,
                      bind=BIND)


def weight_slider(task: str, colour: str, on_change: Callable[[], None]) -> None:
    """A log-spaced weight slider, its label dotted in the task's chart colour; on_change pushes the
    new weights to a running run."""
    st.markdown(f'<span style="color:{colour}; font-size:1.1em">&#9679;</span> weight of **{task}**',
                unsafe_allow_html=True)
    st.select_slider(f"Weight of {task}", options=list(forms.WEIGHT_CHOICES), value=forms.DEFAULT_WEIGHT,
                     key=forms.weight_key(task), format_func=lambda w: f"{w:g}", on_change=on_change,
                     label_visibility="collapsed", bind=BIND)
