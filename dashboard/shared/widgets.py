"""Widgets generated from the core's parameter specs: one function for every method, architecture
and data set, so none of them needs page code of its own.

Every widget is keyed, and the key is also its URL query parameter (bind="query-params"), so a
shared link restores it.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

import streamlit as st

from dashboard.shared import catalog
from dashboard.shared.text import md_escape
from dashboard.train import forms
from mtlcore.registry import ConfigError

log = logging.getLogger("mtl.dashboard")
BIND = "query-params"
URL_IGNORED = "_url_ignored"  # session state: {widget key: why the link's value for it was ignored}
URL_SYNC = "_url_sync"  # session state: keys of values set by code that the URL must still get


def set_values(values: dict[str, Any]) -> None:
    """Set widget values from code (a preset, a run's setup, an uploaded table); the URL gets them at
    the end of the script run (`finish_url_sync`). Call from a callback or before the widgets are drawn."""
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[URL_SYNC] = tuple(values)


def finish_url_sync() -> None:
    """After the widgets are drawn: write the values `set_values` set to the URL, as Streamlit would.

    Streamlit writes a bound widget's value set through session_state to the URL only when that
    widget was drawn in the previous script run (its id is in the compacted state, which only a
    browser-sent rerun updates); a widget that appears with the new value (sum's slider after a preset
    that picks sum, a data set's options, the Train page after "Your data -> Train on it") kept it out
    of the address bar, so a shared link lost the lesson. This repeats Streamlit's own sync for those
    widgets now that they are drawn: non-default values are written with the widget's serializer, a
    default one leaves the URL. Streamlit forbids st.query_params writes to bound keys, hence its
    binding registry; a Streamlit that changes it only loses this sync (logged), never the page."""
    keys = st.session_state.pop(URL_SYNC, ())
    if not keys:
        return
    try:
        _write_bound_values(keys)
    except Exception:  # noqa: BLE001  Streamlit internals: the page must survive their change
        log.warning("cannot write the setup's values to the URL", exc_info=True)


def _write_bound_values(keys: tuple[str, ...]) -> None:
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return
    state = ctx.session_state._state  # SessionState behind the thread-safe wrapper
    with ctx.session_state.query_params() as params:
        for key in keys:
            binding = params.get_binding_for_param(key)
            meta = state.get_widget_metadata(binding.widget_id) if binding else None
            if meta is None:
                continue  # not a bound widget drawn in this run (another method's option, say)
            value = state[binding.widget_id]
            if value == meta.deserializer(None):
                if params.has_param(key):
                    params.remove_param(key)
            else:
                serialized = meta.serializer(value)
                if not params.stored_param_matches_corrected_value(key, serialized, meta.value_type):
                    params.set_corrected_value(key, serialized, meta.value_type)


def url_bind(key: str, read: Callable[[str], Any]) -> str | None:
    """BIND, unless the URL gives this number widget a value `read` (the config field's rule) refuses.

    Streamlit would crash on such a value (`?seed=` with 400 nines: int() of an infinity) or drop it
    silently (`?epochs=1e300`). Refused, the widget stays unbound for this session, so Streamlit never
    parses it; the parameter leaves the URL and `ignored_url_values` says why.
    """
    ignored = st.session_state.setdefault(URL_IGNORED, {})
    if key in ignored:
        return None
    raw = st.query_params.get(key) if key not in st.session_state else None
    if raw is None:
        return BIND
    try:
        read(raw)
    except ConfigError as exc:
        shown = raw if len(raw) <= 24 else f"{raw[:12]}... ({len(raw)} characters)"
        ignored[key] = f"The link's {key}={shown} was ignored: {exc}"
        del st.query_params[key]
        return None
    return BIND


# data set parameters that name a file or folder on the server (table file, data roots, a labels CSV)
PATH_PARAMS = frozenset({"path", "root", "labels"})


def refuse_url_path(key: str) -> None:
    """A link never names a file on the server: a path parameter from the URL is dropped before
    anything opens it, and the message does not repeat it, so an existing and a missing file (say
    /etc/shadow) get the same answer. Paths typed in this session are used (and stay out of the URL)."""
    ignored = st.session_state.setdefault(URL_IGNORED, {})
    if key in st.session_state or st.query_params.get(key) is None:
        return
    ignored[key] = (f"The link's {key} was ignored: a link never names a file on the server. Type the "
                    "path in the data set options, or upload the file on the Your data page.")
    del st.query_params[key]


def url_choice(key: str, options: Sequence[Any], label: Callable[[Any], str]) -> None:
    """Let a link name an option as Streamlit writes it (its label) or by its name or number:
    `?method=uw` as well as its title, `?w_right=2.0` as well as `2`. Call before drawing the widget."""
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    if raw is None:
        return
    option = forms.match_option(raw, list(options), label)
    if option is not None and label(option) != raw:
        st.session_state[key] = option


def ignored_url_values() -> list[str]:
    """Why values of this session's link were ignored (shown once on the page, escaped by st.warning)."""
    return list(st.session_state.get(URL_IGNORED, {}).values())


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
    elif kind in ("int", "float"):
        bind = url_bind(key, lambda raw: catalog.param_spec(spec).validate(forms.parse_number(raw)))
        cast = int if kind == "int" else float
        st.number_input(label, value=None if default is None else cast(default),
                        min_value=None if low is None else cast(low),
                        max_value=None if high is None else cast(high),
                        step=1 if kind == "int" else _step(spec), format=None if kind == "int" else "%g",
                        key=key, help=help_text, bind=bind)
    elif kind == "floats":
        st.text_input(label, value=default, key=key, placeholder="numbers separated by commas",
                      help=" ".join(filter(None, [help_text, hint])) or None, bind=BIND)
    elif spec["name"] in PATH_PARAMS:
        refuse_url_path(key)
        st.text_input(label, value="" if default is None else str(default), key=key, help=help_text)
    else:
        st.text_input(label, value="" if default is None else str(default), key=key, help=help_text,
                      bind=BIND)


def weight_slider(task: str, colour: str, on_change: Callable[[], None], disabled: bool = False) -> None:
    """A log-spaced weight slider, its label dotted in the task's chart colour; on_change pushes the
    new weights to a running run. The task name comes from data (an uploaded column): escaped."""
    st.markdown(f':color[●]{{foreground="{colour}"}} weight of **{md_escape(task)}**')
    url_choice(forms.weight_key(task), forms.WEIGHT_CHOICES, lambda w: f"{w:g}")
    st.select_slider(f"Weight of {md_escape(task)}", options=list(forms.WEIGHT_CHOICES),
                     value=forms.DEFAULT_WEIGHT, key=forms.weight_key(task), format_func=lambda w: f"{w:g}",
                     on_change=on_change, label_visibility="collapsed", bind=BIND, disabled=disabled)
