"""Your own PyTorch loop in the dashboard: a two-task model on synthetic data, CPU, a few seconds.

    python examples/own_loop.py --db runs/mtl.sqlite --steps 2000

Open the dashboard on the same database while it runs: the run streams on the Train page (marked
"external run"), its weight sliders steer this script, Stop ends it, and Compare puts it next to
any other run. The four Session lines are marked `# <- Session`; the rest is an ordinary loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, not installed

from mtlcore import Session  # noqa: E402


class TwoTaskNet(nn.Module):
    """A shared trunk and one head per task: a 3-way classification and a regression."""

    def __init__(self, n_in: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.cls_head = nn.Linear(hidden, 3)
        self.reg_head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rep = self.encoder(x)
        return rep, self.cls_head(rep), self.reg_head(rep).squeeze(-1)


def synthetic(n: int, projection: torch.Tensor, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, class labels and a regression target from two related projections of the input."""
    x = torch.randn(n, projection.shape[0], generator=generator)
    z = x @ projection
    labels = torch.bucketize(z[:, 0].contiguous(), torch.tensor([-0.5, 0.5]))
    target = torch.sin(2 * z[:, 1]) + 0.5 * z[:, 0]
    return x, labels, target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=os.environ.get("MTL_DB", "runs/mtl.sqlite"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--method", default="static", help="any weighting method: static, ew, uw, mgda, pcgrad, ...")
    ap.add_argument("--weights", default="1,1", help="static weights of cls,reg")
    ap.add_argument("--representation", action="store_true",
                    help="gradient methods work on the encoder's output instead of its parameters")
    ap.add_argument("--grad-stats-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--step-sleep", type=float, default=0.0, help="seconds to wait per step (to watch it live)")
    ap.add_argument("--name", default="own loop: cls+reg")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    projection = torch.randn(32, 2, generator=gen) / 32**0.5
    x, labels, target = synthetic(8192, projection, gen)
    vx, vlabels, vtarget = synthetic(1024, projection, gen)
    model = TwoTaskNet()
    weights = dict(zip(("cls", "reg"), (float(w) for w in args.weights.split(","))))

    with Session(name=args.name, tasks={"cls": "classification", "reg": "regression"},  # <- Session
                 method=args.method, weights=weights if args.method == "static" else None, db=args.db,
                 grad_stats_every=args.grad_stats_every, total_steps=args.steps, model="TwoTaskNet",
                 goals={"cls/accuracy": "max", "reg/mae": "min"},
                 hyperparameters={"lr": args.lr, "batch": args.batch}) as s:
        print(f"run {s.run_id} in {args.db}", flush=True)
        opt = torch.optim.Adam(list(model.parameters()) + s.parameters(), lr=args.lr)
        for step in range(1, args.steps + 1):
            idx = torch.randint(0, len(x), (args.batch,), generator=gen)
            rep, logits, pred = model(x[idx])
            losses = {"cls": nn.functional.cross_entropy(logits, labels[idx]),
                      "reg": nn.functional.mse_loss(pred, target[idx])}
            total = s.combine(losses, shared=rep if args.representation else model.encoder)  # <- Session
            opt.zero_grad()
            total.backward()
            opt.step()
            s.log(step, losses)  # <- Session
            if step % args.eval_every == 0 or step == args.steps:
                with torch.no_grad():
                    _, vlogits, vpred = model(vx)
                    s.log(step, {"cls": nn.functional.cross_entropy(vlogits, vlabels),
                                 "reg": nn.functional.mse_loss(vpred, vtarget)}, split="val",
                          metrics={"cls/accuracy": (vlogits.argmax(1) == vlabels).float().mean(),
                                   "reg/mae": (vpred - vtarget).abs().mean()})
            if s.stop_requested:  # <- Session
                print(f"stopped from the dashboard at step {step}", flush=True)
                break
            if args.step_sleep:
                time.sleep(args.step_sleep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
