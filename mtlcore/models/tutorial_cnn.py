"""The tutorial CNN: the small shared network the PyTorch CIFAR-10 tutorial and the MTL tutorials
built on it use, as a hard-sharing architecture of its own.

Trunk: inputs scaled as by `Normalize(0.5, 0.5)`, conv 3->32 k3 with ReLU and 2x2 max-pool, conv
32->64 k3 with ReLU and 2x2 max-pool, a fully connected layer to 512 (`rep_dim`); a head per task
reads those 512 features (a 10-way classifier, a regression output, ...). The first convolution
takes as many channels as the images have, so 1-channel sets (Multi-Fashion) work too.

It is hard parameter sharing with the trunk fixed to "tutorial", registered under its own name so
a learner finds the tutorial's network by its name; its parameters keep the trunk parameters'
names, so its single-task baselines (Delta-m) use the same trunk.
"""

from __future__ import annotations

from mtlcore.models.base import ModelInfo, register
from mtlcore.models.heads import HEAD_PARAMS
from mtlcore.models.hps import HardSharingModel
from mtlcore.registry import Param

TUTORIAL_PARAMS: tuple[Param, ...] = (
    Param("trunk", "choice", "tutorial", "the tutorial's conv-conv-fc trunk (fixed)", choices=("tutorial",)),
    Param("rep_dim", "int", 512, "units of the fully connected layer the heads read (512 in the tutorial)",
          low=1, high=4096),
) + HEAD_PARAMS


class TutorialCNN(HardSharingModel):
    """Hard sharing over the tutorial trunk; `representation` is the 512-unit layer."""

    def __init__(self, input_shape: tuple[int, ...], tasks: dict, **params: object) -> None:
        super().__init__(input_shape, tasks, **{"depth": 2, "width": 64, **params})


TUTORIAL_CNN = register(ModelInfo(
    name="tutorial_cnn",
    title="Tutorial CNN",
    summary="The PyTorch CIFAR-10 tutorial's network shared by all tasks: conv 3->32 k3 and conv 32->64 k3, "
            "each with ReLU and 2x2 max-pool, then fc -> 512, and a head per task. Works on 1-channel "
            "images too.",
    build=TutorialCNN,
    params=TUTORIAL_PARAMS,
    shares_parameters=True,
    has_representation=True,
    paper="PyTorch tutorial 'Training a classifier' (CIFAR-10); Caruana, Multitask Learning (1997)",
))
