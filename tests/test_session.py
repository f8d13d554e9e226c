"""The Session API (issue 16): a user's own loop combined, recorded and steered like our runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from mtlcore import gradients as grads
from mtlcore.registry import ConfigError
from mtlcore.runs.store import RunStore
from mtlcore.tracking import Session, external_caption, is_external
from mtlcore.weighting import create

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "own_loop.py"
TASKS = ["a", "b"]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5), nn.Tanh())
        self.head_a = nn.Linear(5, 1)
        self.head_b = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self.encoder(x)
        ya, yb = torch.randn(len(x), generator=torch.Generator().manual_seed(1)), x[:, 0]
        return rep, torch.stack([((self.head_a(rep).squeeze(-1) - ya) ** 2).mean(),
                                 ((self.head_b(rep).squeeze(-1) - yb) ** 2).mean() * 3.0])


def batch() -> torch.Tensor:
    return torch.randn(16, 6, generator=torch.Generator().manual_seed(2))


def grad_of(params: list[nn.Parameter]) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


# -- combine: the trainer's method objects, applied in the user's loop ---------------------------------
def test_static_combine_is_the_weighted_sum_and_follows_live_weights(db_path: str) -> None:
    net = Net()
    with Session("u", TASKS, "static", {"a": 2.0, "b": 0.5}, db=db_path) as s:
        _, losses = net(batch())
        total = s.combine({"a": losses[0], "b": losses[1]})
        assert torch.allclose(total, 2.0 * losses[0] + 0.5 * losses[1])
        s.log(1, {"a": losses[0], "b": losses[1]})
        s.store.set_live_weights(s.run_id, [0.25, 4.0])
        time.sleep(0.15)  # the session polls at most every 0.1 s, like the trainer
        _, losses = net(batch())
        total = s.combine(losses)
        assert torch.allclose(total, 0.25 * losses[0] + 4.0 * losses[1])
        assert s.weights == {"a": 0.25, "b": 4.0}
        s.log(2, losses)
        rid = s.run_id
    store = RunStore(db_path)
    w = store.metrics(rid, split="train", name="weight").pivot(index="step", columns="task", values="value")
    assert w.loc[1].tolist() == [2.0, 0.5] and w.loc[2].tolist() == [0.25, 4.0]
    changes = store.events(rid, "weights_changed")
    assert len(changes) == 1 and changes["step"].iloc[0] == 1 and changes["payload"].iloc[0] == {"a": 0.25, "b": 4.0}
    run = store.get_run(rid)
    assert run["status"] == "finished" and run["method"] == "static" and run["tasks"] == TASKS


def test_every_way_of_handing_over_losses_gives_the_same_step_or_a_clear_refusal(db_path: str) -> None:
    """combine() takes a dict of the tasks' tensors on a short path; every other form (numbers among
    tensors, a sequence, a tensor) and every mistake (a wrong or missing name) goes the checked way."""
    net = Net()
    with Session("u", TASKS, "static", {"a": 2.0, "b": 0.5}, db=db_path) as s:
        _, losses = net(batch())
        want = 2.0 * losses[0] + 0.5 * losses[1]
        for given in ({"a": losses[0], "b": losses[1]}, {"b": losses[1], "a": losses[0]}, [losses[0], losses[1]],
                      losses):
            assert torch.allclose(s.combine(given), want)
        assert torch.allclose(s.combine({"a": losses[0], "b": 3.0}), 2.0 * losses[0] + 1.5)
        for wrong in ({"a": losses[0], "c": losses[1]}, {"a": losses[0]},
                      {"a": losses[0], "b": losses[1], "c": losses[1]}, {"a": losses[:1], "b": losses[1:]}):
            with pytest.raises(ConfigError, match="task"):
                s.combine(wrong)


@pytest.mark.parametrize("method", ["uw", "dwa", "rlw", "gls"])
def test_loss_methods_match_the_methods_own_combine(db_path: str, method: str) -> None:
    net = Net()
    ref = create(method, 2)
    ref.set_generator(torch.Generator().manual_seed(1))  # Session(seed=0) seeds its method with seed + 1
    with Session("u", TASKS, method, db=db_path) as s:
        for _ in range(3):
            _, losses = net(batch())
            total = s.combine(losses)
            expected, _ = ref.combine(losses)
            assert torch.allclose(total, expected)
        if method == "uw":
            assert s.parameters() and s.parameters()[0].shape == (2,)


def test_methods_with_after_step_and_epoch_hooks_get_them(db_path: str) -> None:
    """FAMO sees the losses after each optimiser step (given, or the next batch's); DWA sees the
    mean loss of each epoch when the session knows the epoch length."""
    net = Net()
    famo, dwa = create("famo", 2), create("dwa", 2)
    seq = [net(batch())[1] * f for f in (1.0, 0.8, 0.6, 0.5, 0.45)]
    with Session("u", TASKS, "famo", db=db_path) as s, Session("v", TASKS, "dwa", db=db_path, steps_per_epoch=2) as t:
        for i, losses in enumerate(seq):
            assert torch.allclose(s.combine(losses), famo.combine(losses)[0])
            assert torch.allclose(t.combine(losses), dwa.combine(losses)[0])
            if i % 2 == 1:
                dwa.end_of_epoch(((seq[i - 1] + seq[i]) / 2).detach())
            after = seq[i + 1] if i % 2 == 0 and i + 1 < len(seq) else losses * 0.9
            if i % 2 == 1:
                s.after_step(after)  # given exactly on odd steps; the next batch's losses otherwise
            famo.after_step(losses.detach(), after.detach())
        assert s.weights == pytest.approx(dict(zip(TASKS, famo.current_weights())))
        assert t.weights == pytest.approx(dict(zip(TASKS, dwa.current_weights())))


@pytest.mark.parametrize("heads", ["weighted", "unweighted"])
@pytest.mark.parametrize("method", ["mgda", "pcgrad", "upgrad", "cagrad", "nash_mtl"])
def test_gradient_methods_put_the_aggregated_direction_on_the_shared_parameters(db_path: str, method: str,
                                                                                heads: str) -> None:
    """The shared part gets the method's direction; each head its task's gradient, times the task's
    weight with heads = weighted (the default, as the Nash-MTL, FairGrad and IMTL references)."""
    net = Net()
    shared = list(net.encoder.parameters())
    head_params = list(net.head_a.parameters()) + list(net.head_b.parameters())
    _, losses = net(batch())
    ref = create(method, 2)
    ref.set_generator(torch.Generator().manual_seed(1))
    jac = grads.jacobian(losses, shared, retain_graph=True)
    agg = ref.aggregate(jac, losses.detach())
    coef = agg.weights.float() if heads == "weighted" and agg.weights is not None else torch.ones(2)
    head_grad = torch.autograd.grad((coef * losses).sum(), head_params, retain_graph=True)
    with Session("u", TASKS, method, db=db_path, heads=heads) as s:
        total = s.combine(losses, shared=net.encoder)
        assert torch.allclose(total, (coef * losses).sum())  # the surrogate's value: the heads' weighted sum
        total.backward()
        assert s.store.get_run(s.run_id)["config"]["weighting"]["heads"] == heads
    assert torch.allclose(grad_of(shared), agg.direction.float(), atol=1e-6)
    assert torch.allclose(grad_of(head_params), torch.cat([g.reshape(-1) for g in head_grad]), atol=1e-6)


def test_famo_clips_the_shared_gradient_inside_the_combined_scalar(db_path: str) -> None:
    """FAMO's max_norm (the official code's clip after backward) reaches a user's own loop too."""
    net = Net()
    shared = list(net.encoder.parameters())
    _, losses = net(batch())
    with Session("u", TASKS, "famo", db=db_path, params={"max_norm": 0.0}) as s:
        s.combine(losses, shared=net.encoder).backward(retain_graph=True)
    free = grad_of(shared).clone()
    assert float(free.norm()) > 0.05
    net.zero_grad()
    with Session("v", TASKS, "famo", db=db_path, params={"max_norm": 0.05}) as s:
        s.combine(losses, shared=net.encoder).backward()
    torch.testing.assert_close(grad_of(shared), free * (0.05 / free.norm()))


def test_gradient_method_on_a_representation_tensor(db_path: str) -> None:
    net = Net()
    rep, losses = net(batch())
    ref = create("mgda", 2)
    jac = grads.jacobian(losses, [rep], retain_graph=True)
    direction = ref.aggregate(jac, losses.detach()).direction.float()
    enc = list(net.encoder.parameters())
    expected = torch.autograd.grad(rep, enc, direction.view_as(rep), retain_graph=True)
    with Session("u", TASKS, "mgda", db=db_path) as s:
        s.combine(losses, shared=rep).backward()
    assert torch.allclose(grad_of(enc), torch.cat([g.reshape(-1) for g in expected]), atol=1e-6)


def test_gradient_methods_refuse_what_they_cannot_use(db_path: str) -> None:
    net = Net()
    rep, losses = net(batch())
    with Session("u", TASKS, "mgda", db=db_path) as s:
        with pytest.raises(ConfigError, match="shared="):
            s.combine(losses)
    with Session("u", TASKS, "pcgrad", db=db_path) as s:  # per-parameter only, like the trainer's rule
        with pytest.raises(ConfigError, match="representation"):
            s.combine(losses, shared=rep)
    with pytest.raises(ConfigError, match="static"):
        Session("u", TASKS, "mgda", weights=[1, 1], db=db_path)


def test_gradient_statistics_every_n_steps_as_the_trainer_records_them(db_path: str) -> None:
    net = Net()
    with Session("u", TASKS, "static", db=db_path, grad_stats_every=2) as s:
        for step in range(1, 6):
            _, losses = net(batch())
            if step == 3:
                jac = grads.jacobian(losses, list(net.encoder.parameters()), retain_graph=True)
                expected = grads.gradient_statistics(jac, torch.ones(2) @ jac)
            s.combine(losses, shared=net.encoder).backward()
            s.log(step, losses)
        rid = s.run_id
    g = RunStore(db_path).metrics(rid, split="grad")
    assert sorted(g.loc[g["name"] == "cosine", "step"]) == [1, 3, 5]  # combines 0, 2, 4 of the session
    cos = g[(g["step"] == 3) & (g["name"] == "cosine")]["value"].iloc[0]
    assert cos == pytest.approx(expected["cosine"][0][1], abs=1e-6)
    norms = g[(g["step"] == 3) & (g["name"] == "grad_norm")].set_index("task")["value"]
    assert norms.tolist() == pytest.approx(expected["norms"], rel=1e-6)


def test_other_ranks_write_nothing_but_still_combine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "r" / "mtl.sqlite"
    net = Net()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with Session("u", TASKS, "static", {"a": 3, "b": 1}, db=str(db)) as s:
        _, losses = net(batch())
        assert torch.allclose(s.combine(losses), 3 * losses[0] + losses[1])
        s.log(1, losses, metrics={"a/acc": 1.0})
        assert s.run_id is None and not s.stop_requested
    assert not db.exists() and not db.parent.exists()
    monkeypatch.delenv("RANK")
    with Session("u", TASKS, "ew", db=str(db), rank=1) as s:
        s.log(1, net(batch())[1])
    assert not db.exists()


RANK_SCRIPT = """
import sys, time, torch, torch.distributed as dist
from mtlcore import Session
dist.init_process_group("gloo")
rank = dist.get_rank()
s = Session("ddp", ["a", "b"], "static", {"a": 1, "b": 1}, db=sys.argv[1])
assert (s.run_id is None) == (rank != 0)
if rank == 0:  # what the page does: a slider move and Stop
    s.store.set_live_weights(s.run_id, [0.5, 2.0])
    s.store.request_stop(s.run_id)
    time.sleep(0.2)
s.sync_ranks()
assert s.weights == {"a": 0.5, "b": 2.0} and s.stop_requested, (rank, s.weights)
out = s.combine([torch.tensor(1.0), torch.tensor(1.0)])
assert out.item() == 2.5
s.close()
dist.destroy_process_group()
print("rank", rank, "ok")
"""


@pytest.mark.slow
def test_sync_ranks_hands_rank_0s_controls_to_every_rank(db_path: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = []
    for rank in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, db_path], cwd=str(ROOT), env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = RunStore(db_path).list_runs()
    assert len(runs) == 1 and runs["status"].iloc[0] == "stopped"  # rank 1 wrote nothing


def test_external_run_is_marked_and_takes_no_training_slot(db_path: str) -> None:
    with Session("mine", TASKS, "ew", db=db_path) as s:
        store = s.store
        run = store.get_run(s.run_id)
        assert is_external(run["config"]) and run["pid"] == os.getpid() and run["host"] == store.host
        caption = external_caption(run["config"])
        assert caption.startswith("external run: script ") and f"on host {store.host}" in caption
        queued = store.create_run({"data": {"name": "multi_digits"}}, status="queued")
        assert store.claim_queued(queued, pid=os.getpid(), limit=1)  # the running external run is not counted
    assert not is_external(RunStore(db_path).get_run(queued)["config"])


def test_a_failing_loop_marks_the_run_failed_with_its_points(db_path: str) -> None:
    net = Net()
    with pytest.raises(RuntimeError):
        with Session("u", TASKS, "ew", db=db_path) as s:
            rid = s.run_id
            _, losses = net(batch())
            s.log(1, losses)
            raise RuntimeError("out of memory")
    run = RunStore(db_path).get_run(rid)
    assert run["status"] == "failed" and "out of memory" in run["error"]
    assert len(RunStore(db_path).metrics(rid, split="train", name="loss")) == 2


def test_the_heartbeat_stays_fresh_while_the_loop_is_busy_elsewhere(db_path: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from mtlcore.tracking import recorder

    monkeypatch.setattr(recorder, "HEARTBEAT_EVERY_S", 0.1)
    with Session("u", TASKS, "ew", db=db_path) as s:
        first = s.store.get_run(s.run_id)["heartbeat"]
        time.sleep(0.5)  # a long evaluation: no log, no combine
        assert s.store.get_run(s.run_id)["heartbeat"] > first + 0.2


@pytest.mark.slow
def test_a_script_that_never_closes_keeps_its_points_and_ends_interrupted(db_path: str) -> None:
    code = ("import torch\nfrom mtlcore import Session\n"
            f"s = Session('no close', ['a', 'b'], 'ew', db={db_path!r})\n"
            "for i in range(1, 6):\n    s.log(i, [torch.tensor(1.0), torch.tensor(2.0)])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    store = RunStore(db_path)
    rid = store.list_runs()["id"].iloc[0]
    assert store.get_run(rid)["status"] == "interrupted"  # an end without close() looks like a crash
    assert len(store.metrics(rid, split="train", name="loss")) == 10  # but the atexit flush kept every point


@pytest.mark.slow
def test_session_imports_lazily() -> None:
    code = ("import sys\nimport mtlcore, mtlcore.tracking\nassert 'torch' not in sys.modules\n"
            "from mtlcore import Session\nassert 'torch' in sys.modules and Session.__name__ == 'Session'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- the example script as a user runs it, steered through the store --------------------------------
def _start_example(db: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(EXAMPLE), "--db", db, "--name", "steered", *extra],
                            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_points(store: RunStore, proc: subprocess.Popen, at_least: int, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = store.list_runs()
        if not runs.empty:
            rid = runs["id"].iloc[0]
            if len(store.metrics(rid, split="train", name="loss")) >= 2 * at_least:
                return rid
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the example logged no points in time")


@pytest.mark.slow
def test_example_streams_follows_the_sliders_and_stops(db_path: str) -> None:
    store = RunStore(db_path)
    proc = _start_example(db_path, "--steps", "100000", "--step-sleep", "0.005", "--eval-every", "50")
    try:
        rid = _wait_for_points(store, proc, 20)
        store.set_live_weights(rid, [3.0, 0.5])
        moved_at = time.time()
        time.sleep(1.5)
        store.request_stop(rid)
        stopped_at = time.time()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped from the dashboard" in out
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["ended"] - stopped_at < 1.0
    finished = store.events(rid, "finished")["payload"].iloc[0]
    assert finished["status"] == "stopped" and finished["reason"].startswith("stopped by request at step")
    assert run["config"]["external"]["script"] == "own_loop.py"
    loss = store.metrics(rid, split="train", name="loss").pivot(index="step", columns="task", values="value")
    assert list(loss.columns) == ["cls", "reg"] and loss.index.tolist() == list(range(1, len(loss) + 1))
    assert loss.notna().all().all() and loss["cls"].iloc[-20:].mean() < loss["cls"].iloc[:5].mean()
    w = store.metrics(rid, split="train", name="weight").pivot(index="step", columns="task", values="value")
    new = w[(w["cls"] == 3.0) & (w["reg"] == 0.5)]
    first_new = int(new.index.min())
    assert (w.loc[:first_new - 1] == 1.0).all().all() and len(new) == len(w) - first_new + 1
    change = store.events(rid, "weights_changed")
    assert change["step"].tolist() == [first_new - 1]  # the last step with the old weights, as the trainer
    weight_rows = store.metrics(rid, split="train", name="weight")
    t_new = run["started"] + weight_rows.loc[weight_rows["step"] == first_new, "time"].iloc[0]
    assert t_new - moved_at < 1.0  # the script picked the sliders up within a second
    val = store.metrics(rid, split="val")
    assert {"accuracy", "mae", "loss"} <= set(val["name"]) and set(run["summary"]["val"]) == {"cls", "reg"}


@pytest.mark.slow
def test_a_killed_script_leaves_an_interrupted_run_with_its_flushed_points(db_path: str) -> None:
    store = RunStore(db_path)
    proc = _start_example(db_path, "--steps", "100000", "--step-sleep", "0.002")
    try:
        rid = _wait_for_points(store, proc, 10)
        time.sleep(0.5)
        seen = len(store.metrics(rid))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = store.get_run(rid)  # reading reaps: the pid is gone on this host
    assert run["status"] == "interrupted" and "killed or crashed" in run["error"]
    assert len(store.metrics(rid)) >= seen


def test_per_layer_gradvac_gets_the_layers_of_the_shared_module(db_path: str) -> None:
    net = Net()
    _, losses = net(batch())
    with Session("u", TASKS, "gradvac", db=db_path, params={"granularity": "layer"}) as s:
        s.combine(losses, shared=net.encoder).backward()
        assert s.method.blocks == (6 * 8 + 8, 8 * 5 + 5)  # each Linear's weight and bias together
    assert torch.isfinite(grad_of(list(net.encoder.parameters()))).all()
