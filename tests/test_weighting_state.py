"""Every method's running state survives state_dict -> torch.save -> torch.load(weights_only) -> load_state_dict.

The property a resumed run needs: a fresh method loaded with the saved state continues exactly as the
original would have (bit for bit), for every registered method, stateful or stochastic.
"""

from __future__ import annotations

import io

import pytest
import torch

from mtlcore.weighting import GradientWeighting, LossWeighting, Weighting, available, create

pytestmark = pytest.mark.usefixtures("single_torch_thread")

# short warm-ups / windows so the state under test has left its initial phase within a few steps
PARAMS = {"dwa": {"window": 2}, "stch": {"warmup_steps": 2}, "excess_mtl": {"warmup_steps": 2}}
T, N = 3, 12


def build(name: str, seed: int = 5) -> tuple[Weighting, torch.optim.Optimizer | None]:
    method = create(name, T, **PARAMS.get(name, {}))
    method.set_generator(torch.Generator().manual_seed(seed))
    learned = method.parameters()
    return method, (torch.optim.SGD(learned, lr=0.1) if learned else None)


def problem(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    jac = torch.randn(T, N, generator=g, dtype=torch.float64) * torch.tensor([[1.0], [3.0], [0.2]],
                                                                           dtype=torch.float64)
    losses = torch.rand(T, generator=g, dtype=torch.float64) + 0.1
    return jac, losses


def one_step(method: Weighting, optimizer: torch.optim.Optimizer | None, step: int) -> list[torch.Tensor]:
    """One step of the method's interface; returns what the trainer would use from it."""
    jac, losses = problem(step)
    if isinstance(method, LossWeighting):
        values = (losses.float() * (1 + torch.arange(T) / 10)).requires_grad_(True)
        total, weights = method.combine(values)
        if optimizer is not None:
            optimizer.zero_grad()
        total.backward()
        if optimizer is not None:
            optimizer.step()
        if method.wants_losses_after_step:
            method.after_step(values.detach(), values.detach() * 0.9)
        if step % 3 == 2:
            method.end_of_epoch(values.detach())
        return [total.detach(), weights.detach(), values.grad]
    assert isinstance(method, GradientWeighting)
    if method.batches_per_step > 1:
        extra = [problem(step + 500 * k) for k in range(1, method.batches_per_step)]
        agg = method.aggregate_batches([jac] + [j for j, _ in extra], [losses] + [loss for _, loss in extra])
    else:
        agg = method.aggregate(jac, losses)
    if step % 3 == 2:
        method.end_of_epoch(losses.float())
    return [agg.direction] + ([] if agg.weights is None else [agg.weights])


def saved_and_loaded(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name", available())
def test_a_restored_method_continues_exactly_as_the_original(name: str) -> None:
    original, opt = build(name)
    for step in range(5):
        one_step(original, opt, step)
    state = saved_and_loaded(original.state_dict())
    opt_state = None if opt is None else saved_and_loaded(opt.state_dict())

    restored, restored_opt = build(name, seed=99)  # a different generator seed: the state must set it
    restored.load_state_dict(state)
    if restored_opt is not None:
        restored_opt.load_state_dict(opt_state)
    for step in range(5, 10):
        expected, got = one_step(original, opt, step), one_step(restored, restored_opt, step)
        assert len(expected) == len(got)
        for a, b in zip(expected, got):
            assert torch.equal(a, b), f"{name} differs at step {step}: {a} vs {b}"


STATEFUL = ["uw", "famo", "db_mtl", "gradnorm", "gradvac", "imtl", "nash_mtl", "dwa", "stch", "moco", "excess_mtl",
            "cr_mogm", "pcd", "modo", "sdmgrad", "rlw", "graddrop"]


@pytest.mark.parametrize("name", STATEFUL)
def test_without_the_saved_state_the_continuation_differs(name: str) -> None:
    """The property above is not vacuous: these methods' next steps depend on what was saved."""
    original, opt = build(name)
    for step in range(5):
        one_step(original, opt, step)
    fresh, fresh_opt = build(name, seed=99)
    differs = False
    for step in range(5, 10):
        expected, got = one_step(original, opt, step), one_step(fresh, fresh_opt, step)
        differs = differs or any(not torch.equal(a, b) for a, b in zip(expected, got))
    assert differs


def test_uw_log_variances_are_a_parameter_in_the_state_dict() -> None:
    method, opt = build("uw")
    for step in range(3):
        one_step(method, opt, step)
    assert [p is method.log_variance for p in method.parameters()] == [True]
    assert torch.equal(method.state_dict()["log_variance"], method.log_variance.detach())
    assert not torch.equal(method.log_variance.detach(), torch.zeros(T))


def test_db_mtl_ema_is_a_state_entry_and_a_fresh_method_loads_it() -> None:
    method, _ = build("db_mtl")
    for step in range(3):
        one_step(method, None, step)
    state = saved_and_loaded(method.state_dict())
    assert torch.equal(state["averaged"], method.averaged)
    fresh, _ = build("db_mtl")
    assert fresh.averaged is None
    fresh.load_state_dict(state)
    assert torch.equal(fresh.averaged, method.averaged) and fresh.averaged is not method.averaged


def test_famo_logits_are_restored_in_place_for_its_own_optimiser() -> None:
    method, _ = build("famo")
    for step in range(4):
        one_step(method, None, step)
    fresh, _ = build("famo")
    logits = fresh.logits
    fresh.load_state_dict(saved_and_loaded(method.state_dict()))
    assert fresh.logits is logits and torch.equal(logits, method.logits)
    assert fresh._optimizer.param_groups[0]["params"][0] is logits


def test_state_of_another_method_is_refused() -> None:
    method, _ = build("db_mtl")
    other, _ = build("moco")
    with pytest.raises(ValueError, match="db_mtl"):
        other.load_state_dict(method.state_dict())
