"""ResNet-18 from torchvision.models as a trunk, adapted to small images.

torchvision's ResNet-18 is built for 224-pixel photos: a 7x7 stride-2 stem and a max-pool shrink the
input 4x before the first residual stage, which leaves a 32x32 image 8x8 there and 1x1 after stage
three. For small images (CIFAR, LibMTL's CelebA and Office at low resolution) the usual adaptation
replaces the stem by a 3x3 stride-1 convolution and drops the max-pool. The classifier `fc` goes:
the trunk ends in the 512 globally pooled features every head reads.

Pretrained weights come only from a local file the user names (no download exists here), read with
`torch.load(weights_only=True)` so the file can hold tensors but not code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mtlcore.registry import ConfigError

RESNET18_FEATURES = 512


def resnet18_trunk(input_shape: tuple[int, ...], weights_file: str = "") -> tuple[list[nn.Module], int]:
    """The blocks of a small-image ResNet-18 (stem, four stages, pooling) and its output size."""
    from torchvision.models import resnet18

    channels = input_shape[0]
    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    if weights_file:
        load_weights(net, weights_file)
    blocks: list[nn.Module] = [
        nn.Sequential(net.conv1, net.bn1, net.relu),
        net.layer1, net.layer2, net.layer3, net.layer4,
        nn.Sequential(net.avgpool, nn.Flatten()),
    ]
    return blocks, RESNET18_FEATURES


def load_weights(net: nn.Module, weights_file: str) -> list[str]:
    """Copy every tensor of the file whose name and shape match the trunk; return the names skipped.

    A torchvision ImageNet checkpoint fits except its 7x7 stem and its classifier, which are skipped
    (and named in the error if too little matches to call it a ResNet-18 checkpoint)."""
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise ConfigError(f"resnet18 weights file not found: {path} (nothing downloads; save a state "
                          "dict with torch.save and name that file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an unpickling refusal, a damaged or foreign file
        raise ConfigError(f"resnet18 weights file {path} cannot be read with weights_only=True "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"resnet18 weights file {path} must hold a state dict (name -> tensor)")
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in state if k not in usable)
    if len(usable) < len(own) // 2:
        raise ConfigError(f"resnet18 weights file {path} matches only {len(usable)} of the trunk's "
                          f"{len(own)} tensors (skipped, e.g.: {', '.join(skipped[:5])}); is it a ResNet-18 "
                          "state dict?")
    net.load_state_dict(usable, strict=False)
    return skipped
