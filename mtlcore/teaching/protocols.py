"""The papers' toy protocols as named presets: each paper ran the same objective differently.

CAGrad (Liu et al. 2021): three starts, 100,000 Adam steps at lr 1e-3, c = 0.5, losses as they are;
CAGrad then reaches the average-loss optimum from every start. Nash-MTL (Navon et al. 2022): five
starts, 35,000 steps at lr 1e-3, L1 scaled by 0.1. A preset is plain data (JSON round trip), so the
page, the CLI and the tests use one definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mtlcore.registry import ConfigError
from mtlcore.teaching.objective import NASH_IMBALANCE, PAPER_LR, PAPER_STARTS, PAPER_STEPS


@dataclass(frozen=True)
class Protocol:
    """Start points, steps, learning rate, the scale on L1, and method settings the paper fixed."""

    name: str
    title: str
    starts: tuple[tuple[float, float], ...]
    steps: int
    lr: float
    imbalance: float
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""

    def params_for(self, method: str) -> dict[str, Any]:
        """The paper's settings for `method` (empty: the method's own defaults)."""
        return dict(self.method_params.get(method, {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Protocol":
        return cls(**{**data, "starts": tuple(tuple(map(float, p)) for p in data["starts"])})


NASH_MTL = Protocol(
    name="nash_mtl", title="Nash-MTL paper (Navon et al. 2022)", starts=PAPER_STARTS, steps=PAPER_STEPS,
    lr=PAPER_LR, imbalance=NASH_IMBALANCE,
    note="five starts, 35,000 Adam steps at lr 1e-3, L1 scaled by 0.1")
CAGRAD = Protocol(
    name="cagrad", title="CAGrad paper (Liu et al. 2021)", starts=((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0)),
    steps=100_000, lr=PAPER_LR, imbalance=1.0, method_params={"cagrad": {"c": 0.5}},
    note="three starts, 100,000 Adam steps at lr 1e-3, CAGrad's c = 0.5, losses not scaled")
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (NASH_MTL, CAGRAD)}


def protocol(name: str) -> Protocol:
    """The preset called `name` (a ConfigError naming the presets when unknown)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown toy protocol '{name}'; available: {', '.join(PROTOCOLS)}") from None
