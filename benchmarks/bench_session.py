"""What `Session` costs a user's loop with static weights, against the plain weighted sum.

The same model, data and optimiser step three ways per round: a plain loop (`w1 * L1 + w2 * L2`, no
logging at all); the loop with `Session.combine` in place of the weighted sum (with its live-weight
polls) and `stop_requested`: what issue 16's "at most 5% over a plain weighted sum" is about; and
the full pattern: `combine`, `log` of both losses every step, `stop_requested`, flushes to a
temporary store. Bursts rotate so drift on a shared machine hits all alike; a ratio is the median
over rounds of that contender's time / plain time, in wall-clock time and in this process's CPU time
(all its threads, the Session's writer included; steadier when other processes load the machine).

    .venv/bin/python benchmarks/bench_session.py [--rounds 15] [--steps 200] [--hidden 128 512]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import torch  # noqa: E402
from own_loop import TwoTaskNet, synthetic  # noqa: E402
from torch import nn  # noqa: E402

from mtlcore import Session  # noqa: E402


def setup(hidden: int, batch: int) -> tuple[TwoTaskNet, torch.optim.Optimizer, list[tuple[torch.Tensor, ...]]]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, labels, target = synthetic(8192, torch.randn(32, 2, generator=gen) / 32**0.5, gen)
    model = TwoTaskNet(hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = []
    for _ in range(64):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        batches.append((x[idx], labels[idx], target[idx]))
    return model, opt, batches


def losses_of(model: TwoTaskNet, b: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    _, logits, pred = model(b[0])
    return nn.functional.cross_entropy(logits, b[1]), nn.functional.mse_loss(pred, b[2])


def plain_burst(model: TwoTaskNet, opt: torch.optim.Optimizer, batches: list, steps: int,
                start: int) -> tuple[float, float]:
    w = (1.0, 1.0)
    t, c = time.perf_counter(), time.process_time()
    for i in range(start, start + steps):
        la, lb = losses_of(model, batches[i % len(batches)])
        total = w[0] * la + w[1] * lb
        opt.zero_grad()
        total.backward()
        opt.step()
    return time.perf_counter() - t, time.process_time() - c


def session_burst(s: Session, model: TwoTaskNet, opt: torch.optim.Optimizer, batches: list, steps: int,
                  start: int, log: bool = True) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    for i in range(start, start + steps):
        la, lb = losses_of(model, batches[i % len(batches)])
        losses = {"cls": la, "reg": lb}
        total = s.combine(losses)
        opt.zero_grad()
        total.backward()
        opt.step()
        if log:
            s.log(i, losses)
        if s.stop_requested:
            break
    return time.perf_counter() - t, time.process_time() - c


def measure(hidden: int, batch: int, rounds: int, steps: int, db: str) -> dict[str, float]:
    """Median ms per step of each contender and the median ratios to the plain loop (wall and CPU)."""
    model, opt, batches = setup(hidden, batch)
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "combine": [], "full": []}
    with Session(f"bench hidden {hidden}", {"cls": "classification", "reg": "regression"}, "static",
                 {"cls": 1.0, "reg": 1.0}, db=db) as s:
        bursts = {"plain": lambda k: plain_burst(model, opt, batches, steps, k),
                  "combine": lambda k: session_burst(s, model, opt, batches, steps, k, log=False),
                  "full": lambda k: session_burst(s, model, opt, batches, steps, k)}
        plain_burst(model, opt, batches, 20, 0)  # warm-up every path
        session_burst(s, model, opt, batches, 20, 0)
        step = 20
        order = list(bursts)
        for r in range(rounds):
            for name in order[r % 3:] + order[:r % 3]:  # rotate the order too
                times[name].append(bursts[name](step))
                step += steps
    out: dict[str, float] = {}
    for name, samples in times.items():
        out[f"{name} ms"] = statistics.median(w for w, _ in samples) / steps * 1e3
    for name in ("combine", "full"):
        out[f"{name} wall"] = statistics.median(a[0] / p[0] for a, p in zip(times[name], times["plain"]))
        out[f"{name} cpu"] = statistics.median(a[1] / p[1] for a, p in zip(times[name], times["plain"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, "
          f"{args.rounds} rounds x {args.steps} steps per contender")
    print(f"{'hidden':>7} {'plain ms':>9} {'combine ms':>11} {'full ms':>8} {'combine/plain':>14} "
          f"{'(CPU)':>6} {'full/plain':>11} {'(CPU)':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in args.hidden:
            m = measure(hidden, args.batch, args.rounds, args.steps, str(Path(tmp) / "bench.sqlite"))
            print(f"{hidden:>7} {m['plain ms']:>9.3f} {m['combine ms']:>11.3f} {m['full ms']:>8.3f} "
                  f"{m['combine wall']:>14.3f} {m['combine cpu']:>6.3f} {m['full wall']:>11.3f} {m['full cpu']:>6.3f}")
    print("combine: Session.combine and stop_requested in place of the weighted sum (the 5% target); "
          "full: also log() of both losses every step, flushed to the store by the writer thread")


if __name__ == "__main__":
    main()
