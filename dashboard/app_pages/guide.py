"""Method guide: one card per registered weighting method, generated from the registry's metadata.

Search first: the page lists every method matching the filters in one table and draws the full card
of one (or of all matches when the search leaves a few, or when 'Every card' is on).

Nothing here names a method: a method registered in the core appears with its formula, needs, cost,
hyperparameters and paper, and a link that opens the Train page with it selected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.shared import catalog
from dashboard.shared.html_table import html_table
from dashboard.shared.state import page_guard
from dashboard.shared.text import md_escape
from dashboard.shared.wrap import wrapping_row
from dashboard.train import forms

TRAIN_PAGE = Path(__file__).resolve().parent / "train.py"
NEEDS = {
    "losses": "the task losses only (one backward pass)",
    "gradients": "per-task gradients on the shared parameters (the T x n Jacobian)",
    "representation": "per-task gradients on the shared representation (cheap: heads, then one trunk backward)",
}
K_FAMILY, K_KIND, K_SEARCH, K_ALL, K_OPEN = "guide_family", "guide_kind", "guide_search", "guide_all", "guide_open"
# Cards drawn at once unless asked for all: a card's formula (KaTeX), columns and table cost the
# browser ~0.15 s, so all 31 took 3-4 s; the index of every listed method is one markdown table.
CARDS_AT_ONCE = 3
KINDS = {"all": "all", "loss": "loss-based", "gradient": "gradient-based"}


def train_link_params(entry: dict[str, Any]) -> dict[str, str]:
    """Query parameters that open the Train page with this method chosen.

    The Train page's method selectbox is bound to the URL under forms.METHOD, and a bound selectbox
    is set by its displayed label, which is the method's title.
    """
    return {forms.METHOD: entry["title"]}


PARAM_COLUMNS = ["name", "kind", "default", "range", "what it does"]


def _allowed(p: dict[str, Any]) -> str:
    if p.get("choices"):
        return " / ".join(map(str, p["choices"]))
    lo, hi = p.get("low"), p.get("high")
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f">= {lo:g}"
    if lo is None:
        return f"<= {hi:g}"
    return f"{lo:g} to {hi:g}"


def params_html(params: list[dict[str, Any]]) -> str:
    """The hyperparameter table as escaped HTML (cheap to draw 31 times, unlike a data grid)."""
    return html_table(PARAM_COLUMNS, [(p["name"], p["kind"], "—" if p["default"] is None else str(p["default"]),
                                       _allowed(p), p.get("help", "")) for p in params])


INDEX_COLUMNS = ["method", "name", "kind", "family", "idea"]


def index_rows(entries: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per method: title, registry name, kind and family, and its summary's first sentence."""
    return [(m["title"], m["name"], m.get("kind", ""), m.get("family") or "",
             str(m.get("summary", "")).split(". ")[0].rstrip(".")) for m in entries]


def card(entry: dict[str, Any]) -> None:
    with st.container(border=True):
        family = md_escape(entry.get("family") or entry.get("kind", ""))
        st.markdown(f"#### {entry['title']} &nbsp; `{entry['name']}` &nbsp; :blue-badge[{family}]\n\n"
                    f"{entry['summary']}")
        if entry.get("formula"):
            st.latex(entry["formula"])
        needs = NEEDS.get(entry.get("needs", ""), entry.get("needs", ""))
        if entry.get("supports_representation") and entry.get("needs") == "gradients":
            needs += "; also works on the shared representation"
        st.markdown(f"**Needs:** {needs}  \n**Cost per step:** {entry.get('cost') or 'not stated'}"
                    + ("  \n**Random:** draws from the run's seeded generator" if entry.get("stochastic") else ""))
        if entry.get("departures"):
            st.markdown(f"**Against the reference code:** {md_escape(entry['departures'])}")
        if entry["params"]:
            st.html(params_html(entry["params"]))
        else:
            st.caption("No hyperparameters.")
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.caption(f"Paper: {entry.get('paper') or 'not given'}")
        c2.page_link(TRAIN_PAGE, label="Train with it", icon=":material/play_arrow:",
                     query_params=train_link_params(entry))


def page() -> None:
    st.markdown("### :material/menu_book: Method guide")
    st.caption("Every weighting method in the core, from its own description: what it computes, what it needs, "
               "what it costs, its settings and its paper. Formulas use the project's conventions: g_i is task "
               "i's gradient, J the T x n matrix of them, G = J J^T, and d the update direction. Gradient methods "
               "set the update of the shared part; each task's own parameters (its head) get the task's "
               "gradient times its weight by default, as the Nash-MTL, FairGrad and IMTL reference code "
               "(Train page: Task heads; config: weighting.heads). Where a method departs from its "
               "reference code, its card says so.")
    methods = list(catalog.methods())
    families = sorted({m.get("family") or "" for m in methods} - {""})
    # a row that wraps where its filters do not fit (at 800 px 'Every card' was cut to 'E')
    c1, c2, c3, c4 = wrapping_row("guide_filters", [120, 120, 180, 130], 4, weights=[2, 2, 3, 1.4],
                                  vertical_alignment="bottom")
    kind = c1.selectbox("Kind", list(KINDS), format_func=KINDS.get, key=K_KIND)
    family = c2.selectbox("Family", ["all", *families], key=K_FAMILY)
    text = c3.text_input("Search", "", key=K_SEARCH, placeholder="name, idea or paper")
    every = c4.toggle("Every card", key=K_ALL, help="Show the full card of every method listed (slower to draw)")
    shown = [m for m in methods
             if (kind == "all" or m.get("kind") == kind) and (family == "all" or m.get("family") == family)
             and (not text or text.lower() in " ".join(str(m.get(k, "")) for k in
                                                       ("name", "title", "summary", "paper", "family")).lower())]
    st.caption(f"{len(shown)} of {len(methods)} methods.")
    if not shown:
        return
    if not every and len(shown) > CARDS_AT_ONCE:
        st.html(html_table(INDEX_COLUMNS, index_rows(shown)))
        by_name = {m["name"]: m for m in shown}
        if st.session_state.get(K_OPEN) not in by_name:
            st.session_state[K_OPEN] = shown[0]["name"]
        opened = st.selectbox("Card of", list(by_name), key=K_OPEN, format_func=lambda n: by_name[n]["title"],
                              help="Narrow the list with the search, or turn on 'Every card'")
        shown = [by_name[opened]]
    for entry in shown:
        with page_guard(f"the card of {entry['name']}"):
            card(entry)


with page_guard("the Method guide"):
    page()
