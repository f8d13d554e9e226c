"""Gradient-conflict explorer: two or three task gradients in the plane, and what each method makes of them.

Sliders set the gradients; every chosen method's direction comes from its own `aggregate` on that
2-D Jacobian (or its `combine` weights, for loss-based methods), exactly as in training, computed in
the toy's warm worker processes (this server never imports torch). The shaded cone holds the
directions that conflict with no task (g_i . d >= 0 for all i).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.shared import catalog
from dashboard.shared.state import page_guard
from dashboard.shared.wrap import wrapping_row
from dashboard.teaching import charts as toy_charts
from mtlcore import teaching as toy

DEFAULT_METHODS = ("ew", "mgda", "pcgrad", "cagrad", "nash_mtl", "imtl_g", "upgrad")
RATIO_CHOICES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
K_COUNT, K_ANGLE, K_RATIO, K_ANGLE3, K_RATIO3, K_METHODS, K_EQUAL = (
    "cx_tasks", "cx_angle", "cx_ratio", "cx_angle3", "cx_ratio3", "cx_methods", "cx_equal")


def gradients_from_controls() -> np.ndarray:
    """g1 along the x axis with norm 1; g2 (and g3) at the chosen angles from g1 and norm ratios."""
    c1, c2 = st.columns(2)
    count = c1.radio("Tasks", (2, 3), horizontal=True, key=K_COUNT)
    angle = c1.slider("Angle between g1 and g2 (degrees)", 0, 180, 120, step=5, key=K_ANGLE,
                      help="Past 90 degrees the two gradients conflict: following one raises the other's loss")
    ratio = c2.select_slider("|g2| / |g1|", RATIO_CHOICES, value=3.0, key=K_RATIO,
                             help="Unequal norms are what lets one task dominate a plain sum")
    angles, norms = [0.0, float(angle)], [1.0, float(ratio)]
    if count == 3:
        angles.append(float(c1.slider("Angle of g3 from g1 (degrees)", -180, 180, -100, step=5, key=K_ANGLE3)))
        norms.append(float(c2.select_slider("|g3| / |g1|", RATIO_CHOICES, value=1.0, key=K_RATIO3)))
    return toy_charts.gradients_from_angles(angles, norms)


def table(results: list[toy.PlaneDirection], titles: dict[str, str], n_tasks: int) -> pd.DataFrame:
    rows = []
    for r in results:
        row: dict[str, Any] = {"method": titles.get(r.method, r.method)}
        for i in range(n_tasks):
            row[f"w{i + 1}"] = "—" if r.weights is None else f"{r.weights[i]:.3g}"
        for i in range(n_tasks):
            row[f"cos(d, g{i + 1})"] = round(float(r.cosines[i]), 3)
        row["|d|"] = f"{float(np.hypot(*r.direction)):.3g}"
        row["conflicts with"] = ", ".join(f"task {i + 1}" for i in r.conflicts) or "none"
        rows.append(row)
    return pd.DataFrame(rows)


def page() -> None:
    st.markdown("### :material/call_split: Gradient conflict explorer")
    st.markdown("Two tasks **conflict** when their gradients point more than 90 degrees apart: a step that "
                "lowers one loss raises the other. Each method combines the gradients differently; a direction "
                "inside the green cone lowers every loss at once.")
    methods = [m for m in catalog.methods()]
    registry = [m["name"] for m in methods]
    titles = catalog.titles(methods)
    grads = gradients_from_controls()
    chosen = st.multiselect("Methods", registry, default=[n for n in DEFAULT_METHODS if n in registry],
                            key=K_METHODS, format_func=lambda n: titles.get(n, n),
                            help="Every registered method, with its default settings")
    equal = st.toggle("Draw every direction at the same length", value=True, key=K_EQUAL,
                      help="Conflict is about angles; the methods' step sizes differ a lot (see |d| below)")
    results: list[toy.PlaneDirection] = []
    for name, answer in zip(chosen, toy.plane_directions(list(chosen), grads)):
        if isinstance(answer, str):
            st.error(f"{titles.get(name, name)}: {answer}", icon=":material/error:")
        else:
            results.append(answer)
    # the chart (its legend takes ~160 px) above the text where both do not fit: at 800 px a column
    # each left the plane ~40 px wide
    left, right = wrapping_row("cx_plane_row", [440, 220], 2, gap="medium", weights=[3, 2])
    left.plotly_chart(toy_charts.conflict_figure(grads, {r.method: r.direction for r in results}, registry, titles,
                                                 equal_length=equal, dark=st.context.theme.type == "dark"),
                      key="cx_plane", width="stretch")
    cos12 = float(grads[0] @ grads[1] / (np.linalg.norm(grads[0]) * np.linalg.norm(grads[1])))
    arc = toy_charts.nonconflicting_arc(grads)
    right.markdown(f"**cos(g1, g2) = {cos12:.3f}**  \n" + (
        f"Directions that conflict with no task span **{np.degrees(arc[1] - arc[0]):.0f} degrees** (green)."
        if arc is not None else "No direction lowers every loss: the gradients are **Pareto-stationary**."))
    opposed = [titles.get(r.method, r.method) for r in results if r.conflicts]
    right.markdown("Methods whose step raises a loss: " + (", ".join(f"**{t}**" for t in opposed) or "none."))
    if results:
        frame = table(results, titles, grads.shape[0])
        cos_cols = [c for c in frame.columns if c.startswith("cos(")]
        st.dataframe(frame.style.format("{:.3f}", subset=cos_cols).map(
            lambda v: "color: #c62828; font-weight: 600" if isinstance(v, float) and v < 0 else "", subset=cos_cols),
            hide_index=True, width="stretch")
        st.caption("Weights are each method's own (sum convention or the paper's scale, see the Method guide); "
                   "a negative cosine means that step raises that task's loss. Methods that read losses see 1 "
                   "for every task here; stateful methods take their first step.")


with page_guard("the Gradient conflict page"):
    page()
