"""Landscape: the CAGrad / Nash-MTL two-objective toy, and where each weighting method takes it.

The page only chooses and draws: mtlcore.teaching runs the methods (the registry's own `aggregate` and
`combine`, the code training runs) in its worker processes (this server never imports torch) and
caches every trajectory on disk, one file per method and start, so a set computed once redraws at
once and a start or method added to a shown set computes only itself (small additions right away).
Built figures are kept per (runs, step, detail), so a rerun does not rebuild them; they open light
(fewer points and frames) with full detail on demand. Each chart's Play button animates the run in
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
K_PROTOCOL, K_DETAIL = "toy_protocol", "toy_detail"
# every preset's starts, the Nash-MTL paper's five first
PRESET_STARTS = tuple(dict.fromkeys(p for proto in toy.PROTOCOLS.values() for p in proto.starts))
FIGURES_KEPT = 24  # built figure pairs kept per server (a step slider visits a few dozen)
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


def protocol_default(method: str, spec: dict[str, Any]) -> Any:
    """A method setting's starting value: the chosen paper's (CAGrad's c = 0.5 in its protocol), else its own."""
    chosen = toy.protocol(st.session_state.get(K_PROTOCOL, toy.NASH_MTL.name))
    value = chosen.params_for(method).get(spec["name"])
    return forms.widget_default(spec) if value is None else value


def apply_protocol() -> None:
    """The protocol selector's callback: its starts, steps, learning rate, scale and method settings."""
    chosen = toy.protocol(st.session_state[K_PROTOCOL])
    st.session_state[K_STARTS] = [toy.start_label(p) for p in chosen.starts]
    st.session_state[K_STEPS] = chosen.steps
    st.session_state[K_LR] = chosen.lr
    st.session_state[K_IMB] = chosen.imbalance
    named = {(m, name) for proto in toy.PROTOCOLS.values() for m, params in proto.method_params.items()
             for name in params}
    for method, name in named:  # a setting another paper fixed goes back to this paper's (or its default)
        spec = next(p for p in catalog.method(method)["params"] if p["name"] == name)
        st.session_state[forms.param_key(OWNER, method, name)] = protocol_default(method, spec)


def read_params(method: dict[str, Any]) -> dict[str, Any]:
    """The method's settings from its generated widgets, validated by the core's own rules."""
    out: dict[str, Any] = {}
    for spec in method["params"]:
        raw = st.session_state.get(forms.param_key(OWNER, method["name"], spec["name"]),
                                   protocol_default(method["name"], spec))
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
    titles = catalog.titles(methods)
    st.selectbox("Protocol", list(toy.PROTOCOLS), key=K_PROTOCOL, on_change=apply_protocol,
                 format_func=lambda n: f"{toy.PROTOCOLS[n].title}: {toy.PROTOCOLS[n].note}",
                 help="The two papers ran the same toy differently; choosing one sets its starts, steps, "
                      "learning rate, scale on L1 and the method settings it fixed (all still editable)")
    c1, c2 = st.columns([3, 2])
    chosen = c1.multiselect("Methods", names, default=[n for n in DEFAULT_METHODS if n in names], key=K_METHODS,
                            format_func=lambda n: titles.get(n, n),
                            help="Every registered method; each runs with the same code as real training")
    paper = [toy.start_label(p) for p in PRESET_STARTS]
    picked = c2.multiselect("Start points (the papers')", paper, default=[toy.start_label(p) for p in toy.PAPER_STARTS],
                            key=K_STARTS)
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
                    widgets.param_widget({**spec, "default": protocol_default(name, spec)},
                                         forms.param_key(OWNER, name, spec["name"]))
        if not any_param:
            st.caption("The chosen methods have no settings.")
    specs = [(name, read_params(next(m for m in methods if m["name"] == name))) for name in chosen]
    starts = [p for p, label in zip(PRESET_STARTS, paper) if label in (picked or [])] + toy.parse_points(own)
    return specs, starts, steps, float(lr), float(imbalance)


def is_default(specs: list[tuple[str, dict[str, Any]]], starts: list[tuple[float, float]], steps: int, lr: float,
               imbalance: float) -> bool:
    """A preset's own setup (the five methods, the chosen paper's starts and settings), computed without a
    click when worker processes are available, so a first visit shows it within seconds."""
    chosen = toy.protocol(st.session_state.get(K_PROTOCOL, toy.NASH_MTL.name))
    defaults = [(name, read_params(catalog.method(name))) for name in DEFAULT_METHODS if name in
                {m["name"] for m in catalog.methods()}]
    return (specs == defaults and starts == list(chosen.starts) and steps == chosen.steps
            and lr == chosen.lr and imbalance == chosen.imbalance)


def summary_table(runs: list[toy.Trajectories], titles: dict[str, str]) -> pd.DataFrame:
    table = toy.reach_table(runs, mark=lambda d, ok: f"{'✓' if ok else '✗'} {d:.3f}")
    table.index = [titles.get(name, name) for name in table.index]
    table.index.name = "method"
    return table


@st.cache_resource(show_spinner=False, max_entries=FIGURES_KEPT)
def _built(key: str, _runs: list[toy.Trajectories], upto: int, imbalance: float, _registry: list[str],
           _titles: dict[str, str], detail: toy_charts.Detail, dark: bool) -> tuple[Any, Any]:
    """Both figures of one (runs, step, detail, theme), built once per server (`key` names the runs;
    shared, never mutated: st.plotly_chart copies a figure before sending it)."""
    return (toy_charts.landscape_figure(_runs, upto, imbalance, _registry, _titles, detail=detail, dark=dark),
            toy_charts.loss_space_figure(_runs, upto, imbalance, _registry, _titles, detail=detail, dark=dark))


def figures(runs: list[toy.Trajectories], upto: int, imbalance: float, registry: list[str], titles: dict[str, str],
            detail: toy_charts.Detail) -> tuple[Any, Any]:
    """The landscape and loss-space figures, from the server's cache when these runs were drawn before."""
    key = config_key([(r.method, r.params) for r in runs], [tuple(map(float, p)) for p in runs[0].starts],
                     runs[0].total_steps, runs[0].lr, imbalance)
    return _built(f"{key}:{runs[0].seed}:{len(registry)}", runs, upto, imbalance, registry, titles, detail,
                  st.context.theme.type == "dark")


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
    full = st.toggle("Full detail", value=False, key=K_DETAIL,
                     help=f"Draw each path with up to {toy_charts.FULL.points} points and animate up to "
                          f"{toy_charts.FULL.frames} frames (default: {toy_charts.LIGHT.points} points and "
                          f"{toy_charts.LIGHT.frames} frames, a page the browser draws sooner)")
    detail = toy_charts.FULL if full else toy_charts.LIGHT
    upto = runs[0].at_step(step)
    landscape, loss_space = figures(runs, upto, imbalance, registry, titles, detail)
    st.plotly_chart(landscape, key="toy_landscape", width="stretch")
    st.plotly_chart(loss_space, key="toy_loss_space", width="stretch")
    note = toy_charts.animation_caption(runs, upto, detail)
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
    titles = catalog.titles(methods)
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
    request = toy.plan(specs, starts, steps, lr, imbalance)
    runs = request.runs()
    if runs is not None:
        results(runs, imbalance, registry, titles)
        return
    key = config_key(specs, starts, steps, lr, imbalance)
    job = running_job(key)
    if job is None and toy.worker_limit() > 1 and is_default(specs, starts, steps, lr, imbalance):
        job = start_job(key, specs, starts, steps, lr, imbalance)  # a preset's own set: start it at once
    if job is not None and not job.done:
        st.fragment(run_every=POLL_S)(progress_panel)(key)
        return
    missing = request.missing()
    # a shown set grown by a start or a method: compute the new trajectories without a click
    partial = len(missing) < len(specs) or any(len(m.slots) < len(starts) for m in missing)
    estimate = toy.missing_seconds(request)
    if partial and (job is None or not job.error):
        if estimate / max(min(toy.worker_limit(), len(missing)), 1) < SYNC_BELOW_S:
            bar = st.progress(0.0, text="Computing the new trajectories...")
            runs = toy.complete(request, progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Computing... {m}"))
            bar.empty()
            results(runs, imbalance, registry, titles)
            return
        start_job(key, specs, starts, steps, lr, imbalance)
        st.rerun()
    if job is not None and job.error:
        st.error(f"The last computation failed: {job.error}", icon=":material/error:")
    if estimate >= SYNC_BELOW_S:
        _warm_workers()
    st.caption(f"Not computed yet. Estimated {estimate:.1f} s of compute in one process "
               "(long runs are split over two worker processes); the result is then kept.")
    if st.button("Run", type="primary", icon=":material/play_arrow:", key="toy_run"):
        if estimate < SYNC_BELOW_S:
            bar = st.progress(0.0, text="Computing...")
            runs = toy.complete(request, workers=1,
                                progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Computing... {m}"))
            bar.empty()
            results(runs, imbalance, registry, titles)
        else:
            start_job(key, specs, starts, steps, lr, imbalance)
            st.rerun()


with page_guard("the Landscape page"):
    page()
