"""What `Session` costs a user's loop with static weights, against the plain weighted sum.

The same model, data and optimiser step twice per round: a plain loop (`w1 * L1 + w2 * L2`, no
logging at all) and the same loop through a Session (`combine`, `log` of both losses every step,
`stop_requested`, flushes to a temporary store, live-weight polls). Bursts alternate so drift on a
shared machine hits both alike; the ratio is the median over rounds of session time / plain time,
in wall-clock time and in this process's CPU time (all its threads, the Session's writer included;
steadier than wall time when other processes load the machine).

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
                  start: int) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    for i in range(start, start + steps):
        la, lb = losses_of(model, batches[i % len(batches)])
        losses = {"cls": la, "reg": lb}
        total = s.combine(losses)
        opt.zero_grad()
        total.backward()
        opt.step()
        s.log(i, losses)
        if s.stop_requested:
            break
    return time.perf_counter() - t, time.process_time() - c


def measure(hidden: int, batch: int, rounds: int, steps: int, db: str) -> tuple[float, float, float, float]:
    """(plain ms/step, Session ms/step, median wall-time ratio, median CPU-time ratio)."""
    model, opt, batches = setup(hidden, batch)
    plain_t, sess_t, wall, cpu = [], [], [], []
    with Session(f"bench hidden {hidden}", {"cls": "classification", "reg": "regression"}, "static",
                 {"cls": 1.0, "reg": 1.0}, db=db) as s:
        plain_burst(model, opt, batches, 20, 0)  # warm-up both paths
        session_burst(s, model, opt, batches, 20, 0)
        step = 20
        for r in range(rounds):
            first_plain = r % 2 == 0  # alternate the order too
            a = plain_burst(model, opt, batches, steps, step) if first_plain else None
            b = session_burst(s, model, opt, batches, steps, step)
            if a is None:
                a = plain_burst(model, opt, batches, steps, step)
            step += steps
            plain_t.append(a[0] / steps * 1e3)
            sess_t.append(b[0] / steps * 1e3)
            wall.append(b[0] / a[0])
            cpu.append(b[1] / a[1])
    return (statistics.median(plain_t), statistics.median(sess_t), statistics.median(wall),
            statistics.median(cpu))


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
    print(f"{'hidden':>7} {'plain ms/step':>14} {'Session ms/step':>16} {'ratio (wall)':>13} {'ratio (CPU)':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in args.hidden:
            p, s, wall, cpu = measure(hidden, args.batch, args.rounds, args.steps, str(Path(tmp) / "bench.sqlite"))
            print(f"{hidden:>7} {p:>14.3f} {s:>16.3f} {wall:>13.3f} {cpu:>12.3f}")


if __name__ == "__main__":
    main()
