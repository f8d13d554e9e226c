"""Throughput of every weighting method relative to equal weights, measured in one run.

Settings: Multi-Fashion with MultiLeNet (T = 2) and the scale-imbalance toy with T = 2, 5 and 10
(MLP trunk). For each, every registered method trains `--steps` steps after a warm-up, and the
table gives median steps/s and the ratio to equal weights (EW) measured in the same setting. The
baseline row "EW + Jacobian by T backward passes" computes the per-task gradients the way most
libraries do (one retained backward per task) instead of our single batched backward, to show what
the batched Jacobian buys.

Targets: every method >= 0.85x EW throughput at T = 2; at most 2x EW step time at T = 10.

    .venv/bin/python benchmarks/bench_weighting.py [--steps 40] [--only mgda,pcgrad] [--settings fashion,toy2]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mtlcore import gradients  # noqa: E402
from mtlcore.config import RunConfig  # noqa: E402
from mtlcore.data import load_dataset  # noqa: E402
from mtlcore.events import Finished, StepMetrics  # noqa: E402
from mtlcore.trainer import Trainer  # noqa: E402
from mtlcore.weighting import WEIGHTINGS  # noqa: E402

WARMUP = 8

SETTINGS: dict[str, dict[str, Any]] = {
    "fashion": {"title": "Multi-Fashion, MultiLeNet, T=2", "data": "multi_fashion", "tasks": ["left", "right"],
                "params": {}, "model": {"trunk": "multilenet"}, "batch": 256},
    "toy2": {"title": "scale-imbalance toy, MLP, T=2", "data": "scale_imbalance", "params": {"n_tasks": 2},
             "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
    "toy5": {"title": "scale-imbalance toy, MLP, T=5", "data": "scale_imbalance", "params": {"n_tasks": 5},
             "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
    "toy10": {"title": "scale-imbalance toy, MLP, T=10", "data": "scale_imbalance", "params": {"n_tasks": 10},
              "model": {"trunk": "mlp", "depth": 3, "width": 256}, "batch": 256},
}


def measure(setting: dict[str, Any], data, method: str, steps: int, gradients_mode: str = "auto") -> float:
    cfg = RunConfig.from_dict({
        "data": {"name": setting["data"], "tasks": list(data.tasks), "params": setting["params"]},
        "model": {"architecture": "hps", "params": setting["model"]},
        "weighting": {"method": method, "gradients": gradients_mode},
        "optim": {"batch_size": setting["batch"], "lr": 1e-3, "epochs": 1000, "max_steps": WARMUP + steps},
        "eval_every": 10**9, "grad_stats_every": 0, "threads": torch.get_num_threads(),
    })
    events = list(Trainer(cfg, data=data).run())
    end = events[-1]
    if not isinstance(end, Finished) or end.status != "finished":
        raise RuntimeError(f"{method}: {getattr(end, 'reason', end)}")
    stamps = [e.time for e in events if isinstance(e, StepMetrics)]
    return 1.0 / statistics.median([b - a for a, b in zip(stamps[WARMUP:], stamps[WARMUP + 1:])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--only", default="", help="comma-separated method names (default: every method)")
    ap.add_argument("--settings", default="fashion,toy2,toy5,toy10")
    args = ap.parse_args()
    torch.set_num_threads(2)
    names = [e.name for e in WEIGHTINGS]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    gradient_names = {e.name for e in WEIGHTINGS if e.extra["kind"] == "gradient"}
    repr_names = [e.name for e in WEIGHTINGS if e.extra["supports_representation"] and e.extra["needs"] == "gradients"]
    summary: list[str] = []
    for key in args.settings.split(","):
        setting = SETTINGS[key]
        data = load_dataset(setting["data"], setting["params"], setting.get("tasks"))
        t = len(data.tasks)
        measure(setting, data, "ew", 5)  # untimed: warms oneDNN's kernel cache so EW is not measured cold
        ew = measure(setting, data, "ew", args.steps)
        rows = [("ew", "", ew)]
        # the way most libraries get per-task gradients: T retained backward passes
        original = gradients.jacobian
        gradients.jacobian = functools.partial(original, batched=False)  # type: ignore[assignment]
        try:
            rows.append(("mgda (Jacobian by T backward passes)", "loop baseline", measure(setting, data, "mgda", args.steps)))
        finally:
            gradients.jacobian = original  # type: ignore[assignment]
        for name in names:
            if name == "ew":
                continue
            try:
                rows.append((name, "", measure(setting, data, name, args.steps)))
            except Exception as exc:  # a method that cannot run here is named, not hidden
                rows.append((name, f"error: {exc}", float("nan")))
            if name in repr_names:
                rows.append((name, "on representation", measure(setting, data, name, args.steps, "representation")))
        print(f"\n### {setting['title']} (batch {setting['batch']}, {torch.get_num_threads()} threads)\n")
        print("| method | mode | steps/s | vs EW throughput | step time vs EW |")
        print("|---|---|---|---|---|")
        misses = []
        for name, mode, sps in rows:
            ratio = sps / ew
            print(f"| {name} | {mode or 'default'} | {sps:.1f} | {ratio:.2f}x | {1 / ratio:.2f}x |")
            base_name = name.split(" ")[0]
            if base_name in gradient_names or base_name != "ew":
                if mode == "loop baseline":
                    continue
                if t == 2 and ratio < 0.85:
                    misses.append(f"{name} {mode}".strip())
                if t == 10 and 1 / ratio > 2.0:
                    misses.append(f"{name} {mode}".strip())
        target = "throughput >= 0.85x EW" if t == 2 else ("step time <= 2x EW" if t == 10 else "no target")
        summary.append(f"{setting['title']}: target {target}; misses: {', '.join(misses) if misses else 'none'}")
        sys.stdout.flush()
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
