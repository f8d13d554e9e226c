"""Landscape: the CAGrad / Nash-MTL two-objective toy, and where each weighting method takes it.

The page only chooses and draws: mtlcore.teaching runs the methods (the registry's own `aggregate` and
`combine`, the code training runs) and caches every result on disk, so a set computed once redraws
at once, and the step slider only re-slices arrays. Each chart's Play button animates the run in
the browser (Plotly frames), without a rerun of this script. Long computations run in a background
thread of this server (never in the script thread, which a widget change would stop), which fans
them out to worker processes; a fragment shows their progress and reruns the page when they are done.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.shared import catalog, widgets
from dashboard.shared.state import page_guard
from dashboard.teaching import charts as toy_charts
from dashboard.train import forms
from mtlcore import teaching as toy

DEFAULT_METHODS = ("ew", "mgda", "pcgrad", "cagrad", "nash_mtl")
LR_CHOICES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2)
IMBALANCE_CHOICES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
SYNC_BELOW_S = 1.5  # runs estimated shorter than this are computed right in the page run
POLL_S = 0.5

K_METHODS, K_STARTS, K_OWN, K_STEPS, K_LR, K_IMB = ("toy_methods", "toy_starts", "toy_own", "toy_steps", "toy_lr",
                                                     "toy_imbalance")
OWNER = "toy"  # prefix of the generated method-parameter widgets (not the Train page's)


@dataclass
class Job:
    """A computation running in a background thread; the page only reads these fields."""

    key: str
    fraction: float = 0.0
    message: str = "starting..."
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[dict[str, Job], threading.Lock]:
    """Jobs by configuration, shared by every tab (two tabs asking for the same set share one job)."""
    return {}, threading.Lock()


@st.cache_resource(show_spinner=False)
def _warm_workers() -> bool:
    """Start the toy's worker processes once per server, so the first long run starts at once."""
    toy.warm_up()
    return True


def read_params(method: dict[str, Any]) -> dict[str, Any]:
    """The method's settings from its generated widgets, validated by the core's own rules."""
    out: dict[str, Any] = {}
    for spec in method["params"]:
        raw = st.session_state.get(forms.param_key(OWNER, method["name"], spec["name"]), forms.widget_default(spec))
        value = forms.parse_floats(str(raw)) if spec["kind"] == "floats" else raw
        if value is not None:
            out[spec["name"]] = value
    return catalog.resolve(method["params"], out, f"{method['title']} settings")


def config_key(specs: list[tuple[str, dict[str, Any]]], starts: list[tuple[float, float]], steps: int, lr: float,
               imbalance: float) -> str:
    text = json.dumps([specs, starts, steps, lr, imbalance], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run(job: Job, specs: list[tuple[str, dict[str, Any]]], starts: list[tuple[float, float]], steps: int,
         lr: float, imbalance: float) -> None:
    """Thread body: never touches st.*; results land in the toy's disk cache."""
    def report(fraction: float, message: str) -> None:
        job.fraction, job.message = fraction, message

    try:
        toy.simulate(specs, starts, steps=steps, lr=lr, imbalance=imbalance, progress=report)
    except Exception as exc:  # noqa: BLE001  shown on the page, which must survive it
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        job.seconds = time.perf_counter() - job.started
        job.done = True


def start_job(key: str, specs: list[tuple[str, dict[str, Any]]], starts: list[tuple[float, float]], steps: int,
              lr: float, imbalance: float) -> Job:
    jobs, lock = _jobs()
    with lock:
        job = jobs.get(key)
        if job is None or job.done:
            job = Job(key)
            jobs[key] = job
            threading.Thread(target=_run, args=(job, specs, starts, steps, lr, imbalance), daemon=True,
                             name=f"toy-{key}").start()
    return job


def running_job(key: str) -> Job | None:
    jobs, lock = _jobs()
    with lock:
        return jobs.get(key)


# -- the page ----------------------------------------------------------------------------------------
def controls(methods: list[dict[str, Any]]) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[float, float]],
                                                    int, float, float]:
    names = [m["name"] for m in methods]
    titles = {m["name"]: m["title"] for m in methods}
    c1, c2 = st.columns([3, 2])
    chosen = c1.multiselect("Methods", names, default=[n for n in DEFAULT_METHODS if n in names], key=K_METHODS,
                            format_func=lambda n: titles.get(n, n),
                            help="Every registered method; each runs with the same code as real training")
    paper = [toy.start_label(p) for p in toy.PAPER_STARTS]
    picked = c2.multiselect("Start points (the papers' five)", paper, default=paper, key=K_STARTS)
    own = c2.text_input("Your own start points", "", key=K_OWN, placeholder="x1, x2; x1, x2",
                        help="Points separated by ';', e.g. '5, 5; -2, 8'")
    c1, c2, c3 = st.columns(3)
    steps = int(c1.number_input("Adam steps", min_value=10, max_value=200_000, value=toy.PAPER_STEPS, step=5000,
                                key=K_STEPS,
                                help="The Nash-MTL paper runs 35,000 steps; far fewer stop short of the front. "
                                     "The CAGrad paper runs 100,000: CAGrad then reaches the "
                                     "front from (-8.5, 7.5) and (9, 9) too"))
    lr = c2.select_slider("Learning rate", LR_CHOICES, value=toy.PAPER_LR, key=K_LR, format_func=lambda v: f"{v:g}")
    imbalance = c3.select_slider("Scale on L1 (imbalance)", IMBALANCE_CHOICES, value=toy.NASH_IMBALANCE, key=K_IMB,
                                 help="L1 is multiplied by this: 0.1 is the Nash-MTL paper's variant, "
                                      "1 the CAGrad paper's")
    with st.expander("Method settings"):
        any_param = False
        for name in chosen:
            entry = next(m for m in methods if m["name"] == name)
            if entry["params"]:
                any_param = True
                st.markdown(f"**{entry['title']}**")
                for spec in entry["params"]:
                    widgets.param_widget(spec, forms.param_key(OWNER, name, spec["name"]))
        if not any_param:
            st.caption("The chosen methods have no settings.")
    specs = [(name, read_params(next(m for m in methods if m["name"] == name))) for name in chosen]
    starts = [p for p, label in zip(toy.PAPER_STARTS, paper) if label in (picked or [])] + toy.parse_points(own)
    return specs, starts, steps, float(lr), float(imbalance)


def is_default(specs: list[tuple[str, dict[str, Any]]], starts: list[tuple[float, float]], steps: int, lr: float,
               imbalance: float) -> bool:
    """The page's opening choice (the papers' five methods, starts and settings), computed without a click
    when worker processes are available, so a first visit shows it within seconds."""
    defaults = [(name, read_params(catalog.method(name))) for name in DEFAULT_METHODS if name in
                {m["name"] for m in catalog.methods()}]
    return (specs == defaults and starts == list(toy.PAPER_STARTS) and steps == toy.PAPER_STEPS
            and lr == toy.PAPER_LR and imbalance == toy.NASH_IMBALANCE)


def summary_table(runs: list[toy.Trajectories], titles: dict[str, str]) -> pd.DataFrame:
    table = toy.reach_table(runs, mark=lambda d, ok: f"{'✓' if ok else '✗'} {d:.3f}")
    table.index = [titles.get(name, name) for name in table.index]
    table.index.name = "method"
    return table


def results(runs: list[toy.Trajectories], imbalance: float, registry: list[str], titles: dict[str, str]) -> None:
    steps = runs[0].total_steps
    st.markdown("##### Which start reaches the Pareto front")
    st.caption(f"Distance of the final point to the Pareto set (x2 = {toy.PARETO_X2}, x1 in [-7, 7]); "
               f"✓ within {toy.REACHED}. The set is the papers' approximation: minima of weighted sums lie within "
               "about 0.06 of it.")
    table = summary_table(runs, titles)
    st.dataframe(table.style.map(lambda v: "color: #2e7d32" if str(v).startswith("✓") else
                                 ("color: #c62828" if str(v).startswith("✗") else "")),
                 width="stretch")
    step = st.slider("Step", 0, steps, value=steps, step=max(steps // 1000, 1), key=f"toy_step_{steps}",
                     help="Draws the paths up to this step (every 1/1000 of the run is recorded); the Play "
                          "button on each chart animates the whole run in the browser instead")
    upto = runs[0].at_step(step)
    st.plotly_chart(toy_charts.landscape_figure(runs, upto, imbalance, registry, titles), key="toy_landscape",
                    width="stretch")
    st.plotly_chart(toy_charts.loss_space_figure(runs, upto, imbalance, registry, titles), key="toy_loss_space",
                    width="stretch")
    note = toy_charts.animation_caption(runs, upto)
    if note:
        st.caption(note)
    took = max(r.seconds for r in runs)
    where = "from the cache" if all(r.cached for r in runs) else "just computed"
    st.caption(f"{len(runs)} method(s) x {runs[0].starts.shape[0]} start(s) x {steps:,} Adam steps "
               f"(lr {runs[0].lr:g}), {where}; computing took {took:.1f} s.")


def progress_panel(key: str) -> None:
    job = running_job(key)
    if job is None:
        return
    if job.done:
        if job.error:
            st.error(f"The computation failed: {job.error}", icon=":material/error:")
            return
        st.rerun()  # the results are in the cache now
    elapsed = time.perf_counter() - job.started
    st.progress(min(max(job.fraction, 0.0), 1.0),
                text=f"Computing... {100 * job.fraction:.0f}% ({job.message}, {elapsed:.0f} s)")


def page() -> None:
    st.markdown("### :material/landscape: Loss landscape: where each method goes")
    st.markdown(
        "The two-objective toy of the CAGrad (Liu et al. 2021) and Nash-MTL (Navon et al. 2022) papers. "
        "Each method starts from the same points and takes Adam steps along its own combined direction; "
        "the black segment is the Pareto set, where neither loss can fall without the other rising.")
    methods = list(catalog.methods())
    registry = [m["name"] for m in methods]
    titles = {m["name"]: m["title"] for m in methods}
    specs, starts, steps, lr, imbalance = controls(methods)
    st.caption("At (0, 0) both gates c1 = max(tanh(x2/2), 0) and c2 = max(tanh(-x2/2), 0) sit at 0. The papers' "
               "code takes them with `torch.clamp`, whose slope at its bound was 1 from 2018 until PyTorch 2.14 "
               "(the papers' runs leave (0, 0)) and is 0 since 2.14 (every gradient vanishes and no method "
               "moves). Here the slope at a tie is split in half, as torch.maximum does: a convention of ours, "
               "under which both losses point down along x2 at (0, 0) and every method leaves it.")
    if not specs:
        st.info("Pick at least one method.", icon=":material/info:")
        return
    for spec in specs:
        caveat = toy.toy_caveat(spec)
        if caveat:
            st.caption(f":material/info: **{titles.get(spec[0], spec[0])}** {caveat}.")
    if not starts:
        st.info("Pick at least one start point.", icon=":material/info:")
        return
    runs = toy.cached_runs(specs, starts, steps, lr, imbalance)
    if runs is not None:
        results(runs, imbalance, registry, titles)
        return
    key = config_key(specs, starts, steps, lr, imbalance)
    job = running_job(key)
    if job is None and is_default(specs, starts, steps, lr, imbalance) and toy.worker_limit() > 1:
        job = start_job(key, specs, starts, steps, lr, imbalance)  # the papers' set: start it at once
    if job is not None and not job.done:
        st.fragment(run_every=POLL_S)(progress_panel)(key)
        return
    if job is not None and job.error:
        st.error(f"The last computation failed: {job.error}", icon=":material/error:")
    estimate = toy.estimated_seconds(specs, len(starts), steps)
    if estimate >= SYNC_BELOW_S:
        _warm_workers()
    st.caption(f"Not computed yet. Estimated {estimate:.1f} s of compute in one process "
               "(long runs are split over two worker processes); the result is then kept.")
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="toy_run"):
        if estimate < SYNC_BELOW_S:
            bar = st.progress(0.0, text="Computing...")
            runs = toy.simulate(specs, starts, steps=steps, lr=lr, imbalance=imbalance, workers=1,
                                progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Computing... {m}"))
            bar.empty()
            results(runs, imbalance, registry, titles)
        else:
            start_job(key, specs, starts, steps, lr, imbalance)
            st.rerun()


with page_guard("the Landscape page"):
    page()
