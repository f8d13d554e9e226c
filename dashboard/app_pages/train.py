"""Train: choose data, tasks, weights, model and optimiser on the left; watch the run stream on the right.

Thin by design: what the widgets mean is in dashboard.train.forms, the presets in dashboard.train.presets, the
figures in dashboard.shared.charts and the live reading in dashboard.shared.live. Training happens in a worker
process started by mtlcore.runs.executor; this page only reads the run store.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

import streamlit as st

from dashboard.shared import catalog, charts, live, ownership, present, widgets
from dashboard.shared.live_chart import live_chart
from dashboard.shared.state import page_guard, prepare_worker, start_run, store, watch, watched_run, worker_ready
from dashboard.shared.text import md_code, md_escape
from dashboard.shared.wrap import wrapping_row
from dashboard.train import external, forms, preset_bar, run_setup
from mtlcore import naming
from mtlcore.config import MAX_EPOCHS, MAX_STEPS, SEED_MAX
from mtlcore.runs import executor
from mtlcore.runs.queue import max_concurrent

LIVE_REFRESH_S = 1.0  # the issue asks for at least one redraw a second; each costs the browser ~0.5 s of CPU
HIGH_LR = 0.1  # from here on a warning says the run may diverge
STOP_GRACE_S = 10.0  # a run that ignores its stop request this long is killed (its points stay)
SHOWN = "_shown_run"  # the run the live panel shows (the URL's, or the newest active one)
BUFFERS = "_metric_buffers"
TRAIN_ERROR = "_train_error"
FIRST_POINTS_WAIT_S = 2.0  # after Train, the page waits this long at most to draw with the first points


# -- callbacks (run before the script, so they may set widget values) ----------------------------
def dataset_changed() -> None:
    st.session_state[forms.TASKS] = forms.default_tasks(st.session_state[forms.DATASET])


def push_live_weights() -> None:
    """A slider moved: if the shown run trains with static weights on these tasks, steer it now."""
    rid = st.session_state.get(SHOWN)
    if not rid:
        return
    s = store()
    run = s.get_run(rid)
    if not run or run["status"] not in live.ACTIVE or run["method"] != forms.STATIC:
        return
    if not ownership.can_control(run):  # someone else's run: watching only
        return
    if not sliders_drive(run):
        return
    weights = forms.live_weights(st.session_state, list(run["tasks"]))
    if weights is not None:
        before = s.read_control(rid)[1]
        s.set_live_weights(rid, weights)
        # a run steered mid-run says so in its name ("static 1/15→1/1"), unless the user named it
        steered = naming.steered_name(run["name"], run["config"], before, weights, forms.dataset_title)
        if steered:
            s.rename(rid, steered)


def sliders_drive(run: dict[str, Any]) -> bool:
    """The sliders on screen steer this run: same data set and every one of its tasks has a slider."""
    state = st.session_state
    dataset = state.get(forms.DATASET, forms.DEFAULTS[forms.DATASET])
    shown = set(state.get(forms.TASKS, forms.default_tasks(dataset)) or [])
    return (dataset == run["dataset"] and state.get(forms.METHOD, forms.STATIC) == forms.STATIC
            and set(run["tasks"]) <= shown)


def start_training() -> None:
    """The Train button's callback: it runs before the page redraws, so the worker starts at once."""
    try:
        config, problems = forms.config_from_values(st.session_state)
        if config is None:
            st.session_state[TRAIN_ERROR] = " ".join(p.message for p in problems)
            return
        rid = start_run(config, owner=ownership.session_owner())
    except Exception as exc:  # noqa: BLE001  shown under the button, never as a traceback
        st.session_state[TRAIN_ERROR] = f"The run could not start: {exc}"
        return
    watch(rid)
    st.session_state[SHOWN] = rid
    st.toast(f"Started {md_escape(config.name)}", icon=":material/rocket_launch:")
    live.wait_for_first_points(store(), rid, FIRST_POINTS_WAIT_S)


def stop_run(rid: str) -> None:
    s = store()
    run = s.get_run(rid)
    if run is None or not ownership.can_control(run):  # the button is disabled; a stale click is refused
        return
    s.request_stop(rid)  # the trainer sees this within 0.1 s
    run = s.get_run(rid)
    if run is not None and live.external_note(run):
        return  # a user's own script: it reads the request (stop_requested); we never kill it
    threading.Thread(target=executor.stop, args=(s, rid, STOP_GRACE_S), daemon=True,
                     name=f"stop-{rid}").start()


# -- the setup column ----------------------------------------------------------------------------
def _sharing(arch: dict[str, Any]) -> str:
    """What an architecture offers gradient-based methods, from its registry metadata."""
    if not arch.get("shares_parameters", True):
        return "shares no parameters (loss-based methods only)"
    if not arch.get("has_representation", True):
        return "shared parameters, no single shared representation"
    return "shared parameters and representation"


def number_bind(key: str) -> str | None:
    """The URL binding of a number widget whose link value passes the config's rule for its field."""
    return widgets.url_bind(key, lambda raw: forms.field_value(key, raw))


@contextmanager
def options(label: str, key: str, slots: dict[str, Any], hidden: dict[str, str],
            help_text: str | None = None) -> Iterator[None]:
    """A popover for the setup's secondary settings. Its widgets are drawn only when it opens (they
    keep their values and URL either way): as expanders, their ~15 inputs were a third of the page's
    time to open. The message slots made inside are noted in `hidden`, so a problem with one of its
    widgets is also said above Train."""
    before = set(slots)
    with st.popover(label, key=key, width="stretch", help=help_text):
        yield
    hidden.update({k: label for k in slots if k not in before})


def setup_column(sliders: bool = True) -> forms.Setup | None:
    """The setup widgets; `sliders` False: not the weight sliders (presenter mode draws them above the charts)."""
    slots: dict[str, Any] = {}
    hidden: dict[str, str] = {}  # slot key -> the popover it is in
    ds_list = catalog.datasets()
    names = [d["name"] for d in ds_list]
    titles = catalog.titles(ds_list)  # the label is also the URL's value: no state in it
    if st.session_state.get(forms.DATASET) not in (None, *names):
        st.session_state[forms.DATASET] = forms.DEFAULTS[forms.DATASET]

    st.markdown("##### :material/dataset: Data")
    widgets.url_choice(forms.DATASET, names, titles.get)
    dataset = st.selectbox("Data set", names, index=names.index(forms.DEFAULTS[forms.DATASET]),
                           key=forms.DATASET, format_func=titles.get, on_change=dataset_changed,
                           bind=widgets.BIND)
    entry = catalog.dataset(dataset)
    st.caption(md_escape(entry["summary"]))
    slots[forms.DATASET] = st.empty()
    problems_by_key: dict[str, str] = {}
    if entry["params"]:
        with options("Data set options", "dataset_options", slots, hidden):
            for spec in entry["params"]:
                key = forms.param_key("d", dataset, spec["name"])
                widgets.param_widget(spec, key)
                slots[key] = st.empty()

    all_tasks = catalog.task_names(dataset)
    chosen = st.session_state.get(forms.TASKS)
    if chosen is not None and any(t not in all_tasks for t in chosen):
        st.session_state[forms.TASKS] = [t for t in chosen if t in all_tasks]
    kinds = {t["name"]: t["kind"] for t in entry["tasks"]}
    tasks = st.multiselect("Tasks", all_tasks, default=forms.default_tasks(dataset), key=forms.TASKS,
                           bind=widgets.BIND,
                           help="The tasks this run learns together; each gets a head on the shared model. "
                                + md_escape("; ".join(f"{t}: {k}" for t, k in kinds.items())))
    slots[forms.TASKS] = st.empty()
    tasks = [t for t in all_tasks if t in (tasks or [])]

    st.markdown("##### :material/tune: Weighting")
    m_list = catalog.methods()
    m_names = [m["name"] for m in m_list]
    m_titles = catalog.titles(m_list)
    widgets.url_choice(forms.METHOD, m_names, lambda n: m_titles.get(n, n))
    method = st.selectbox("Method", m_names, index=m_names.index(forms.STATIC), key=forms.METHOD,
                          format_func=lambda n: m_titles.get(n, n), bind=widgets.BIND)
    m_entry = catalog.method(method)
    st.caption(m_entry["summary"])
    if method == forms.STATIC:
        watching = watched_not_owned()
        if watching:
            st.caption(":material/lock: The sliders are locked while you watch another browser's run "
                       "(only its owner or the teacher may steer it).")
        for t in tasks if sliders else []:
            widgets.weight_slider(t, charts.task_colour(t, all_tasks), push_live_weights, disabled=watching)
            slots[forms.weight_key(t)] = st.empty()
        slots[forms.WEIGHTS] = st.empty()
    else:
        hint = md_escape(f"one value per task, in this order: {', '.join(tasks)}") if tasks else ""
        for spec in m_entry["params"]:
            key = forms.param_key("m", method, spec["name"])
            widgets.param_widget(spec, key, hint)
            slots[key] = st.empty()
        if m_entry.get("kind") == "gradient":
            st.selectbox("Gradients taken on", list(forms.GRADIENT_MODES), key=forms.GRADIENTS,
                         bind=widgets.BIND,
                         help="parameters: the shared parameters; representation: the shared "
                              "representation (cheaper); auto: the method's own choice")
            slots[forms.GRADIENTS] = st.empty()
            widgets.param_widget(forms.heads_spec(), forms.HEADS)
            slots[forms.HEADS] = st.empty()

    st.markdown("##### :material/account_tree: Model")
    a_list = catalog.architectures()
    a_names = [a["name"] for a in a_list]
    a_titles = catalog.titles(a_list)
    # a method this architecture cannot serve is refused under it (or under "Gradients taken on")
    widgets.url_choice(forms.ARCH, a_names, lambda n: a_titles.get(n, n))
    arch = st.selectbox("Architecture", a_names, index=a_names.index(forms.DEFAULTS[forms.ARCH]),
                        key=forms.ARCH, format_func=lambda n: a_titles.get(n, n), bind=widgets.BIND,
                        help="Gradient-based methods need parameters shared by the tasks, some a single "
                             "shared representation: " + "; ".join(
                                 f"{a['title']}: {_sharing(a)}" for a in a_list))
    slots[forms.ARCH] = st.empty()
    a_entry = catalog.architecture(arch)
    with options("Architecture options", "arch_options", slots, hidden):
        st.caption(a_entry["summary"])
        for spec in a_entry["params"]:
            key = forms.param_key("a", arch, spec["name"])
            widgets.param_widget(spec, key)
            slots[key] = st.empty()

    st.markdown("##### :material/speed: Optimisation")
    widgets.url_choice(forms.LR, forms.LR_CHOICES, lambda v: f"{v:g}")
    st.select_slider("Learning rate", list(forms.LR_CHOICES), value=forms.DEFAULTS[forms.LR], key=forms.LR,
                     format_func=lambda v: f"{v:g}", bind=widgets.BIND)
    slots[forms.LR] = st.empty()
    if float(st.session_state.get(forms.LR, forms.DEFAULTS[forms.LR])) >= HIGH_LR:
        st.caption(":material/warning: A learning rate this high often diverges; if it does, the run "
                   "stops and says which task's loss blew up, and at which step.")
    st.number_input("Epochs", min_value=0.1, max_value=float(MAX_EPOCHS), value=forms.DEFAULTS[forms.EPOCHS],
                    step=1.0, format="%g", key=forms.EPOCHS, bind=number_bind(forms.EPOCHS))
    slots[forms.EPOCHS] = st.empty()
    st.toggle("Train until I press Stop", key=forms.UNTIL_STOPPED, value=False, bind=widgets.BIND,
              help="for a class: the run goes on (epochs ignored) while you talk and drag the weight "
                   "sliders; the Stop button above the charts ends it")
    with options("More settings", "more_options", slots, hidden,
                 help_text="Optimizer, batch size, seed and device; regularisation and augmentation; how often "
                           "to validate and to measure gradient conflict"):
        optimiser_widgets(slots)
        st.markdown("**Regularisation and augmentation**")
        regularisation_widgets(slots)
        st.markdown("**Measurements**")
        st.number_input("Validate every N steps (0: once per epoch)", min_value=0, max_value=MAX_STEPS,
                        value=forms.DEFAULTS[forms.EVAL_EVERY], step=5, key=forms.EVAL_EVERY,
                        bind=number_bind(forms.EVAL_EVERY))
        st.number_input("Measure gradient conflict every N steps (0: never)", min_value=0, max_value=MAX_STEPS,
                        value=forms.DEFAULTS[forms.GRAD_EVERY], step=1, key=forms.GRAD_EVERY,
                        bind=number_bind(forms.GRAD_EVERY),
                        help="each measurement costs one backward pass per task")

    setup = forms.read_setup(st.session_state)
    problems = forms.check(setup)
    for p in problems:
        problems_by_key.setdefault(p.key, p.message)
    train_slot = st.container()
    for message in widgets.ignored_url_values():
        train_slot.warning(md_escape(message), icon=":material/link_off:")
    for key, message in problems_by_key.items():
        target = slots.get(key)
        if key in hidden:  # said under the widget, in its popover, and above Train
            train_slot.error(md_escape(f"{hidden[key]}: {message}"), icon=":material/block:")
        if key == forms.DATASET and target is not None:
            target.warning(md_escape(f"This data set cannot load here. {message}"), icon=":material/download:")
        elif target is not None:
            target.error(md_escape(message), icon=":material/block:")
        else:
            train_slot.error(md_escape(message), icon=":material/block:")
    st.button("Train", type="primary", icon=":material/play_arrow:", width="stretch",
              disabled=bool(problems), key="train_button", on_click=start_training)
    failed = st.session_state.pop(TRAIN_ERROR, None)
    if failed:
        st.error(md_escape(failed), icon=":material/block:")
    ready = worker_ready()
    if ready is True or (ready is False and store().list_runs(status=list(live.ACTIVE)).empty):
        st.caption(":material/bolt: A worker is warmed up: a run starts at once." if ready else
                   ":material/hourglass_top: A worker is warming up (PyTorch loads once); a run started "
                   "now begins as soon as it is ready.")
    st.caption(":material/link: The address bar holds this whole setup: copy it to share or bookmark it.")
    return setup


def optimiser_widgets(slots: dict[str, Any]) -> None:
    """The run's settings a lesson rarely changes (the learning rate and epochs stay in view)."""
    st.markdown("**Optimizer, batch size, seed, device**")
    c1, c2 = st.columns(2)
    c1.selectbox("Optimizer", list(forms.OPTIMIZERS), key=forms.OPTIMIZER, bind=widgets.BIND)
    c2.number_input("Seed", min_value=0, max_value=SEED_MAX, value=forms.DEFAULTS[forms.SEED], step=1,
                    key=forms.SEED, bind=number_bind(forms.SEED))
    widgets.url_choice(forms.BATCH, forms.BATCH_CHOICES, str)
    st.select_slider("Batch size", list(forms.BATCH_CHOICES), value=forms.DEFAULTS[forms.BATCH],
                     key=forms.BATCH, bind=widgets.BIND)
    st.selectbox("Device", list(forms.DEVICES), key=forms.DEVICE, bind=widgets.BIND,
                 help="auto picks CUDA, then Apple MPS, then the CPU")
    slots[forms.DEVICE] = st.empty()
    if st.session_state.get(forms.DEVICE, "auto") == "auto":
        st.caption(f"Device auto: this machine trains on **{catalog.auto_device()}**.")


def regularisation_widgets(slots: dict[str, Any]) -> None:
    """Weight decay (L2) and the training images' random crop, flip and turn (dropout is an
    architecture option). Augmentation draws its randomness from the run's seed."""
    st.select_slider("Weight decay (L2)", list(forms.WEIGHT_DECAY_CHOICES), value=forms.DEFAULTS[forms.WEIGHT_DECAY],
                     key=forms.WEIGHT_DECAY, format_func=lambda v: f"{v:g}", bind=widgets.BIND,
                     help="the optimiser's weight_decay; Adam adds it to the gradient (L2), as torch does")
    c1, c2 = st.columns(2)
    c1.number_input("Random crop: padding (px, 0 off)", min_value=0, max_value=16, step=1,
                    value=forms.DEFAULTS[forms.AUG_CROP], key=forms.AUG_CROP, bind=widgets.BIND,
                    help="pad each image by this many pixels, then cut the original size at a random place")
    c2.number_input("Random turn: up to (degrees, 0 off)", min_value=0, max_value=180, step=5,
                    value=forms.DEFAULTS[forms.AUG_ROTATION], key=forms.AUG_ROTATION, bind=widgets.BIND)
    st.checkbox("Random left-right flip", value=forms.DEFAULTS[forms.AUG_FLIP], key=forms.AUG_FLIP,
                bind=widgets.BIND, help="wrong where labels name left and right (Multi-MNIST, Multi-Fashion)")
    for key in (forms.AUG_CROP, forms.AUG_ROTATION, forms.AUGMENT):
        slots[key] = st.empty()


# -- the live column -----------------------------------------------------------------------------
def shown_run_id(active: Any) -> str | None:
    """The URL's run, else this browser's newest active run; never someone else's run unasked
    (a fresh tab would otherwise offer its sliders and Stop on a stranger's run)."""
    rid = watched_run()
    if rid:
        return rid
    mine = ownership.session_owner()
    own = active[active["owner"] == mine] if "owner" in active.columns else active.iloc[0:0]
    return str(own.iloc[0]["id"]) if not own.empty else None


def watched_not_owned() -> bool:
    """The live panel shows an active run this session may not steer."""
    rid = st.session_state.get(SHOWN)
    run = store().get_run(rid) if rid else None
    return run is not None and run["status"] in live.ACTIVE and not ownership.can_control(run)


def buffer_for(rid: str) -> live.MetricsBuffer:
    buffers: dict[str, live.MetricsBuffer] = st.session_state.setdefault(BUFFERS, {})
    if rid not in buffers:
        for old in list(buffers)[:-3]:  # keep a few, so switching back is instant
            del buffers[old]
        buffers[rid] = live.MetricsBuffer(rid)
    return buffers[rid]


def live_panel(interval: float | None) -> None:
    with page_guard("the live charts"):
        s = store()
        active = s.list_runs(status=list(live.ACTIVE))
        now_active = not active.empty
        if (interval is not None) != now_active:
            st.rerun()  # switch the refresh on or off with a full rerun
        rid = shown_run_id(active)
        if rid is None:
            st.info("No run yet. Choose a setup on the left (or a preset above) and press **Train**: "
                    "the curves stream here as the model learns."
                    + (" Runs of other browsers are listed below: **Watch** one to follow it." if now_active else ""),
                    icon=":material/monitoring:")
            st.session_state[SHOWN] = None
            # one empty chart now: the browser loads its plotting code before Train, not after (all
            # four empty charts cost ~1 s of the browser's time on every visit)
            left, _ = wrapping_row("train_charts", CHART_MIN_PX, 2)  # where the loss chart will be
            with left:
                live_chart(charts.loss_figure(charts.RunView(tasks=[], all_tasks=[], series={}), False),
                           key="chart_loss")
            if now_active:
                others(active, "")
            return
        run = s.get_run(rid)
        if run is None:
            st.warning(f"There is no run {md_code(rid)} in this database ({md_code(s.path)}).")
            watch(None)
            return
        st.session_state[SHOWN] = rid
        header(run, active)
        df = buffer_for(rid).update(s)
        steps, times = live.training_clock(df)
        prog = live.progress(run, steps, times)
        st.progress(prog.fraction, text=prog.text())
        view = live.run_view(run, df, s.events(rid, "weights_changed"))
        chart_grid(view)
        others(active, rid)


def chart_grid(view: charts.RunView) -> None:
    scale = present.CHART_SCALE if present.presenting() else 1.0
    # two charts a row where they fit, one a row in a narrow panel (titles and panels stay whole)
    left, right = wrapping_row("train_charts", CHART_MIN_PX, 2)
    with left:
        weighted = st.toggle("Show weighted losses w·L", key="weighted_losses",
                             help="the share each task has in the total loss the model minimises")
        live_chart(charts.loss_figure(view, weighted), key="chart_loss", scale=scale)
        live_chart(charts.weights_figure(view), key="chart_weights", scale=scale)
    with right:
        live_chart(charts.metric_figure(view), key="chart_metric", scale=scale)
        live_chart(charts.cosine_figure(view), key="chart_cosine", scale=scale)


def header(run: dict[str, Any], active: Any) -> None:
    rid = run["id"]
    queued = active[active["status"] == "queued"]
    running = int((active["status"] == "running").sum())
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.markdown(f"**{md_escape(run['name'] or rid)}** &nbsp; {md_code(rid)}")
    mine = ownership.can_control(run)
    if run["status"] in live.ACTIVE:
        stopping = stop_requested(rid)
        c2.button("Stopping..." if stopping else "Stop", key="stop_button", icon=":material/stop_circle:",
                  on_click=stop_run, args=(rid,), disabled=stopping or not mine, width="stretch",
                  help=None if mine else "Only the browser that started this run (or the teacher) may stop it")
    level, text = live.status_message(run, live.queue_position(queued, rid), running, max_concurrent())
    getattr(st, level)(text)
    if run["status"] in live.ACTIVE and not mine:
        st.caption(":material/visibility: You are watching a run started in another browser: its sliders "
                   "and Stop are disabled.")
    if not present.presenting():
        run_setup.load_setup_button(run)
    if note := live.external_note(run):
        st.caption(f":material/terminal: {note}")
        if mine and live.steered_by_sliders(run):
            external.weight_sliders(run, buffer_for(rid).rows)
        return
    if mine and run["status"] == "running" and run["method"] == forms.STATIC:
        if sliders_drive(run):
            st.caption(":material/touch_app: The weight sliders are live: moving one changes this run's "
                       "weights within a second (marked on the weights chart).")
        else:
            st.caption("The sliders set up the next run (the one shown has other tasks or data).")


def stop_requested(rid: str) -> bool:
    stop, _, _ = store().read_control(rid)
    return stop


def others(active: Any, shown: str) -> None:
    rest = active[active["id"] != shown]
    running = int((active["status"] == "running").sum())
    limit = max_concurrent()
    st.caption(f"{running} of {limit} training slots busy, {int((active['status'] == 'queued').sum())} queued "
               "(set MTL_MAX_CONCURRENT to change the limit).")
    for row in rest.itertuples():
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        pct = f" {100 * row.step / row.total_steps:.0f}%" if row.total_steps else ""
        mark = "⏳" if row.status == "queued" else "▶"
        c1.markdown(f"{mark} **{md_escape(naming.display_name(row.name, row.id))}** — {row.status}{pct}")
        c2.button("Watch", key=f"watch_{row.id}", on_click=watch, args=(row.id,), width="stretch")


CHART_MIN_PX = 300  # a live chart's least width: two a row at 1920 px, one a row at 1280 (a 480 px panel)
SETUP_WIDTH_PX = 310  # at 800 px with the sidebar open, too little is left beside it: the live panel wraps


def page() -> None:
    with page_guard("the shared run's setup"):
        run_setup.open_shared_run()
    if present.presenting():
        presenter_page()
        return
    st.markdown("### :material/model_training: Train")
    with page_guard("the presets"):
        preset_bar.preset_bar()
    # a row that wraps: the setup keeps a readable width, and in a narrow window (800 px with the
    # sidebar open) the live panel moves under it instead of squeezing labels into "Optimiz er"
    row = st.container(horizontal=True, gap="medium")
    setup_col, live_col = row.container(width=SETUP_WIDTH_PX), row.container(width="stretch")
    with live_col:  # drawn first: after Train, the new run's panel must not wait for the form
        active = not store().list_runs(status=list(live.ACTIVE)).empty
        interval = LIVE_REFRESH_S if active else None
        st.fragment(run_every=interval)(live_panel)(interval)
    with setup_col:
        with page_guard("the setup"):
            setup_column()
    if not active:
        with page_guard("the warm worker"):
            prepare_worker()
    widgets.finish_url_sync()


def presenter_page() -> None:
    """The live charts, large, under one row of weight sliders (a teacher steers a static run). The rest
    of the setup is drawn but hidden: undrawn, its widgets ignored a presenting link opened in a fresh
    browser (the sliders showed the default tasks) and lost their state while presenting."""
    with st.container(key=present.HIDDEN_SETUP), page_guard("the setup"):
        setup_column(sliders=False)
    setup = forms.read_setup(st.session_state)
    tasks = setup.tasks if setup.is_static else []
    cols = st.columns([3] * len(tasks) + [1], vertical_alignment="bottom")
    with cols[-1]:
        present.exit_button()
    all_tasks = catalog.task_names(setup.dataset)
    for col, t in zip(cols, tasks):
        with col, page_guard("the weight sliders"):
            widgets.weight_slider(t, charts.task_colour(t, all_tasks), push_live_weights)
    active = not store().list_runs(status=list(live.ACTIVE)).empty
    interval = LIVE_REFRESH_S if active else None
    st.fragment(run_every=interval)(live_panel)(interval)
    widgets.finish_url_sync()

with page_guard("the Train page"):
    page()
