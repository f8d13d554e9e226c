from __future__ import annotations

import itertools
import json

import pytest
import torch

from mtlcore.models import ARCHITECTURES, build_model, describe
from mtlcore.models.cross_stitch import CrossStitchModel, initial_mixing, mix_columns
from mtlcore.models.mmoe import MixtureOfExpertsModel
from mtlcore.models.soft_sharing import SoftSharingModel
from mtlcore.models.trunks import multilenet_flat_size, resolve_trunk_kind
from mtlcore.registry import ConfigError
from mtlcore.tasks import TaskSpec, task_loss

ARCHS = ["hps", "single_task", "soft_sharing", "cross_stitch", "mmoe", "cgc", "ple", "dselect_k", "mtan"]
INPUTS = [(1, 36, 36), (1, 8, 16), (250,)]
MIXED_TASKS = {
    "label": TaskSpec("label", "classification", 10),
    "value": TaskSpec("value", "regression", 1),
    "image": TaskSpec("image", "reconstruction", 784, out_shape=(1, 28, 28)),
}
EXPECTED_SHAPES = {"label": (10,), "value": (1,), "image": (1, 28, 28)}
TWO_CLASSIFIERS = {t: TaskSpec(t, "classification", 10) for t in ("left", "right")}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # these models are tiny: one thread avoids oversubscribing a shared 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(arch: str, input_shape: tuple[int, ...], tasks: dict[str, TaskSpec] = MIXED_TASKS, seed: int = 0,
          **params):
    torch.manual_seed(seed)
    return build_model(arch, input_shape, tasks, params)


def batch(input_shape: tuple[int, ...], n: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.rand((n, *input_shape), generator=torch.Generator().manual_seed(seed))


def test_registry_lists_every_architecture_with_json_metadata() -> None:
    assert ARCHITECTURES.names() == ARCHS + ["tutorial_cnn"]  # the image-only one is tested in test_vision_models
    described = describe()
    json.dumps(described)
    for d in described:
        assert d["title"] and d["summary"] and "info" not in d
        expected = {"trunk", "head_hidden", "dropout"} | ({"depth", "width"} if d["name"] in ARCHS else set())
        assert expected <= {p["name"] for p in d["params"]}
    assert {p["name"] for p in described[2]["params"]} >= {"penalty"}
    assert {p["name"] for p in described[4]["params"]} >= {"n_experts"}


@pytest.mark.parametrize("input_shape", INPUTS)
@pytest.mark.parametrize("arch", ARCHS)
def test_outputs_and_parameter_partition(arch: str, input_shape: tuple[int, ...]) -> None:
    model = build(arch, input_shape)
    assert model.tasks == list(MIXED_TASKS)
    out = model(batch(input_shape))
    assert list(out) == model.tasks
    for task, shape in EXPECTED_SHAPES.items():
        assert tuple(out[task].shape) == (5, *shape)
    assert float(out["image"].detach().min()) >= 0.0 and float(out["image"].detach().max()) <= 1.0
    # task_loss accepts the outputs against targets of the data sets' shapes
    task_loss(MIXED_TASKS["value"], out["value"], torch.zeros(5))
    task_loss(MIXED_TASKS["image"], out["image"], torch.zeros(5, 1, 28, 28))

    groups = [model.shared_parameters()] + [model.task_parameters(t) for t in model.tasks]
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids)), "a parameter is listed twice"
    assert set(ids) == {id(p) for p in model.parameters()}
    assert all(model.task_parameters(t) for t in model.tasks)
    if arch in ("single_task", "soft_sharing"):
        assert model.shared_parameters() == [] and not model.has_representation


@pytest.mark.parametrize("trunk,input_shape", [("cnn", (1, 36, 36)), ("mlp", (1, 8, 16)), ("multilenet", (1, 28, 28))])
@pytest.mark.parametrize("arch", ARCHS)
def test_explicit_trunks_build_and_partition(arch: str, trunk: str, input_shape: tuple[int, ...]) -> None:
    model = build(arch, input_shape, TWO_CLASSIFIERS, trunk=trunk, depth=2, width=8)
    out = model(batch(input_shape, n=3))
    assert all(tuple(v.shape) == (3, 10) for v in out.values())
    listed = model.shared_parameters() + [p for t in model.tasks for p in model.task_parameters(t)]
    assert sorted(map(id, listed)) == sorted(map(id, model.parameters()))


@pytest.mark.parametrize("input_shape", INPUTS)
@pytest.mark.parametrize("arch", ARCHS)
def test_a_task_loss_never_reaches_another_tasks_parameters(arch: str, input_shape: tuple[int, ...]) -> None:
    model = build(arch, input_shape)
    x = batch(input_shape)
    for task in model.tasks:
        model.zero_grad(set_to_none=True)
        model(x)[task].square().mean().backward()
        own = model.task_parameters(task)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in own)
        if model.shared_parameters():
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.shared_parameters())
        for other in model.tasks:
            if other != task:
                assert all(p.grad is None or not p.grad.any() for p in model.task_parameters(other)), (task, other)


@pytest.mark.parametrize("input_shape", INPUTS)
@pytest.mark.parametrize("arch", ARCHS)
def test_representation_reproduces_forward_where_claimed(arch: str, input_shape: tuple[int, ...]) -> None:
    model = build(arch, input_shape)
    x = batch(input_shape)
    if arch == "hps":
        assert model.has_representation
        rep = model.representation(x)
        assert rep.shape == (5, model.trunk.out_dim)
        direct, via_rep = model(x), model.heads_forward(rep)
        for task in model.tasks:
            torch.testing.assert_close(via_rep[task], direct[task], rtol=0, atol=0)
    else:
        assert not model.has_representation
        with pytest.raises(NotImplementedError):
            model.representation(x)


@pytest.mark.parametrize("arch", ARCHS)
def test_building_is_deterministic_given_the_seed(arch: str) -> None:
    a, b, c = build(arch, (1, 8, 16)), build(arch, (1, 8, 16)), build(arch, (1, 8, 16), seed=1)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


@pytest.mark.parametrize("arch", ARCHS)
def test_channels_last_gives_the_same_outputs(arch: str) -> None:
    model = build(arch, (1, 36, 36), TWO_CLASSIFIERS, trunk="cnn", depth=2, width=8)
    x = batch((1, 36, 36), n=4)
    plain = model(x)
    model = model.to(memory_format=torch.channels_last)
    fast = model(x.contiguous(memory_format=torch.channels_last))
    for task in model.tasks:
        torch.testing.assert_close(fast[task], plain[task], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_autocast_forward_is_finite(arch: str) -> None:
    model = build(arch, (1, 36, 36))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch((1, 36, 36)))
    assert all(bool(torch.isfinite(v.float()).all()) for v in out.values())


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_learns_a_small_problem(arch: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 20, generator=gen)
    w = torch.randn(20, 2, generator=gen)
    targets = {"a": (x @ w[:, 0]), "b": (x @ w[:, 1]).tanh()}
    tasks = {t: TaskSpec(t, "regression", 1) for t in targets}
    model = build(arch, (20,), tasks, width=16, n_experts=2) if arch == "mmoe" else build(arch, (20,), tasks, width=16)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)

    def total() -> torch.Tensor:
        out = model(x)
        loss = sum(task_loss(tasks[t], out[t], targets[t]) for t in tasks)
        reg = model.regularization()
        return loss + reg if reg is not None else loss

    first = float(total().detach())
    for _ in range(40):
        opt.zero_grad()
        total().backward()
        opt.step()
    assert float(total().detach()) < 0.3 * first


def test_auto_trunk_rule() -> None:
    assert resolve_trunk_kind("auto", (1, 36, 36)) == "multilenet"
    assert resolve_trunk_kind("auto", (1, 28, 28)) == "multilenet"
    assert resolve_trunk_kind("auto", (3, 27, 40)) == "cnn"
    assert resolve_trunk_kind("auto", (1, 8, 16)) == "cnn"
    assert resolve_trunk_kind("auto", (250,)) == "mlp"
    assert resolve_trunk_kind("mlp", (1, 8, 16)) == "mlp"
    assert resolve_trunk_kind("auto", torch.Size([1, 8, 16])) == "cnn"  # sizes need not be plain ints


def test_multilenet_has_the_papers_layer_sizes() -> None:
    model = build("hps", (1, 36, 36), TWO_CLASSIFIERS)
    assert model.trunk.kind == "multilenet"
    weights = [p.shape for name, p in model.trunk.named_parameters() if name.endswith("weight")]
    assert weights == [(10, 1, 9, 9), (20, 10, 5, 5), (50, 500)]
    assert [tuple(h.net.weight.shape) for h in model.heads] == [(10, 50), (10, 50)]
    assert sum(p.numel() for p in model.parameters()) == 820 + 5020 + 25050 + 2 * 510
    assert multilenet_flat_size((1, 36, 36)) == 500 and multilenet_flat_size((1, 28, 28)) == 180
    assert multilenet_flat_size((1, 8, 16)) == 0


def test_head_hidden_adds_a_hidden_layer() -> None:
    model = build("hps", (250,), TWO_CLASSIFIERS, head_hidden=16, width=32)
    shapes = [tuple(p.shape) for p in model.task_parameters("left")]
    assert shapes == [(16, 32), (16,), (10, 16), (10,)]


@pytest.mark.parametrize("params,message", [
    ({"trunk": "resnet"}, "trunk"),
    ({"depth": 0}, "depth"),
    ({"width": 0}, "width"),
    ({"head_hidden": -1}, "head_hidden"),
    ({"dropuot": 0.5}, "unknown parameter"),
    ({"dropout": 1.5}, "dropout"),
])
@pytest.mark.parametrize("arch", ARCHS)
def test_bad_parameters_are_config_errors(arch: str, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(arch, (1, 36, 36), TWO_CLASSIFIERS, **params)


@pytest.mark.parametrize("input_shape,params,message", [
    ((250,), {"trunk": "cnn"}, "image"),
    ((250,), {"trunk": "multilenet"}, "image"),
    ((1, 8, 16), {"trunk": "multilenet"}, "20x20"),
    ((1, 8, 16), {"trunk": "cnn", "depth": 4}, "depth <= 3"),
    ((1, 8), {}, "vectors"),
])
def test_inputs_a_trunk_cannot_read_are_config_errors(input_shape, params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build("hps", input_shape, TWO_CLASSIFIERS, **params)


def test_bad_tasks_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="at least one task"):
        build("hps", (250,), {})
    bad = {"img": TaskSpec("img", "reconstruction", 100, out_shape=(1, 28, 28))}
    with pytest.raises(ConfigError, match="out_shape"):
        build("cross_stitch", (250,), bad)
    with pytest.raises(ConfigError, match="unknown task"):
        build("mmoe", (250,), TWO_CLASSIFIERS).task_parameters("middle")
    for arch, params in (("soft_sharing", {"penalty": -1.0}), ("mmoe", {"n_experts": 0}),
                         ("cross_stitch", {"self_weight": 1.5})):
        with pytest.raises(ConfigError):
            build(arch, (250,), TWO_CLASSIFIERS, **params)


def _tie_trunks(model: SoftSharingModel) -> None:
    with torch.no_grad():
        for trunk in model.trunks[1:]:
            for p, p0 in zip(trunk.parameters(), model.trunks[0].parameters()):
                p.copy_(p0)


def test_soft_sharing_penalty_is_zero_for_identical_trunks_and_positive_otherwise() -> None:
    model = build("soft_sharing", (1, 8, 16), TWO_CLASSIFIERS, penalty=0.1)
    assert isinstance(model, SoftSharingModel)
    assert float(model.regularization().detach()) > 0
    _tie_trunks(model)
    assert float(model.regularization().detach()) == 0.0
    assert build("soft_sharing", (250,), TWO_CLASSIFIERS, penalty=0.0).regularization() is None
    assert build("hps", (250,), TWO_CLASSIFIERS).regularization() is None


def test_soft_sharing_penalty_is_the_sum_over_pairs() -> None:
    tasks = {t: TaskSpec(t, "classification", 3) for t in "abc"}
    model = build("soft_sharing", (250,), tasks, penalty=0.5, width=16)
    flat = [torch.cat([p.reshape(-1) for p in trunk.parameters()]) for trunk in model.trunks]
    brute = sum((flat[i] - flat[j]).square().sum() for i, j in itertools.combinations(range(3), 2))
    torch.testing.assert_close(model.regularization(), 0.5 * brute)


def test_soft_sharing_gradient_pulls_the_trunks_together() -> None:
    model = build("soft_sharing", (250,), TWO_CLASSIFIERS, penalty=0.1, width=16)
    reg = model.regularization()
    reg.backward()
    for p0, p1 in zip(model.trunks[0].parameters(), model.trunks[1].parameters()):
        torch.testing.assert_close(p0.grad, 2 * 0.1 * (p0 - p1).detach())
        torch.testing.assert_close(p1.grad, -p0.grad)
    assert all(p.grad is None for h in model.heads for p in h.parameters())
    before = float(model.trunk_distance().detach())
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    assert float(model.trunk_distance().detach()) < before


def test_cross_stitch_units_start_near_identity() -> None:
    three = {t: TaskSpec(t, "classification", 4) for t in "abc"}
    model = build("cross_stitch", (250,), three, depth=3)
    assert isinstance(model, CrossStitchModel)
    assert len(model.units) == 3
    for m in model.mixing_matrices():
        torch.testing.assert_close(m, torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]]))
    assert {id(u) for u in model.units} <= {id(p) for p in model.shared_parameters()}
    assert torch.equal(initial_mixing(1, 0.9), torch.ones(1, 1))


def test_cross_stitch_columns_only_interact_through_the_units() -> None:
    x = batch((250,))
    for self_weight, coupled in ((1.0, False), (0.9, True)):
        model = build("cross_stitch", (250,), TWO_CLASSIFIERS, self_weight=self_weight)
        model(x)["left"].square().mean().backward()
        other_column = list(model.columns[1].parameters())
        assert any(p.grad is not None and p.grad.any() for p in other_column) == coupled


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_mix_columns_matches_the_definition(layout: torch.memory_format) -> None:
    gen = torch.Generator().manual_seed(0)
    cols = [torch.randn(2, 3, 4, 5, generator=gen).contiguous(memory_format=layout) for _ in range(3)]
    a = torch.randn(3, 3, generator=gen)
    mixed = mix_columns(a, cols)
    for i in range(3):
        torch.testing.assert_close(mixed[i], sum(a[i, j] * cols[j] for j in range(3)))
        assert mixed[i].is_contiguous(memory_format=layout)


def test_mmoe_gates_are_distributions_over_the_experts() -> None:
    model = build("mmoe", (1, 8, 16), TWO_CLASSIFIERS, n_experts=4)
    assert isinstance(model, MixtureOfExpertsModel)
    x = batch((1, 8, 16))
    gates = model.gate_weights(x)
    assert gates.shape == (5, 2, 4)
    torch.testing.assert_close(gates.sum(-1), torch.ones(5, 2))
    assert model.expert_outputs(x).shape == (5, 4, model.experts[0].out_dim)
    assert len(model.experts) == 4


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_sharing_metadata_matches_the_built_model(arch: str) -> None:
    """What the registry promises gradient methods (read by RunConfig.validate and the pages before
    anything is built) is what the model does: it cannot drift from the code."""
    described = {d["name"]: d for d in describe()}[arch]
    assert isinstance(described["shares_parameters"], bool) and isinstance(described["has_representation"], bool)
    accepted = {p["name"] for p in described["params"]}
    sizes = {k: v for k, v in {"depth": 1, "width": 8}.items() if k in accepted}
    image_only = "mlp" not in next(p["choices"] for p in described["params"] if p["name"] == "trunk")
    for input_shape in ((1, 12, 16), (3, 10, 10)) if image_only else ((250,), (1, 8, 16)):
        model = build(arch, input_shape, TWO_CLASSIFIERS, **sizes)
        assert bool(model.shared_parameters()) == described["shares_parameters"], input_shape
        assert model.has_representation == described["has_representation"], input_shape
        if described["has_representation"]:  # and the representation is usable as claimed
            out = model.heads_forward(model.representation(batch(input_shape)))
            assert list(out) == list(TWO_CLASSIFIERS)


# -- CGC, PLE, DSelect-k, MTAN ------------------------------------------------------------------


def test_ple_with_one_layer_is_cgc() -> None:
    cgc, ple = build("cgc", (250,), TWO_CLASSIFIERS), build("ple", (250,), TWO_CLASSIFIERS, n_layers=1)
    assert [p.shape for p in cgc.parameters()] == [p.shape for p in ple.parameters()]
    for a, b in zip(cgc.parameters(), ple.parameters()):
        assert torch.equal(a, b)
    x = batch((250,))
    for task in cgc.tasks:
        torch.testing.assert_close(ple(x)[task], cgc(x)[task], rtol=0, atol=0)


@pytest.mark.parametrize("params", [{"n_layers": 3}, {"n_layers": 3, "n_specific": 0},
                                    {"n_layers": 2, "n_specific": 2}])
def test_ple_task_parameters_are_exactly_those_only_that_task_reaches(params: dict) -> None:
    three = {t: TaskSpec(t, "classification", 4) for t in "abc"}
    model = build("ple", (250,), three, width=8, **params)
    x = batch((250,))
    reached = {}
    for task in model.tasks:
        model.zero_grad(set_to_none=True)
        model(x)[task].square().mean().backward()
        reached[task] = {id(p) for p in model.parameters() if p.grad is not None and p.grad.any()}
    for task in model.tasks:
        own = {id(p) for p in model.task_parameters(task)}
        others = set().union(*(reached[t] for t in model.tasks if t != task))
        assert own <= reached[task] and not own & others
    for p in model.shared_parameters():  # shared: reached by more than one task
        assert sum(id(p) in reached[t] for t in model.tasks) >= 2


def test_cgc_gives_each_task_its_own_experts() -> None:
    model = build("cgc", (1, 8, 16), TWO_CLASSIFIERS, n_shared=3, n_specific=2, trunk="cnn", depth=1, width=4)
    assert len(model.layer.shared) == 3 and [len(e) for e in model.layer.specific] == [2, 2]
    assert [g.out_features for g in model.layer.gates] == [5, 5]
    shared_only = build("cgc", (250,), TWO_CLASSIFIERS, n_specific=0)
    assert all(len(e) == 0 for e in shared_only.layer.specific)


def test_dselect_k_gates_are_distributions_that_settle_on_at_most_k_experts() -> None:
    from mtlcore.models.dselect_k import smooth_step

    t = torch.tensor([-1.0, -0.5, 0.0, 0.25, 0.5, 2.0])
    torch.testing.assert_close(smooth_step(t, 1.0), torch.tensor([0.0, 0.0, 0.5, 0.84375, 1.0, 1.0]))
    model = build("dselect_k", (1, 8, 16), TWO_CLASSIFIERS, n_experts=8, k=2)
    x = batch((1, 8, 16))
    gates = model.gate_weights(x)
    assert gates.shape == (5, 2, 8)
    torch.testing.assert_close(gates.sum(-1), torch.ones(5, 2))
    with torch.no_grad():  # selector logits far outside the smooth band: each selector has chosen
        for gate in model.gates:
            gate.selector_logits.bias.copy_(torch.tensor([5.0, -5.0, 5.0, -5.0, -5.0, 5.0]))
            gate.selector_logits.weight.zero_()
    chosen = model.gate_weights(x)
    assert ((chosen > 0).sum(-1) <= 2).all()
    assert set(torch.nonzero(chosen[0, 0]).flatten().tolist()) <= {0b101, 0b001}


def test_mtan_masks_select_from_the_shared_features() -> None:
    model = build("mtan", (1, 36, 36), TWO_CLASSIFIERS, trunk="cnn", depth=2, width=4)
    kinds = [type(m.net[0]).__name__ for m in model.attention[0]]
    assert kinds == ["Conv2d", "Conv2d", "Linear"]
    x = batch((1, 36, 36))
    shared = model.trunk(x)
    for attended in model.attended_features(x):
        assert attended.shape == shared.shape
        assert bool((attended.abs() <= shared.abs() + 1e-6).all())  # a mask in (0, 1) times the shared features
