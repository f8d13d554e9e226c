"""Command line: `python -m mtlcore datasets | methods | architectures | train | resume | list | export | sweep |
toy | import-table | catalog | worker`.

The CLI runs the same `runner.execute` as the app's workers, so a run trained here shows in the
dashboard exactly as one started there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from mtlcore import naming
from mtlcore.config import RunConfig
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore, StoreError, default_db_path
from mtlcore.spreadsheet import metrics_csv


def _apply_override(raw: dict[str, Any], assignment: str) -> None:
    """`--set optim.lr=0.01`: a dotted key and a JSON value (bare words are strings)."""
    if "=" not in assignment:
        raise ConfigError(f"--set needs KEY=VALUE, got {assignment!r}")
    key, value = assignment.split("=", 1)
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):  # not JSON (or an int of > 4,300 digits): a bare word
        parsed = value
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
    node[parts[-1]] = parsed


def cmd_datasets(args: argparse.Namespace) -> int:
    from mtlcore.data import catalogue

    for ds in catalogue():
        state = "available" if not ds["missing"] else f"MISSING: {ds['missing']}"
        print(f"{ds['name']:<20} {ds['title']}  [{state}]")
        print(f"    {ds['summary']}")
        for t in ds["tasks"]:
            metrics = ", ".join(f"{m['name']} ({'higher' if m['higher_is_better'] else 'lower'} is better)"
                                for m in t["metrics"])
            print(f"    - {t['name']:<16} {t['kind']:<15} loss {t['loss']:<14} {metrics}")
        print()
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from mtlcore.weighting import describe

    for m in describe():
        params = ", ".join(f"{p['name']}={p['default']}" for p in m["params"])
        print(f"{m['name']:<14} [{m['needs']:<14}] {m['title']}: {m['summary']}" + (f"  ({params})" if params else ""))
    return 0


def cmd_architectures(args: argparse.Namespace) -> int:
    from mtlcore.models import describe

    for a in describe():
        params = ", ".join(f"{p['name']}={p['default']}" for p in a["params"])
        print(f"{a['name']:<14} {a['title']}: {a['summary']}" + (f"  ({params})" if params else ""))
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    """Print the methods' and architectures' metadata as JSON: the snapshot mtlcore.catalog keeps for pages."""
    from mtlcore.catalog import build_snapshot

    print(json.dumps(build_snapshot()))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    raw = json.loads(RunConfig.load(args.config).to_json())
    for assignment in args.set or []:
        _apply_override(raw, assignment)
    config = RunConfig.from_dict(raw).validate()
    if not config.name:  # the same telling name the dashboard gives its runs
        config.name = naming.run_name(config)
    return _train_here(config, RunStore(args.db), args.quiet)


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a stopped or interrupted run from its last checkpoint, under the same id."""
    store = RunStore(args.db)
    run = store.get_run(args.run_id)
    if run is None:
        raise ConfigError(f"no run {args.run_id} in {store.path}")
    try:
        if args.background:
            from mtlcore.runs.workers import start_resume

            start_resume(store, args.run_id)
        else:
            store.prepare_resume(args.run_id, pid=os.getpid())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print(f"run {args.run_id}: resuming from step {run['checkpoint_step']}"
          + (" in the background" if args.background else ""), file=sys.stderr)
    if args.background:
        return 0
    return _train_here(RunConfig.from_dict(run["config"]), store, args.quiet, args.run_id)


def _train_here(config: RunConfig, store: RunStore, quiet: bool, run_id: str | None = None) -> int:
    """Train in this process with a progress bar; prints the outcome. Exit code 0 when it finished."""
    from tqdm import tqdm

    from mtlcore.events import Evaluation, Finished, Started, StepMetrics
    from mtlcore.runs.runner import execute

    bar: tqdm | None = None
    result: dict[str, Any] = {}

    def on_event(event: object) -> None:
        nonlocal bar
        if isinstance(event, Started):
            print(f"training on {event.device}: {event.total_steps} steps, tasks {', '.join(event.tasks)}",
                  file=sys.stderr)
            bar = tqdm(total=event.total_steps, unit="step", disable=quiet, dynamic_ncols=True)
        elif isinstance(event, StepMetrics) and bar is not None:
            bar.update(event.step - bar.n)
            bar.set_postfix({t: f"{v:.3f}" for t, v in event.losses.items()}, refresh=False)
        elif isinstance(event, Evaluation):
            result[event.split] = event.metrics
        elif isinstance(event, Finished):
            if bar is not None:
                bar.close()
            result["status"], result["reason"] = event.status, event.reason

    try:
        run_id = execute(config, store, run_id, on_event=on_event)
    finally:
        if bar is not None:
            bar.close()  # a storage fault ends the run mid-bar: the error line starts on its own line
    print(f"run {run_id}: {result.get('status')}" + (f" ({result['reason']})" if result.get("reason") else ""))
    for split in ("val", "test"):
        for task, ms in result.get(split, {}).items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in ms.items())
            print(f"  {split:<4} {task:<16} {shown}")
    return 0 if result.get("status") == "finished" else 1


def cmd_list(args: argparse.Namespace) -> int:
    df = RunStore(args.db).list_runs()
    if df.empty:
        print(f"no runs in {args.db}")
        return 0
    import pandas as pd

    def headline(summary: dict[str, Any]) -> str:
        test = summary.get("test") or summary.get("val") or {}
        return " ".join(f"{t}:{next(iter(m.items()))[0]}={next(iter(m.items()))[1]:.3f}"
                        for t, m in test.items() if m)

    table = pd.DataFrame({
        "id": df["id"], "name": df["name"], "dataset": df["dataset"],
        "tasks": df["tasks"].map(",".join), "method": df["method"], "arch": df["architecture"],
        "status": df["status"], "steps": df["step"],
        "duration_s": df["duration"].round(1),
        "created": pd.to_datetime(df["created"], unit="s").dt.strftime("%Y-%m-%d %H:%M"),
        "final": df["summary"].map(headline),
    })
    with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = RunStore(args.db)
    run = store.get_run(args.run_id)
    if run is None:
        raise ConfigError(f"no run '{args.run_id}' in {args.db}")
    df = store.metrics(args.run_id)
    metrics_csv(df, args.csv)  # task names that look like formulas are escaped for spreadsheets
    print(f"wrote {len(df)} rows to {args.csv}")
    if args.config_out:
        with open(args.config_out, "w", encoding="utf-8") as fh:
            json.dump(run["config"], fh, indent=2, sort_keys=True)
        print(f"wrote config to {args.config_out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep (or the queued runs of a recorded one, --group) and print its Pareto table."""
    from mtlcore.runs.executor import ray_address as default_ray_address
    from mtlcore.sweeps.config import SweepConfig
    from mtlcore.sweeps.execute import run_group, submit
    from mtlcore.sweeps.results import group_pareto

    store = RunStore(args.db)
    ray_address = args.ray if args.ray is not None else default_ray_address()
    if ray_address:
        from mtlcore.runs.ray import ray_missing

        if why := ray_missing():
            raise ConfigError(why)
    if args.group:
        group = args.group
    else:
        group = submit(SweepConfig.load(args.config), store)
    total = len(store.list_runs(group_id=group))
    if not total:
        raise ConfigError(f"no sweep '{group}' in {store.path}")
    where = f"Ray at {ray_address}" if ray_address else f"{args.workers or 'one per core'} local worker(s)"
    print(f"sweep {group}: {total} run(s) on {where}; database {store.path}", file=sys.stderr)
    done = 0

    def on_done(run_id: str, status: str) -> None:
        nonlocal done
        done += 1
        run = store.get_run(run_id) or {}
        print(f"[{done}] {run.get('name', run_id)}: {status}", file=sys.stderr)

    counts = run_group(store, group, args.workers, ray_address, on_done)
    points, objectives, _ = group_pareto(store, group)
    if not points.empty:
        import pandas as pd

        shown = points.assign(front=points["on_front"].map({True: "*", False: ""}),
                              seeds=points["seeds"].map(lambda s: ",".join(map(str, s))))
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            print(shown[["label", "seeds", *objectives, "front"]].to_string(index=False, float_format="%.4f"))
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0 if counts.get("finished", 0) == sum(counts.values()) else 1


def cmd_toy(args: argparse.Namespace) -> int:
    """The Landscape page's computation: methods from start points on the papers' two-objective toy.

    Results land in the same disk cache the page reads, so a set computed here shows there at once.
    """
    from tqdm import tqdm

    from mtlcore import teaching as toy

    preset = toy.protocol(args.protocol)
    methods = [(m, preset.params_for(m)) for m in (m.strip() for m in args.methods.split(",")) if m]
    starts = toy.parse_points(args.starts) if args.starts else list(preset.starts)
    steps = preset.steps if args.steps is None else args.steps
    lr = preset.lr if args.lr is None else args.lr
    imbalance = preset.imbalance if args.imbalance is None else args.imbalance
    bar = None if args.quiet else tqdm(total=100, unit="%", desc="toy", file=sys.stderr)

    def progress(fraction: float, message: str) -> None:
        if bar is not None:
            bar.update(round(100 * fraction) - bar.n)
            bar.set_postfix_str(message, refresh=False)

    try:
        runs = toy.simulate(methods, starts, steps=steps, lr=lr, imbalance=imbalance,
                            seed=args.seed, progress=progress, use_cache=not args.no_cache, workers=args.workers)
    finally:
        if bar is not None:
            bar.close()
    import pandas as pd

    reached = toy.REACHED if args.reached is None else args.reached
    table = toy.reach_table(runs, reached, mark=lambda d, ok: f"{d:.3f}{' *' if ok else ''}")
    fixed = "; ".join(f"{m} {', '.join(f'{k} = {v:g}' for k, v in p.items())}" for m, p in methods if p)
    print(f"distance of each final point to the Pareto set (* within {reached:g}); {preset.title} protocol: "
          f"{steps:,} Adam steps at lr {lr:g}, L1 scaled by {imbalance:g}" + (f"; {fixed}" if fixed else ""))
    with pd.option_context("display.width", 200):
        print(table.to_string())
    where = "from the cache" if all(r.cached for r in runs) else "computed"
    print(f"{where}; computing took {max(r.seconds for r in runs):.1f} s", file=sys.stderr)
    return 0


def cmd_import_table(args: argparse.Namespace) -> int:
    """Store a CSV/Parquet file as a data set named table:<name>-<hash> (see mtlcore/data/tabular/)."""
    from mtlcore.data.tabular import import_table_file

    print(import_table_file(args.file, args.name, args.inputs, args.targets, args.missing, args.kinds).report())
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from mtlcore.runs.workers import standby_main, worker_main

    if args.standby:
        return standby_main(args.db)
    if not args.run:
        raise ConfigError("worker needs --run RUN_ID or --standby")
    return worker_main(args.db, args.run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mtlcore", description="MTL Playground training core")
    sub = p.add_subparsers(dest="command", required=True)

    def with_db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--db", default=default_db_path(), help="run database (default: $MTL_DB or runs/mtl.sqlite)")
        return sp

    sub.add_parser("datasets", help="list data sets and their tasks").set_defaults(func=cmd_datasets)
    sub.add_parser("methods", help="list weighting methods").set_defaults(func=cmd_methods)
    sub.add_parser("architectures", help="list architectures").set_defaults(func=cmd_architectures)
    sub.add_parser("catalog", help="methods and architectures as JSON (the pages' torch-free snapshot)"
                   ).set_defaults(func=cmd_catalog)
    tr = with_db(sub.add_parser("train", help="train one run from a config file"))
    tr.add_argument("--config", required=True, help="run config JSON (see examples/)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field, e.g. optim.lr=0.01")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)
    rs = with_db(sub.add_parser("resume", help="continue a stopped or interrupted run from its checkpoint"))
    rs.add_argument("run_id")
    rs.add_argument("--background", action="store_true", help="hand it to a worker process and return at once")
    rs.add_argument("--quiet", action="store_true", help="no progress bar")
    rs.set_defaults(func=cmd_resume)
    with_db(sub.add_parser("list", help="list stored runs")).set_defaults(func=cmd_list)
    ex = with_db(sub.add_parser("export", help="export a run's metrics as CSV (long format)"))
    ex.add_argument("run_id")
    ex.add_argument("--csv", required=True)
    ex.add_argument("--config-out", help="also write the run's config JSON here")
    ex.set_defaults(func=cmd_export)
    sw = with_db(sub.add_parser("sweep", help="sweep static weights on the simplex plus dynamic methods"))
    sw_what = sw.add_mutually_exclusive_group(required=True)
    sw_what.add_argument("--config", help="sweep config JSON (see examples/sweep_multidigits.json)")
    sw_what.add_argument("--group", help="run the queued runs of a recorded sweep (the dashboard uses this)")
    sw.add_argument("--ray", metavar="ADDRESS", default=None,
                    help="run on this Ray cluster (host:port, auto, ray://host:port or local); "
                         "default: $MTL_RAY_ADDRESS, else local worker processes")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    sw.set_defaults(func=cmd_sweep)
    ty = sub.add_parser("toy", help="run weighting methods on the two-objective toy (the Landscape page)")
    ty.add_argument("--methods", default="ew,mgda,pcgrad,cagrad,nash_mtl", help="comma-separated method names")
    ty.add_argument("--protocol", default="nash_mtl", choices=("nash_mtl", "cagrad"),
                    help="the paper whose setup to run: nash_mtl (five starts, 35,000 steps, L1 x 0.1) or "
                         "cagrad (three starts, 100,000 steps, c = 0.5, no scaling); the options below override it")
    ty.add_argument("--starts", default="", help="start points 'x1, x2; x1, x2' (default: the protocol's)")
    ty.add_argument("--steps", type=int, default=None, help="Adam steps (default: the protocol's)")
    ty.add_argument("--lr", type=float, default=None, help="Adam's learning rate (default: the protocol's, 1e-3)")
    ty.add_argument("--imbalance", type=float, default=None,
                    help="scale on L1 (default: the protocol's; 0.1 Nash-MTL, 1 CAGrad)")
    ty.add_argument("--seed", type=int, default=0)
    ty.add_argument("--workers", type=int, default=None, help="worker processes (default: 2 for long runs)")
    ty.add_argument("--reached", type=float, default=None,
                    help="distance that counts as reaching the front (default 0.1, as on the page)")
    ty.add_argument("--no-cache", action="store_true", help="compute even when the result is cached")
    ty.add_argument("--quiet", action="store_true", help="no progress bar")
    ty.set_defaults(func=cmd_toy)
    it = sub.add_parser("import-table", help="store a CSV or Parquet file as a data set (columns -> tasks)")
    it.add_argument("file")
    it.add_argument("--name", required=True, help="name of the data set (a content hash is appended)")
    it.add_argument("--inputs", default="", help="input columns, comma-separated (default: every other column)")
    it.add_argument("--targets", required=True, help="target columns, comma-separated: one task each")
    it.add_argument("--missing", choices=("drop", "median", "most_frequent"), default="drop",
                    help="missing inputs: drop the rows (default), or fill with the training median / most "
                         "frequent value")
    it.add_argument("--kinds", default="", help="task kinds, e.g. y=regression,z=classification (default: auto)")
    it.set_defaults(func=cmd_import_table)
    wk = with_db(sub.add_parser("worker", help=argparse.SUPPRESS))
    wk_what = wk.add_mutually_exclusive_group(required=True)
    wk_what.add_argument("--run", help="train this queued run")
    wk_what.add_argument("--standby", action="store_true", help="warm up, then train the run id read from stdin")
    wk.set_defaults(func=cmd_worker)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
