"""The tutorial CNN, the ResNet-18 trunk (with every gradient method) and dropout before the heads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtlcore.config import RunConfig
from mtlcore.data.base import PreparedData, Split
from mtlcore.events import Finished
from mtlcore.models import build_model
from mtlcore.models.trunks import tutorial_flat_size
from mtlcore.registry import ConfigError
from mtlcore.tasks import TaskSpec
from mtlcore.trainer import train
from mtlcore.weighting import describe

TASKS = {"class": TaskSpec("class", "classification", 10), "angle": TaskSpec("angle", "regression", 1)}
GRADIENT_METHODS = [d["name"] for d in describe() if d["kind"] == "gradient"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_images(shape: tuple[int, int, int], n: int = 24, seed: int = 0) -> PreparedData:
    g = torch.Generator().manual_seed(seed)

    def split(m: int) -> Split:
        x = torch.randint(0, 256, (m, *shape), dtype=torch.uint8, generator=g)
        return Split(x, {"class": torch.randint(0, 10, (m,), generator=g), "angle": torch.randn(m, generator=g)})

    return PreparedData("tiny", shape, dict(TASKS), split(n), split(8), split(8))


def test_tutorial_cnn_has_the_tutorials_layers() -> None:
    model = build_model("tutorial_cnn", (3, 32, 32), TASKS)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 32, (3, 3)), (32, 64, (3, 3))]
    fc = model.trunk.blocks[-1][1]
    assert (fc.in_features, fc.out_features) == (64 * 6 * 6, 512) == (tutorial_flat_size((3, 32, 32)), 512)
    out = model(torch.rand(4, 3, 32, 32))
    assert out["class"].shape == (4, 10) and out["angle"].shape == (4, 1)
    assert model.has_representation and model.representation(torch.rand(2, 3, 32, 32)).shape == (2, 512)


def test_tutorial_cnn_reads_one_channel_images_and_refuses_vectors() -> None:
    model = build_model("tutorial_cnn", (1, 36, 36), TASKS)
    assert model.trunk.blocks[0][1].in_channels == 1 and model(torch.rand(2, 1, 36, 36))["class"].shape == (2, 10)
    with pytest.raises(ConfigError, match="image"):
        build_model("tutorial_cnn", (250,), TASKS)
    with pytest.raises(ConfigError, match="at least 10x10"):
        build_model("tutorial_cnn", (1, 8, 8), TASKS)


def test_tutorial_cnn_normalises_like_the_tutorial() -> None:
    model = build_model("tutorial_cnn", (3, 12, 12), TASKS)
    x = torch.rand(2, 3, 12, 12)
    conv = model.trunk.blocks[0][1]
    torch.testing.assert_close(model.trunk.blocks[0][:2](x), conv((x - 0.5) / 0.5))


def test_dropout_acts_in_training_only() -> None:
    torch.manual_seed(0)
    model = build_model("hps", (1, 12, 12), TASKS, {"trunk": "tutorial", "dropout": 0.5})
    x = torch.rand(3, 1, 12, 12)
    model.eval()
    torch.testing.assert_close(model(x)["class"], model(x)["class"])
    plain = build_model("hps", (1, 12, 12), TASKS, {"trunk": "tutorial"})
    plain.load_state_dict(model.state_dict())
    plain.eval()
    torch.testing.assert_close(plain(x)["class"], model(x)["class"])
    model.train()
    assert not torch.equal(model(x)["class"], model(x)["class"])


def test_resnet18_trunk_is_adapted_to_small_images() -> None:
    model = build_model("hps", (3, 16, 16), TASKS, {"trunk": "resnet18"})
    stem = model.trunk.blocks[0][0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.trunk.modules())
    assert model.trunk.out_dim == 512 and model.representation(torch.rand(2, 3, 16, 16)).shape == (2, 512)
    gray = build_model("hps", (1, 16, 16), TASKS, {"trunk": "resnet18"})
    assert gray.trunk.blocks[0][0].in_channels == 1


def test_resnet18_weights_file(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    torch.manual_seed(1)
    imagenet_like = resnet18(weights=None).state_dict()  # a 7x7 stem and a classifier: both skipped
    path = tmp_path / "r18.pt"
    torch.save(imagenet_like, path)
    model = build_model("hps", (3, 16, 16), TASKS, {"trunk": "resnet18", "weights_file": str(path)})
    torch.testing.assert_close(model.trunk.blocks[1][0].conv1.weight, imagenet_like["layer1.0.conv1.weight"])
    torch.testing.assert_close(model.trunk.blocks[4][1].bn2.running_var, imagenet_like["layer4.1.bn2.running_var"])
    with pytest.raises(ConfigError, match="not found"):
        build_model("hps", (3, 16, 16), TASKS, {"trunk": "resnet18", "weights_file": str(tmp_path / "none.pt")})
    torch.save({"something": torch.zeros(3)}, path)
    with pytest.raises(ConfigError, match="matches only 0"):
        build_model("hps", (3, 16, 16), TASKS, {"trunk": "resnet18", "weights_file": str(path)})
    bad = tmp_path / "code.pt"
    torch.save({"w": Path("x")}, bad)  # an object weights_only refuses to rebuild
    with pytest.raises(ConfigError, match="weights_only=True"):
        build_model("hps", (3, 16, 16), TASKS, {"trunk": "resnet18", "weights_file": str(bad)})
    with pytest.raises(ConfigError, match="resnet18 trunk only"):
        build_model("hps", (3, 16, 16), TASKS, {"trunk": "tutorial", "weights_file": str(path)})


def vision_config(method: str, trunk: str, gradients: str = "auto") -> RunConfig:
    return RunConfig.from_dict({
        "name": "t", "seed": 0, "data": {"name": "multi_digits"},  # the name is unused: data is given
        "model": {"architecture": "hps", "params": {"trunk": trunk}},
        "weighting": {"method": method, "gradients": gradients},
        "optim": {"lr": 1e-3, "batch_size": 8, "epochs": 1.0, "max_steps": 2},
        "eval_every": 0, "grad_stats_every": 1, "threads": 1,
    })


@pytest.mark.slow
@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_resnet18_trains_with_every_gradient_method(method: str) -> None:
    data = tiny_images((3, 8, 8))
    events = train(vision_config(method, "resnet18"), data)
    end = events[-1]
    assert isinstance(end, Finished) and end.status == "finished", end.reason
    assert set(end.summary["test"]) == {"class", "angle"}


@pytest.mark.slow
@pytest.mark.parametrize("method", [d["name"] for d in describe() if d["kind"] == "gradient"
                                    and d["supports_representation"]])
def test_resnet18_representation_gradients(method: str) -> None:
    events = train(vision_config(method, "resnet18", "representation"), tiny_images((3, 8, 8)))
    assert events[-1].status == "finished", events[-1].reason


def test_tutorial_cnn_trains_with_a_gradient_method_and_reports_recall_f1() -> None:
    raw = vision_config("mgda", "tutorial").to_dict()
    raw["model"] = {"architecture": "tutorial_cnn", "params": {"dropout": 0.1}}
    events = train(RunConfig.from_dict(raw), tiny_images((3, 12, 12)))
    end = events[-1]
    assert end.status == "finished", end.reason
    assert {"accuracy", "recall", "f1"} <= set(end.summary["test"]["class"])
    assert {"mae", "rmse"} <= set(end.summary["test"]["angle"])
