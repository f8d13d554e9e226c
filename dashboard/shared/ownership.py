"""Who may steer, stop and delete a run: the browser that started it, or the teacher.

On a shared (classroom) server anyone may watch any run, but moving its weight sliders, stopping
it or deleting it needs the browser session that started it, or the teacher key set on the server
(MTL_TEACHER_KEY, entered once per session in the sidebar, never put in the URL).

A browser holds a random secret (the owner token) in a cookie; the run row keeps only its hash.
Why a cookie: Streamlit's session state is lost when the tab is refreshed, a cookie is not, and
unlike a URL parameter it is not handed on when someone copies the address bar. Streamlit can only
read cookies (st.context.cookies, sent with the page's first request), so a tiny component with a
fixed script writes it.

Runs without an owner (started by the CLI or an older version) belong to nobody: with a teacher key
configured only the teacher may change them; without one, anyone may (a single user's own machine).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from typing import Any, Mapping

import streamlit as st
import streamlit.components.v2 as components

TEACHER_ENV = "MTL_TEACHER_KEY"
COOKIE = "mtl_owner"
COOKIE_DAYS = 365
_TOKEN = "_owner_token"
_TEACHER = "_teacher_unlocked"
_KEY_INPUT = "_teacher_key_input"
_KEY_WRONG = "_teacher_key_wrong"
_TOKEN_SHAPE = re.compile(r"[0-9a-f]{32}")

_COOKIE_JS = """
export default function(component) {
    const token = component.data && component.data.token;
    if (typeof token === "string" && /^[0-9a-f]{32}$/.test(token)) {
        document.cookie = `mtl_owner=${token}; path=/; max-age=%d; SameSite=Strict`;
    }
}
""" % (COOKIE_DAYS * 24 * 3600)


@st.cache_resource(show_spinner=False)
def _cookie_writer() -> Any:
    return components.component("mtl_owner_cookie", js=_COOKIE_JS)


def owner_hash(token: str) -> str:
    """What a run row stores: the token cannot be recovered from it, so reading the store gives no control."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def may_control(run_owner: str, session_owner: str, teacher: bool, key_configured: bool) -> bool:
    """The rule, free of Streamlit: the teacher may change every run, an owner its own runs, and
    anyone an unowned run when the server has no teacher key."""
    if teacher:
        return True
    if run_owner:
        return hmac.compare_digest(run_owner, session_owner)
    return not key_configured


def _session_token() -> str:
    token = st.session_state.get(_TOKEN)
    if token is None:
        sent = _sent_cookie()
        token = sent if _TOKEN_SHAPE.fullmatch(sent) else secrets.token_hex(16)
        st.session_state[_TOKEN] = token
    return str(token)


def _sent_cookie() -> str:
    """The owner cookie the browser sent with this session's first request ("" if none)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001  no browser request behind this session (tests)
        return ""
    return value if isinstance(value, str) else ""


def remember_browser() -> None:
    """Write this session's token into the browser's cookie, unless the browser sent it already.
    Call once per script run (the frame's sidebar does)."""
    token = _session_token()
    if _sent_cookie() != token:
        _cookie_writer()(key="mtl_owner_cookie", data={"token": token}, height=0)


def session_owner() -> str:
    """This browser's owner id (the hash stored in the runs it starts)."""
    return owner_hash(_session_token())


def teacher_key_configured() -> bool:
    return bool(os.environ.get(TEACHER_ENV))


def unlock_teacher(entered: str) -> bool:
    """Check a typed teacher key against the server's (in constant time); remember a match."""
    key = os.environ.get(TEACHER_ENV, "")
    ok = bool(key) and hmac.compare_digest(entered.encode("utf-8"), key.encode("utf-8"))
    st.session_state[_TEACHER] = ok
    return ok


def is_teacher() -> bool:
    return bool(st.session_state.get(_TEACHER)) and teacher_key_configured()


def can_control(run: Mapping[str, Any]) -> bool:
    """May this session steer, stop or delete `run` (a store row)?"""
    return may_control(str(run.get("owner") or ""), session_owner(), is_teacher(), teacher_key_configured())


def teacher_sidebar() -> None:
    """The sidebar's teacher key field (only when the server has a key)."""
    if not teacher_key_configured():
        return
    if is_teacher():
        st.caption(":material/school: Teacher mode: you may steer, stop and delete every run.")
        return
    with st.expander("Teacher key"):
        st.text_input("Teacher key", type="password", key=_KEY_INPUT, on_change=_key_entered,
                      label_visibility="collapsed", placeholder="teacher key")
        if st.session_state.get(_KEY_WRONG):
            st.error("That is not the teacher key.", icon=":material/key_off:")


def _key_entered() -> None:
    entered = st.session_state.get(_KEY_INPUT) or ""
    st.session_state[_KEY_INPUT] = ""  # the key never stays in a widget
    st.session_state[_KEY_WRONG] = bool(entered) and not unlock_teacher(entered)
