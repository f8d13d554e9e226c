from __future__ import annotations

import math

import pytest
import torch

from mtlcore import gradients
from mtlcore.config import RunConfig
from mtlcore.events import Evaluation, Finished, GradientStats, Started, StepMetrics, WeightsChanged
from mtlcore.registry import ConfigError
from mtlcore.trainer import LocalControl, Trainer, train
from mtlcore.weighting import create


def digits_config(**over) -> RunConfig:
    raw = {
        "name": "t", "seed": 0,
        "data": {"name": "multi_digits", "tasks": ["left", "right"]},
        "model": {"architecture": "hps"},
        "weighting": {"method": "ew"},
        "optim": {"lr": 3e-3, "batch_size": 64, "epochs": 1.0, "max_steps": 60},
        "eval_every": 30, "grad_stats_every": 10, "threads": 1,
    }
    for key, value in over.items():
        node = raw
        parts = key.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    return RunConfig.from_dict(raw)


def test_event_order_and_contents() -> None:
    events = train(digits_config())
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert events[-1].status == "finished", events[-1].reason
    started = events[0]
    assert started.tasks == ["left", "right"] and started.total_steps == 60 and started.device == "cpu"
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert [e.step for e in steps] == list(range(1, 61))
    assert all(set(e.losses) == {"left", "right"} and e.weights == {"left": 1.0, "right": 1.0} for e in steps)
    assert all(b.time >= a.time for a, b in zip(steps, steps[1:]))
    evals = [e for e in events if isinstance(e, Evaluation)]
    assert [(e.split, e.step) for e in evals] == [("val", 30), ("val", 60), ("test", 60)]
    assert set(evals[-1].metrics["left"]) == {"loss", "accuracy", "recall", "f1"}
    stats = [e for e in events if isinstance(e, GradientStats)]
    assert [e.step for e in stats] == [1, 11, 21, 31, 41, 51]
    s = stats[0]
    assert len(s.cosine) == 2 and math.isclose(s.cosine[0][0], 1.0) and set(s.norms) == {"left", "right"}
    assert all(-1 <= v <= 1 for v in s.direction_cosine.values())


def test_loss_falls_on_multi_digits() -> None:
    events = train(digits_config(optim__max_steps=150))
    steps = [e for e in events if isinstance(e, StepMetrics)]
    first = sum(sum(e.losses.values()) for e in steps[:10]) / 10
    last = sum(sum(e.losses.values()) for e in steps[-10:]) / 10
    assert last < 0.5 * first
    test = [e for e in events if isinstance(e, Evaluation) and e.split == "test"][0]
    assert test.metrics["left"]["accuracy"] > 0.5 and test.metrics["right"]["accuracy"] > 0.5


def test_reproducible_on_cpu() -> None:
    def losses(cfg: RunConfig) -> list[dict]:
        return [e.losses for e in train(cfg) if isinstance(e, StepMetrics)]

    a = losses(digits_config(optim__max_steps=20))
    assert a == losses(digits_config(optim__max_steps=20))
    assert a != losses(digits_config(optim__max_steps=20, seed=1))


def test_stop_is_cooperative_and_keeps_an_evaluation() -> None:
    control = LocalControl()
    seen = []
    for event in Trainer(digits_config(optim__max_steps=10_000), control=control).run():
        seen.append(event)
        if isinstance(event, StepMetrics) and event.step == 5:
            control.stop()
    assert seen[-1].status == "stopped"
    last_step = max(e.step for e in seen if isinstance(e, StepMetrics))
    assert 5 <= last_step < 100
    assert isinstance(seen[-2], Evaluation) and seen[-2].split == "val"


def test_nan_ends_the_run_as_diverged_naming_task_and_step() -> None:
    events = train(digits_config(optim__lr=100.0, optim__optimizer="sgd", data__tasks=["left", "sum"],
                                 optim__max_steps=200, diverge_factor=0))
    end = events[-1]
    assert end.status == "diverged"
    assert "task '" in end.reason and "at step" in end.reason and ("NaN" in end.reason or "infinite" in end.reason)


def test_live_static_weights_take_effect_at_a_step() -> None:
    control = LocalControl()
    cfg = digits_config(weighting__method="static", weighting__params={"weights": [1.0, 1.0]},
                        optim__max_steps=40)
    events = []
    for event in Trainer(cfg, control=control).run():
        events.append(event)
        if isinstance(event, StepMetrics) and event.step == 10:
            control.set_weights([0.25, 2.0])
    changed = [e for e in events if isinstance(e, WeightsChanged)]
    assert len(changed) == 1 and changed[0].weights == {"left": 0.25, "right": 2.0}
    at = changed[0].step
    steps = {e.step: e.weights for e in events if isinstance(e, StepMetrics)}
    assert steps[at] == {"left": 1.0, "right": 1.0}
    assert steps[at + 1] == {"left": 0.25, "right": 2.0} and steps[40] == {"left": 0.25, "right": 2.0}


def test_invalid_live_weights_are_ignored() -> None:
    control = LocalControl()
    control.set_weights([float("nan"), 1.0])
    cfg = digits_config(weighting__method="static", weighting__params={"weights": [1.0, 3.0]}, optim__max_steps=5)
    events = train(cfg, control=control)
    assert events[-1].status == "finished"
    assert all(e.weights == {"left": 1.0, "right": 3.0} for e in events if isinstance(e, StepMetrics))


def test_bad_config_fails_with_message() -> None:
    end = train(digits_config(data__tasks=["left", "nope"]))[-1]
    assert end.status == "failed" and "nope" in end.reason
    end = train(digits_config(weighting__method="static", weighting__params={"weights": [0.0, 0.0]}))[-1]
    assert end.status == "failed" and "zero" in end.reason


@pytest.mark.parametrize("arch", ["single_task", "soft_sharing", "cross_stitch", "mmoe", "cgc", "ple", "dselect_k",
                                  "mtan"])
def test_every_architecture_trains(arch: str) -> None:
    events = train(digits_config(model__architecture=arch, optim__max_steps=20))
    assert events[-1].status == "finished", events[-1].reason


def test_gradient_method_on_architecture_without_shared_parameters_is_explained() -> None:
    from mtlcore.weighting import WEIGHTINGS

    grad_methods = [e.name for e in WEIGHTINGS if e.extra["kind"] == "gradient"]
    if not grad_methods:
        pytest.skip("no gradient method registered")
    # refused before anything is built (RunConfig.validate asks the registry)...
    with pytest.raises(ConfigError, match="shares none"):
        train(digits_config(model__architecture="single_task", weighting__method=grad_methods[0]))
    # ...and by the trainer on the built model, should a registry flag ever drift
    from mtlcore.models.base import build_model
    from mtlcore.trainer import gradient_mode
    from mtlcore.weighting import create as create_method

    config = digits_config()
    trainer = Trainer(config)
    trainer.setup()
    single = build_model("single_task", trainer.data.input_shape, trainer.data.tasks)
    with pytest.raises(ConfigError, match="shares none"):
        gradient_mode(config, create_method(grad_methods[0], 2), single)


def test_uncertainty_weighting_learns_its_parameters() -> None:
    events = train(digits_config(weighting__method="uw", data__tasks=["left", "sum"], optim__max_steps=50))
    assert events[-1].status == "finished"
    weights = [e.weights for e in events if isinstance(e, StepMetrics)]
    assert weights[0] != weights[-1]


def test_threads_setting_is_applied() -> None:
    before = torch.get_num_threads()
    try:
        train(digits_config(threads=1, optim__max_steps=2))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("n_tasks", [2, 3])
def test_per_head_representation_gradients_give_the_full_jacobian(n_tasks: int) -> None:
    """The fast path (one backward through the heads, then a T-fold vjp through the trunk only)
    must give exactly the Jacobian of the T losses on the shared weights, and the heads' own
    gradients, as the general path does."""
    tasks = ["left", "right", "sum"][:n_tasks]
    # unweighted heads: the same backward fills the heads' .grad (weighted heads wait for the weights)
    trainer = Trainer(digits_config(data__tasks=tasks, weighting__method="mgda", weighting__heads="unweighted"))
    trainer.setup()
    x, ys = trainer._input(trainer.data.train, torch.arange(32))
    rep, losses, rep_grads = trainer._representation_gradients(x, ys, step=0)
    fast = gradients.vjp_rows(rep, trainer.shared, rep_grads)
    head_grads = torch.cat([p.grad.reshape(-1) for p in trainer.specific])
    trainer.optimizer.zero_grad(set_to_none=True)
    full_losses, _ = trainer._forward_losses(x, ys)
    full = gradients.jacobian(full_losses, trainer.shared + trainer.specific)
    n_sh = fast.shape[1]
    torch.testing.assert_close(losses, full_losses)
    torch.testing.assert_close(fast, full[:, :n_sh], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head_grads, full[:, n_sh:].sum(0), rtol=1e-5, atol=1e-6)
    assert rep_grads.shape == (n_tasks, *rep.shape)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["cgc", "ple", "dselect_k", "mtan"])
def test_new_architectures_train_with_every_kind_of_method_their_flags_allow(arch: str) -> None:
    """They share parameters but have no single representation: parameter-mode gradient methods
    train, a representation-mode request is refused before anything runs."""
    for method in ("mgda", "upgrad"):
        events = train(digits_config(model__architecture=arch, weighting__method=method, optim__max_steps=8))
        assert events[-1].status == "finished", (method, events[-1].reason)
        assert any(isinstance(e, GradientStats) for e in events)
    with pytest.raises(ConfigError, match="shared representation"):
        train(digits_config(model__architecture=arch, weighting__method="mgda",
                            weighting__gradients="representation"))


@pytest.mark.parametrize("method", ["modo", "sdmgrad"])
def test_multi_batch_methods_get_the_steps_jacobian_and_two_independent_ones(method: str, monkeypatch) -> None:
    from mtlcore.weighting import method_class

    cls = method_class(method)
    seen: list[list[torch.Tensor]] = []
    original = cls.aggregate_batches

    def spy(self, jacobians, losses):
        seen.append([j.clone() for j in jacobians])
        assert len(losses) == 3 and all(tuple(batch.shape) == (2,) for batch in losses)
        return original(self, jacobians, losses)

    monkeypatch.setattr(cls, "aggregate_batches", spy)
    events = train(digits_config(weighting__method=method, optim__max_steps=5))
    assert events[-1].status == "finished", events[-1].reason
    assert len(seen) == 5 and all(len(j) == 3 for j in seen)
    for step_jac, first, second in seen:
        assert step_jac.shape == first.shape == second.shape
        assert not torch.equal(step_jac, first) and not torch.equal(first, second)
    # the step's own batch is the epoch's batch, as for every other method: same first losses as EW
    first_losses = [e.losses for e in events if isinstance(e, StepMetrics)][0]
    ew = [e.losses for e in train(digits_config(optim__max_steps=1)) if isinstance(e, StepMetrics)][0]
    assert first_losses == ew


def test_multi_batch_method_runs_are_reproducible_and_refuse_the_representation() -> None:
    def losses(**over) -> list[dict]:
        return [e.losses for e in train(digits_config(weighting__method="modo", optim__max_steps=6, **over))
                if isinstance(e, StepMetrics)]

    assert losses() == losses()
    assert losses() != losses(seed=1)
    with pytest.raises(ConfigError, match="representation"):
        train(digits_config(weighting__method="modo", weighting__gradients="representation"))


@pytest.mark.parametrize("arch", ["hps", "mmoe"])
def test_an_independent_batchs_jacobian_is_the_full_one_and_leaves_the_gradients_alone(arch: str) -> None:
    trainer = Trainer(digits_config(model__architecture=arch, weighting__method="modo"))
    trainer.setup()
    state = trainer.extra_batch_gen.get_state()
    jac, losses = trainer._independent_batch_jacobian(trainer.data.train, step=0)
    assert all(p.grad is None for p in trainer.model.parameters())
    trainer.extra_batch_gen.set_state(state)  # the same draw again, through the plain full Jacobian
    idx = torch.randperm(len(trainer.data.train), generator=trainer.extra_batch_gen)[:trainer.batch_size]
    x, ys = trainer._input(trainer.data.train, idx)
    full_losses, _ = trainer._forward_losses(x, ys)
    torch.testing.assert_close(losses, full_losses.detach())
    torch.testing.assert_close(jac, gradients.jacobian(full_losses, trainer.shared), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ["hps", "mmoe"])
@pytest.mark.parametrize("heads", ["weighted", "unweighted"])
def test_heads_get_the_weighted_or_the_plain_task_gradients(arch: str, heads: str) -> None:
    """weighting.heads = weighted: a head's .grad is w_i times the gradient of L_i (the Nash-MTL, FairGrad
    and IMTL references backpropagate sum_i w_i L_i); unweighted: the gradient of L_i. Both on the
    representation fast path (hps) and on the full-Jacobian path (mmoe)."""
    trainer = Trainer(digits_config(model__architecture=arch, weighting__method="mgda", weighting__heads=heads))
    trainer.setup()
    idx = torch.arange(48)
    x, ys = trainer._input(trainer.data.train, idx)
    losses, _ = trainer._forward_losses(x, ys)
    full = gradients.jacobian(losses, trainer.shared + trainer.specific)
    n_sh = sum(p.numel() for p in trainer.shared)
    weights = create("mgda", 2).aggregate(full[:, :n_sh].double(), losses.detach().double()).weights
    assert weights is not None and abs(float(weights[0] - weights[1])) > 0.05  # a case where it matters
    coef = weights.float() if heads == "weighted" else torch.ones(2)
    trainer.optimizer.zero_grad(set_to_none=True)
    _, logged, _ = trainer._train_step(trainer.data.train, idx, 0, False)
    torch.testing.assert_close(logged, weights.float(), rtol=1e-4, atol=1e-5)
    head_grads = torch.cat([p.grad.reshape(-1) for p in trainer.specific])
    torch.testing.assert_close(head_grads, coef @ full[:, n_sh:], rtol=1e-4, atol=1e-6)


def test_famo_clips_the_shared_gradient_as_its_official_code() -> None:
    """FAMO clips the gradient on the shared parameters to max_norm (default 1, as the official code);
    0 leaves it alone. A clip below this batch's norm shows it acting."""
    assert create("famo", 2).shared_max_norm() == 1.0
    norms = {}
    for max_norm in (0.1, 0.0):
        trainer = Trainer(digits_config(weighting__method="famo", weighting__params={"max_norm": max_norm},
                                        optim__lr=1e-9))
        trainer.setup()
        trainer._train_step(trainer.data.train, torch.arange(64), 0, False)
        norms[max_norm] = float(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in trainer.shared])))
    assert norms[0.0] > 0.2  # this batch's gradient is larger than the clip
    assert norms[0.1] == pytest.approx(0.1, rel=1e-5)


def test_per_layer_gradvac_gets_the_shared_layers_and_trains() -> None:
    """The trainer hands a per-layer method one block per layer (weight and bias together)."""
    trainer = Trainer(digits_config(weighting__method="gradvac", weighting__params={"granularity": "layer"}))
    trainer.setup()
    layers = [m for m in trainer.model.modules()
              if any(id(p) in {id(s) for s in trainer.shared} for p in m.parameters(recurse=False))]
    assert list(trainer.method.blocks) == [sum(p.numel() for p in m.parameters(recurse=False)) for m in layers]
    assert len(layers) >= 2
    events = train(digits_config(weighting__method="gradvac", weighting__params={"granularity": "layer"},
                                 optim__max_steps=6))
    assert events[-1].status == "finished", events[-1].reason
    assert gradients.HEAD_MODES == __import__("mtlcore.config", fromlist=["HEAD_MODES"]).HEAD_MODES
