"""Augmentation: shapes and dtype kept, each option does what it says, determinism under a seed,
the config's JSON round trip and checks, and the trainer's refusals."""

from __future__ import annotations

import pytest
import torch

from mtlcore.config import AugmentConfig, RunConfig
from mtlcore.data.augment import Augmenter
from mtlcore.data.base import PreparedData, Split
from mtlcore.registry import ConfigError
from mtlcore.tasks import TaskSpec
from mtlcore.trainer import train


def images(n: int = 16, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("config", [AugmentConfig(crop_padding=2), AugmentConfig(flip=True),
                                    AugmentConfig(max_rotation=15), AugmentConfig(3, True, 10)])
def test_shapes_dtype_and_layout_are_kept(config: AugmentConfig) -> None:
    x = images()
    out = Augmenter(config, seed=0)(x)
    assert out.shape == x.shape and out.dtype == torch.uint8
    cl = x.contiguous(memory_format=torch.channels_last)
    out_cl = Augmenter(config, seed=0)(cl)
    assert torch.equal(out_cl, out) and out_cl.is_contiguous(memory_format=torch.channels_last)


def test_same_seed_same_augmentation_other_seed_other() -> None:
    config = AugmentConfig(crop_padding=4, flip=True, max_rotation=10)
    x = images(64)
    a, b, c = Augmenter(config, 7), Augmenter(config, 7), Augmenter(config, 8)
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, c(x))
    assert not torch.equal(a(x), first)  # the next batch draws new parameters


def test_crop_is_a_shift_of_at_most_the_padding() -> None:
    x = images(32, c=1, h=9, w=9)
    out = Augmenter(AugmentConfig(crop_padding=2), seed=3)(x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):  # each output is some 9x9 window of the padded image
        windows = padded[i, 0].unfold(0, 9, 1).unfold(1, 9, 1).reshape(-1, 9, 9)
        assert any(torch.equal(out[i, 0], w) for w in windows)
    assert not torch.equal(out, x)


def test_flip_mirrors_about_half_of_the_images() -> None:
    x = images(200)
    out = Augmenter(AugmentConfig(flip=True), seed=0)(x)
    mirrored = [bool(torch.equal(out[i], x[i].flip(-1))) for i in range(len(x))]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(len(x))]
    assert all(m or k for m, k in zip(mirrored, kept))
    assert 70 < sum(mirrored) < 130


def test_rotation_matches_torchvision_rotate_per_image() -> None:
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    x = images(20, h=11, w=11)
    out = Augmenter(AugmentConfig(max_rotation=20), seed=1)(x)
    matched = 0
    for i in range(len(x)):
        for a in range(-20, 21):
            turned = x[i] if a == 0 else TF.rotate(x[i], float(a), interpolation=InterpolationMode.BILINEAR)
            if torch.equal(out[i], turned):
                matched += 1
                break
    assert matched == len(x)


def test_config_round_trip_and_checks() -> None:
    cfg = RunConfig.from_dict({"augment": {"crop_padding": 4, "flip": True, "max_rotation": 10}})
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg and again.augment == AugmentConfig(4, True, 10) and again.augment.enabled
    assert not RunConfig.from_dict({}).augment.enabled  # old stored configs: off
    for bad, field in (({"crop_padding": -1}, "crop_padding"), ({"crop_padding": 17}, "crop_padding"),
                       ({"max_rotation": 2.5}, "max_rotation"), ({"flip": "yes"}, "flip")):
        with pytest.raises(ConfigError, match=field):
            RunConfig.from_dict({"augment": bad}).validate()
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({"augment": {"rotate": 5}})


def tiny(tasks: dict[str, TaskSpec], input_shape=(1, 12, 12)) -> PreparedData:
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        x = torch.randint(0, 256, (n, *input_shape), dtype=torch.uint8, generator=g)
        return Split(x, {t: torch.randint(0, 3, (n,), generator=g) for t in tasks})

    return PreparedData("tiny", input_shape, tasks, split(32), split(8), split(8))


def run(augment: dict, tasks: dict[str, TaskSpec], input_shape=(1, 12, 12)):
    cfg = RunConfig.from_dict({"data": {"name": "multi_digits"}, "augment": augment, "threads": 1,
                               "model": {"architecture": "tutorial_cnn"},
                               "optim": {"batch_size": 8, "max_steps": 4, "epochs": 1.0}, "grad_stats_every": 0})
    return train(cfg, tiny(tasks, input_shape))


def test_trainer_augments_reproducibly_and_refuses_geometric_targets() -> None:
    tasks = {"a": TaskSpec("a", "classification", 3)}
    aug = {"crop_padding": 2, "flip": True, "max_rotation": 10}
    first, second, plain = run(aug, tasks), run(aug, tasks), run({}, tasks)
    losses = [[e.losses for e in r if type(e).__name__ == "StepMetrics"] for r in (first, second, plain)]
    assert losses[0] == losses[1] and losses[0] != losses[2]
    turned = {"turn": TaskSpec("turn", "classification", 4, augmentable=False)}
    end = run(aug, turned)[-1]
    assert end.status == "failed" and "turn" in end.reason and "falsify" in end.reason


def test_batched_rotation_is_torchvisions_rotate_for_every_angle() -> None:
    """One grid_sample for all general angles, torchvision's own calls for quarter turns: each image
    is exactly what torchvision's rotate gives it, at every whole angle of a full turn."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from mtlcore.data.augment import rotate_images

    angles = torch.arange(-180, 181)
    x = images(len(angles), h=9, w=13)
    out = rotate_images(x, angles)
    for i, a in enumerate(angles.tolist()):
        want = x[i] if a == 0 else TF.rotate(x[i], float(a), interpolation=InterpolationMode.BILINEAR)
        assert torch.equal(out[i], want), a


def test_kept_rotation_grids_are_per_image_size() -> None:
    """Grids are kept per angle; a second size at the same angles must not reuse the first size's."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from mtlcore.data.augment import rotate_images

    angles = torch.tensor([7, -3, 7, 181])
    for h, w in [(9, 13), (12, 8), (9, 13)]:
        x = images(len(angles), h=h, w=w)
        out = rotate_images(x, angles)
        for i, a in enumerate(angles.tolist()):
            assert torch.equal(out[i], TF.rotate(x[i], float(a), interpolation=InterpolationMode.BILINEAR)), (h, w, a)
