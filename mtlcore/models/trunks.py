"""Trunks: the feature extractors every architecture is assembled from.

A trunk is a sequence of blocks ending in a flat (B, out_dim) representation. Keeping the blocks
explicit lets cross-stitch networks mix task columns between blocks without a second definition of
each network.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from mtlcore.registry import ConfigError, Param

TRUNK_KINDS = ("auto", "mlp", "cnn", "multilenet", "tutorial", "resnet18")
AUTO_RULE = ("auto: multilenet for images whose sides are both >= 28 pixels, cnn for smaller images, "
             "mlp for vectors")
MULTILENET_MIN_SIDE = 28
TUTORIAL_MIN_SIDE = 10  # conv k3, pool 2, conv k3, pool 2 leaves one pixel of a 10x10 image

TRUNK_PARAMS: tuple[Param, ...] = (
    Param("trunk", "choice", "auto", "feature extractor; " + AUTO_RULE, choices=TRUNK_KINDS),
    Param("depth", "int", 2, "layers (mlp) or conv blocks (cnn); multilenet has a fixed depth", low=1, high=8),
    Param("width", "int", 64, "units per layer (mlp) or channels per conv block (cnn); unused by multilenet",
          low=1, high=1024),
    Param("rep_dim", "int", 50, "size of the representation after the cnn / multilenet / tutorial trunk "
          "(the mlp's representation is its last layer, of size width; resnet18's its 512 pooled "
          "features)", low=1, high=4096),
    Param("weights_file", "str", "", "resnet18 only: a local file of pretrained weights (a state dict "
          "saved with torch.save), loaded with weights_only=True; tensors whose shapes differ from the "
          "small-image stem (conv1) or that the trunk lacks (fc) are skipped. Empty = random "
          "initialisation. Nothing downloads"),
)


class Trunk(nn.Module):
    """Blocks applied in order; `out_dim` is the size of the flat representation they produce."""

    def __init__(self, kind: str, blocks: list[nn.Module], out_dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.blocks = nn.ModuleList(blocks)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def resolve_trunk_kind(kind: str, input_shape: tuple[int, ...]) -> str:
    """Turn 'auto' into a concrete trunk and reject trunks that cannot read this input."""
    input_shape = input_size(input_shape)
    if kind not in TRUNK_KINDS:
        raise ConfigError(f"unknown trunk {kind!r}; available: {', '.join(TRUNK_KINDS)}")
    is_image = len(input_shape) == 3
    if kind == "auto":
        if not is_image:
            return "mlp"
        return "multilenet" if min(input_shape[1:]) >= MULTILENET_MIN_SIDE else "cnn"
    if kind in ("cnn", "multilenet", "tutorial", "resnet18") and not is_image:
        raise ConfigError(f"trunk '{kind}' needs image inputs (C, H, W), got vectors of shape {input_shape}; "
                          "use 'mlp' or 'auto'")
    return kind


def build_trunk(kind: str, input_shape: tuple[int, ...], depth: int, width: int, rep_dim: int,
                weights_file: str = "") -> Trunk:
    """A fresh trunk of the given kind ('auto' allowed) for inputs of `input_shape`."""
    input_shape = input_size(input_shape)
    kind = resolve_trunk_kind(kind, input_shape)
    for name, value in (("depth", depth), ("width", width), ("rep_dim", rep_dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"trunk parameter '{name}' must be a whole number >= 1, got {value!r}")
    if kind == "mlp":
        return _mlp(input_shape, depth, width)
    if weights_file and kind != "resnet18":
        raise ConfigError(f"weights_file applies to the resnet18 trunk only, not to '{kind}'")
    if kind == "cnn":
        return _cnn(input_shape, depth, width, rep_dim)
    if kind == "tutorial":
        return _tutorial(input_shape, rep_dim)
    if kind == "resnet18":
        from mtlcore.models.resnet import resnet18_trunk  # torchvision is imported only when asked for

        blocks, out_dim = resnet18_trunk(input_shape, weights_file)
        return Trunk("resnet18", blocks, out_dim)
    return _multilenet(input_shape, rep_dim)


def trunk_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The subset of an architecture's resolved params that `build_trunk` takes."""
    return {"kind": params["trunk"], "depth": params["depth"], "width": params["width"],
            "rep_dim": params["rep_dim"], "weights_file": params.get("weights_file", "")}


def input_size(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample shape as plain ints (numpy or torch sizes allowed), checked to be (d,) or (C, H, W)."""
    try:
        shape = tuple(operator.index(s) for s in input_shape)
    except TypeError:
        shape = ()
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ConfigError(f"inputs must be vectors (d,) or images (C, H, W) with positive sizes, "
                          f"got shape {input_shape!r}")
    return shape


def _mlp(input_shape: tuple[int, ...], depth: int, width: int) -> Trunk:
    # images are flattened, so an MLP is always available as the simplest baseline
    n_in = 1
    for s in input_shape:
        n_in *= s
    blocks: list[nn.Module] = []
    for i in range(depth):
        layers: list[nn.Module] = [nn.Flatten()] if i == 0 and len(input_shape) > 1 else []
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.ReLU()]
        blocks.append(nn.Sequential(*layers))
    return Trunk("mlp", blocks, width)


def _cnn(input_shape: tuple[int, ...], depth: int, width: int, rep_dim: int) -> Trunk:
    c, h, w = input_shape
    if min(h, w) >> depth < 1:
        max_depth = min(h, w).bit_length() - 1
        raise ConfigError(f"a cnn trunk of depth {depth} halves a {h}x{w} image below one pixel; "
                          f"use depth <= {max(max_depth, 1)}")
    blocks: list[nn.Module] = []
    channels = c
    for _ in range(depth):
        # pooling before the ReLU gives the same result (max commutes with it) on 4x fewer values
        blocks.append(nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()))
        channels, h, w = width, h // 2, w // 2
    blocks.append(nn.Sequential(nn.Flatten(), nn.Linear(channels * h * w, rep_dim), nn.ReLU()))
    return Trunk("cnn", blocks, rep_dim)


def multilenet_flat_size(input_shape: tuple[int, ...]) -> int:
    """Size of MultiLeNet's flattened conv features (500 for 36x36), or 0 if the image is too small."""
    _, h, w = input_shape
    sides = []
    for side in (h, w):
        side = (side - 8) // 2  # conv k9, then max-pool 2
        side = (side - 4) // 2  # conv k5, then max-pool 2
        sides.append(max(side, 0))
    return 20 * sides[0] * sides[1]


def _multilenet(input_shape: tuple[int, ...], rep_dim: int) -> Trunk:
    # the shared trunk of Sener & Koltun (2018) and Lin et al. (2019) on Multi-MNIST / Multi-Fashion
    flat = multilenet_flat_size(input_shape)
    if flat == 0:
        raise ConfigError(f"the multilenet trunk needs images of at least 20x20 pixels, got "
                          f"{input_shape[1]}x{input_shape[2]}; use 'cnn' or 'auto'")
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(input_shape[0], 10, 9), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Flatten(), nn.Linear(flat, rep_dim), nn.ReLU()),
    ]
    return Trunk("multilenet", blocks, rep_dim)


def tutorial_flat_size(input_shape: tuple[int, ...]) -> int:
    """Size of the tutorial CNN's flattened conv features (64 * 6 * 6 = 2304 for 32x32)."""
    _, h, w = input_shape
    sides = [max(((side - 2) // 2 - 2) // 2, 0) for side in (h, w)]
    return 64 * sides[0] * sides[1]


def _tutorial(input_shape: tuple[int, ...], rep_dim: int) -> Trunk:
    # the PyTorch CIFAR-10 tutorial's network: inputs scaled as by Normalize(0.5, 0.5), conv 3->32 k3,
    # conv 32->64 k3, each with ReLU and 2x2 max-pool, then fc -> rep_dim (512 in the tutorial)
    from torchvision.transforms import v2

    c, h, w = input_shape
    flat = tutorial_flat_size(input_shape)
    if flat == 0:
        raise ConfigError(f"the tutorial trunk needs images of at least {TUTORIAL_MIN_SIDE}x{TUTORIAL_MIN_SIDE} "
                          f"pixels, got {h}x{w}")
    blocks: list[nn.Module] = [
        # pooling before the ReLU gives the same result (max commutes with it) on 4x fewer values
        nn.Sequential(v2.Normalize([0.5] * c, [0.5] * c), nn.Conv2d(c, 32, 3), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(32, 64, 3), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Flatten(), nn.Linear(flat, rep_dim), nn.ReLU()),
    ]
    return Trunk("tutorial", blocks, rep_dim)
