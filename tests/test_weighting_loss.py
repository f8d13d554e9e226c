"""Loss-based weighting methods: the contract the trainer relies on, then each method's behaviour."""

from __future__ import annotations

import math
import re

import pytest
import torch

from mtlcore.registry import ConfigError
from mtlcore.weighting import WEIGHTINGS, available, create, describe
from mtlcore.weighting.loss_based import LOSS_FLOOR

LOSS_METHODS = ("static", "ew", "uw", "dwa", "rlw", "gls", "famo", "stch")


def _losses(values: list[float] | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32).clone().requires_grad_(True)


def _drive(method, losses_seq: list[torch.Tensor]) -> list[torch.Tensor]:
    """Run the trainer's calls for each step (combine, after_step, end_of_epoch every 2 steps)."""
    used = []
    for i, values in enumerate(losses_seq):
        total, weights = method.combine(_losses(values))
        used.append(weights.clone())
        if method.wants_losses_after_step:
            method.after_step(values, values * 0.9 ** (torch.arange(len(values)) + 1))
        if i % 2 == 1:
            method.end_of_epoch(values)
    return used


# -- the registry --------------------------------------------------------------------------------

def test_registry_lists_every_loss_method_with_metadata():
    assert set(LOSS_METHODS) <= set(available())
    by_name = {d["name"]: d for d in describe()}
    for name in LOSS_METHODS:
        meta = by_name[name]
        assert meta["family"] == "loss-based" and meta["kind"] == "loss" and meta["needs"] == "losses"
        assert re.search(r"\b(19|20)\d\d\b", meta["paper"]), f"{name}: paper needs a year"
        assert meta["formula"] and meta["cost"] and meta["title"]
        assert "\n" not in meta["summary"]
        for p in WEIGHTINGS.get(name).factory.params:
            assert p.help
            if p.default is not None:
                assert p.validate(p.default) == p.default
    assert by_name["rlw"]["stochastic"] and not by_name["ew"]["stochastic"]


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_unknown_parameter_is_a_config_error(name):
    with pytest.raises(ConfigError, match="unknown parameter"):
        create(name, 2, not_a_param=1)


@pytest.mark.parametrize("name, params", [
    ("dwa", {"temperature": 0.0}), ("dwa", {"window": -1}), ("dwa", {"window": 2.5}),
    ("famo", {"lr": -0.1}), ("famo", {"gamma": float("nan")}), ("uw", {"init": "zero"}),
    ("famo", {"min_losses": [0.0]}), ("famo", {"min_losses": [0.0, float("inf")]}),
    ("stch", {"mu": 0.0}), ("stch", {"warmup_epochs": 0}),
])
def test_bad_parameter_values_are_config_errors(name, params):
    with pytest.raises(ConfigError):
        create(name, 2, **params)


# -- the contract, for every method and T = 1..10 -------------------------------------------------

@pytest.mark.parametrize("n_tasks", range(1, 11))
@pytest.mark.parametrize("name", LOSS_METHODS)
def test_weights_are_the_gradient_multipliers(name, n_tasks):
    method = create(name, n_tasks)
    method.set_generator(torch.Generator().manual_seed(n_tasks))
    data = torch.Generator().manual_seed(100 + n_tasks)
    for _ in range(5):  # past DWA's two warm-up epochs and a few FAMO updates
        values = torch.rand(n_tasks, generator=data) * 10 ** torch.randint(-3, 3, (n_tasks,), generator=data)
        losses = _losses(values + 1e-4)
        total, weights = method.combine(losses)
        assert total.shape == () and math.isfinite(float(total.detach()))
        assert weights.shape == (n_tasks,) and not weights.requires_grad
        assert bool(torch.isfinite(weights).all()) and bool((weights >= 0).all())
        (grad,) = torch.autograd.grad(total, losses)
        torch.testing.assert_close(grad, weights, rtol=1e-5, atol=1e-7)
        if method.wants_losses_after_step:
            method.after_step(losses.detach(), losses.detach() * 0.9)
        method.end_of_epoch(losses.detach())
    assert method.current_weights() == pytest.approx(weights.tolist())


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_same_generator_seed_gives_the_same_weights(name):
    seq = [torch.rand(4, generator=torch.Generator().manual_seed(i)) + 0.1 for i in range(6)]
    runs = []
    for _ in range(2):
        method = create(name, 4)
        method.set_generator(torch.Generator().manual_seed(3))
        runs.append(torch.stack(_drive(method, seq)))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_reset_restores_the_starting_weights(name):
    seq = [torch.tensor([1.0, 2.0, 3.0]) * 0.5 ** i for i in range(6)]
    method = create(name, 3)
    method.set_generator(torch.Generator().manual_seed(0))
    first = _drive(method, seq)
    method.reset()
    method.set_generator(torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.stack(_drive(method, seq)), torch.stack(first), rtol=0, atol=0)


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_losses_of_the_wrong_shape_are_refused(name):
    with pytest.raises(ConfigError, match="3 task"):
        create(name, 3).combine(_losses([1.0, 2.0]))


# -- static and equal weights --------------------------------------------------------------------

def test_ew_is_the_sum_of_losses():
    total, weights = create("ew", 3).combine(_losses([1.0, 2.0, 4.0]))
    assert float(total.detach()) == pytest.approx(7.0)
    assert weights.tolist() == [1.0, 1.0, 1.0]


def test_static_defaults_to_ones_and_uses_the_weights_as_given():
    assert create("static", 3).current_weights() == [1.0, 1.0, 1.0]
    total, weights = create("static", 2, weights=[0.5, 3]).combine(_losses([2.0, 1.0]))
    assert float(total.detach()) == pytest.approx(4.0)
    assert weights.tolist() == [0.5, 3.0]


@pytest.mark.parametrize("bad", [
    [float("nan"), 1.0], [1.0, float("inf")], [-0.5, 1.0], [0.0, 0.0], [1.0], [1.0, 1.0, 1.0], ["a", 1.0],
])
def test_static_refuses_bad_weights(bad):
    with pytest.raises(ConfigError):
        create("static", 2, weights=bad)
    method = create("static", 2, weights=[2.0, 1.0])
    with pytest.raises(ConfigError):
        method.set_weights(bad)
    assert method.current_weights() == [2.0, 1.0]  # the old weights stay in force
    _, used = method.combine(_losses([1.0, 1.0]))
    assert used.tolist() == [2.0, 1.0]


def test_static_messages_name_the_task_and_the_problem():
    method = create("static", 3)
    with pytest.raises(ConfigError, match=r"task 2 is NaN"):
        method.set_weights([1.0, float("nan"), 1.0])
    with pytest.raises(ConfigError, match=r"task 3 is negative"):
        method.set_weights([1.0, 1.0, -2.0])
    with pytest.raises(ConfigError, match="all are zero"):
        method.set_weights([0, 0, 0])
    with pytest.raises(ConfigError, match="one value per task"):
        method.set_weights([1.0])


def test_static_set_weights_applies_live():
    method = create("static", 2)
    method.combine(_losses([1.0, 1.0]))
    method.set_weights([0.0, 5])
    assert method.current_weights() == [0.0, 5.0]
    total, used = method.combine(_losses([3.0, 2.0]))
    assert used.tolist() == [0.0, 5.0] and float(total.detach()) == pytest.approx(10.0)


# -- uncertainty weighting -----------------------------------------------------------------------

def test_uw_parameters_receive_gradients():
    method = create("uw", 2)
    (s,) = method.parameters()
    assert s.requires_grad and s.is_leaf and s.shape == (2,)
    losses = _losses([2.0, 0.5])
    total, _ = method.combine(losses)
    total.backward()
    torch.testing.assert_close(s.grad, 1 - torch.tensor([2.0, 0.5]))  # d/ds (e^-s L + s) at s = 0


def test_uw_init_sets_the_starting_weight():
    assert create("uw", 2, init=1.0).current_weights() == pytest.approx([math.exp(-1)] * 2)


def test_uw_weights_move_to_inverse_loss_scale():
    method = create("uw", 3)
    opt = torch.optim.SGD(method.parameters(), lr=0.05)
    scales = torch.tensor([0.1, 1.0, 10.0])
    for _ in range(300):
        opt.zero_grad()
        total, _ = method.combine(scales.clone().requires_grad_(True))
        total.backward()
        opt.step()
    weights = torch.tensor(method.current_weights())
    torch.testing.assert_close(weights * scales, torch.ones(3), rtol=0.02, atol=0)
    method.reset()  # in place, so the optimiser above would keep training the same tensor
    assert method.parameters()[0] is opt.param_groups[0]["params"][0]
    assert method.current_weights() == [1.0, 1.0, 1.0]


# -- dynamic weight average ----------------------------------------------------------------------

def test_dwa_equal_for_two_epochs_then_favours_the_slowest_task():
    method = create("dwa", 3)
    assert method.combine(_losses([1.0, 2.0, 3.0]))[1].tolist() == [1.0, 1.0, 1.0]
    method.end_of_epoch(torch.tensor([1.0, 1.0, 1.0]))
    assert method.combine(_losses([1.0, 2.0, 3.0]))[1].tolist() == [1.0, 1.0, 1.0]
    method.end_of_epoch(torch.tensor([0.5, 0.9, 0.7]))
    _, weights = method.combine(_losses([1.0, 1.0, 1.0]))
    expected = 3 * torch.softmax(torch.tensor([0.5, 0.9, 0.7]) / 2.0, 0)
    torch.testing.assert_close(weights, expected)
    assert weights.argmax() == 1 and weights.argmin() == 0
    assert float(weights.sum()) == pytest.approx(3.0)
    method.end_of_epoch(torch.tensor([0.45, 0.45, 0.7]))  # only the last two epochs count
    _, weights = method.combine(_losses([1.0, 1.0, 1.0]))
    torch.testing.assert_close(weights, 3 * torch.softmax(torch.tensor([0.9, 0.5, 1.0]) / 2.0, 0))


def test_dwa_lower_temperature_sharpens_the_weights():
    spread = {}
    for temperature in (0.5, 5.0):
        method = create("dwa", 2, temperature=temperature)
        method.end_of_epoch(torch.tensor([1.0, 1.0]))
        method.end_of_epoch(torch.tensor([0.2, 1.0]))
        weights = method.combine(_losses([1.0, 1.0]))[1]
        spread[temperature] = float(weights[1] - weights[0])
    assert spread[0.5] > spread[5.0] > 0


def test_dwa_window_uses_step_means_and_ignores_epochs():
    method = create("dwa", 2, window=2)
    seen = []
    for values in ([1.0, 1.0], [1.0, 1.0], [0.2, 1.0], [0.2, 1.0], [1.0, 1.0]):
        seen.append(method.combine(_losses(values))[1].tolist())
        method.end_of_epoch(torch.tensor([5.0, 0.1]))  # must not count in window mode
    assert seen[:4] == [[1.0, 1.0]] * 4  # two full windows are needed first
    expected = 2 * torch.softmax(torch.tensor([0.2, 1.0]) / 2.0, 0)
    assert seen[4] == pytest.approx(expected.tolist())


def test_dwa_survives_a_zero_loss():
    method = create("dwa", 2)
    method.end_of_epoch(torch.tensor([0.0, 1.0]))
    method.end_of_epoch(torch.tensor([1.0, 1.0]))
    weights = method.combine(_losses([1.0, 1.0]))[1]
    assert bool(torch.isfinite(weights).all()) and weights.argmax() == 0


# -- random loss weighting -----------------------------------------------------------------------

def _rlw_draws(seed: int, steps: int = 5) -> torch.Tensor:
    method = create("rlw", 3)
    method.set_generator(torch.Generator().manual_seed(seed))
    return torch.stack([method.combine(_losses([1.0, 1.0, 1.0]))[1] for _ in range(steps)])


def test_rlw_reproducible_per_seed_and_different_across_seeds():
    torch.testing.assert_close(_rlw_draws(1), _rlw_draws(1), rtol=0, atol=0)
    assert not torch.allclose(_rlw_draws(1), _rlw_draws(2))
    draws = _rlw_draws(1)
    assert not torch.allclose(draws[0], draws[1])  # a fresh draw every step


def test_rlw_weights_sum_to_t_and_average_one():
    draws = _rlw_draws(0, steps=3000)
    torch.testing.assert_close(draws.sum(1), torch.full((3000,), 3.0))
    torch.testing.assert_close(draws.mean(0), torch.ones(3), rtol=0, atol=0.05)


# -- geometric loss strategy ---------------------------------------------------------------------

def test_gls_is_the_geometric_mean():
    values = [0.3, 2.0, 7.5, 0.01]
    total, weights = create("gls", 4).combine(_losses(values))
    assert float(total.detach()) == pytest.approx(math.prod(values) ** (1 / 4), rel=1e-5)
    assert weights.tolist() == pytest.approx([float(total.detach()) / (4 * v) for v in values], rel=1e-5)


def test_gls_floors_a_zero_loss_instead_of_collapsing():
    losses = _losses([0.0, 4.0])
    total, weights = create("gls", 2).combine(losses)
    assert float(total.detach()) == pytest.approx(math.sqrt(LOSS_FLOOR * 4.0), rel=1e-4)
    assert weights[0] == 0 and weights[1] > 0
    total.backward()
    assert bool(torch.isfinite(losses.grad).all()) and losses.grad[0] == 0


# -- FAMO ----------------------------------------------------------------------------------------

def test_famo_weights_are_normalised_inverse_gaps():
    method = create("famo", 3, min_losses=[0.5, 0.0, 0.0])
    _, weights = method.combine(_losses([1.0, 1.0, 4.0]))
    inverse = torch.tensor([1 / 0.5, 1.0, 1 / 4.0])
    torch.testing.assert_close(weights, inverse / inverse.sum())
    assert method.parameters() == []


def test_famo_after_step_upweights_the_task_that_improved_less():
    method = create("famo", 2)
    before = torch.tensor([1.0, 1.0])
    method.combine(_losses(before))
    method.after_step(before, torch.tensor([0.5, 0.9]))
    assert method.logits[1] > method.logits[0]
    _, weights = method.combine(_losses([1.0, 1.0]))
    assert weights[1] > weights[0] and float(weights.sum()) == pytest.approx(1.0)
    previous = float(weights[1])
    for _ in range(5):  # keeps moving the same way while task 2 keeps lagging
        method.after_step(before, torch.tensor([0.5, 0.9]))
        current = float(method.combine(_losses([1.0, 1.0]))[1][1])
        assert current > previous
        previous = current


def test_famo_balanced_progress_leaves_weights_alone():
    method = create("famo", 3, gamma=0.0)
    method.after_step(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.5, 1.0, 2.0]))  # same log decrease
    torch.testing.assert_close(method.logits.detach(), torch.zeros(3))


def test_famo_skips_a_non_finite_reevaluation_and_reset_recreates_state():
    method = create("famo", 2)
    method.after_step(torch.tensor([1.0, 1.0]), torch.tensor([float("inf"), 0.5]))
    torch.testing.assert_close(method.logits.detach(), torch.zeros(2))
    method.after_step(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.9]))
    assert method.logits[0] != method.logits[1] and method._optimizer.state
    method.reset()
    torch.testing.assert_close(method.logits.detach(), torch.zeros(2))
    assert not method._optimizer.state and method.current_weights() is None


def test_to_device_keeps_learned_tensors_usable():
    uw = create("uw", 2).to(torch.device("cpu"))
    (s,) = uw.parameters()
    assert s.is_leaf and s.requires_grad
    famo = create("famo", 2)
    famo.after_step(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.9]))
    logits = famo.logits.detach().clone()
    famo.to("cpu")
    torch.testing.assert_close(famo.logits.detach(), logits)
    famo.after_step(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.9]))
    assert famo.logits[1] - famo.logits[0] > logits[1] - logits[0]


# -- STCH ----------------------------------------------------------------------------------------

def test_stch_warms_up_on_log_losses_then_uses_the_last_warmup_epochs_mean_as_nadir():
    method = create("stch", 2, warmup_epochs=2)
    total, weights = method.combine(_losses([2.0, 0.5]))
    assert float(total.detach()) == pytest.approx(math.log(2.0) + math.log(0.5))
    assert weights.tolist() == pytest.approx([0.5, 2.0])
    method.end_of_epoch(torch.tensor([9.0, 9.0]))  # first warm-up epoch: no nadir yet
    assert method.nadir is None
    method.end_of_epoch(torch.tensor([2.0, 0.5]))
    assert method.nadir.tolist() == [2.0, 0.5]
    method.end_of_epoch(torch.tensor([5.0, 5.0]))  # later epochs leave the nadir alone
    assert method.nadir.tolist() == [2.0, 0.5]


def test_stch_after_warmup_is_the_smooth_maximum_of_log_ratios():
    method = create("stch", 3, mu=0.5)
    method.end_of_epoch(torch.tensor([1.0, 2.0, 4.0]))
    values = torch.tensor([1.5, 2.0, 2.0])
    total, weights = method.combine(_losses(values))
    u = torch.log(values / torch.tensor([1.0, 2.0, 4.0]))
    assert float(total.detach()) == pytest.approx(3 * 0.5 * float(torch.logsumexp(u / 0.5, 0)), rel=1e-6)
    torch.testing.assert_close(weights, 3 * torch.softmax(u / 0.5, 0) / values)


def test_stch_small_mu_puts_the_weight_on_the_worst_task_relative_to_its_nadir():
    method = create("stch", 3, mu=1e-3)
    method.end_of_epoch(torch.tensor([1.0, 1.0, 1.0]))
    _, weights = method.combine(_losses([0.5, 1.2, 0.9]))  # task 2 is the furthest above its nadir
    torch.testing.assert_close(weights, torch.tensor([0.0, 3 / 1.2, 0.0]), rtol=1e-6, atol=1e-6)


def test_stch_can_warm_up_over_steps_and_then_ignores_epochs():
    method = create("stch", 2, warmup_steps=2)
    for values in ([1.0, 4.0], [3.0, 2.0]):
        _, weights = method.combine(_losses(values))
        assert weights.tolist() == pytest.approx([1 / values[0], 1 / values[1]])
        method.end_of_epoch(torch.tensor([9.0, 9.0]))  # epochs do not count in step mode
    assert method.nadir.tolist() == [2.0, 3.0]
    _, weights = method.combine(_losses([2.0, 3.0]))  # at the nadir: softmax of zeros
    assert weights.tolist() == pytest.approx([1 / 2.0, 1 / 3.0])
