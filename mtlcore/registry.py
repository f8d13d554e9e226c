"""Typed hyperparameters and a small registry shared by weighting methods, architectures and data sets.

The registry carries metadata (title, summary, paper, parameter specs) next to the factory, so every
interface (CLI, dashboard pages, method guide) renders itself from one place. No torch import here:
the dashboard reads this metadata without paying for PyTorch.
"""

from __future__ import annotations

import importlib
import math
import numbers
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, Iterator, Sequence, TypeVar


class ConfigError(ValueError):
    """A user-facing configuration problem; the message is meant to be shown as is."""


@dataclass(frozen=True)
class Param:
    """One typed hyperparameter: enough to validate a value and to draw a widget for it."""

    name: str
    kind: str  # "float" | "int" | "bool" | "choice" | "floats" | "str"
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    log: bool = False  # suggest a log-scaled widget
    per_task: bool = False  # kind "floats": one value per task, in task order (checked by check_per_task)

    def validate(self, value: Any) -> Any:
        """Coerce and check one value; raise ConfigError with a message naming the parameter."""
        where = f"parameter '{self.name}'"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if value in (0, 1):
                return bool(value)
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        if self.kind == "choice":
            if value not in self.choices:
                raise ConfigError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be a string, got {value!r}")
            return value
        if self.kind == "floats":
            if value is None:
                return None
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where} must be a list of numbers, got {value!r}")
            return [self._number(v, float, where) for v in value]
        if self.kind == "int":
            return self._number(value, int, where)
        if self.kind == "float":
            return self._number(value, float, where)
        raise ConfigError(f"{where} has unknown kind {self.kind!r}")

    def _number(self, value: Any, cast: type, where: str) -> Any:
        """Bounds are compared on the value as given: a float conversion of 10**400 or an int of
        1e300's infinity would raise OverflowError instead of naming the parameter."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {_short(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        if cast is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        if self.low is not None and value < self.low:
            raise ConfigError(f"{where} must be >= {self.low}, got {_short(value)}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{where} must be <= {self.high}, got {_short(value)}")
        try:
            return cast(value)
        except OverflowError:  # an int beyond a float's range, with no upper bound declared
            raise ConfigError(f"{where} is too large: {_short(value)}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "default": self.default, "help": self.help,
            "low": self.low, "high": self.high, "choices": list(self.choices), "log": self.log,
            "per_task": self.per_task,
        }


def _short(value: Any) -> str:
    """A number as a message shows it: 400 nines would fill the screen."""
    text = repr(value)
    unit = "digits" if isinstance(value, int) else "characters"
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} {unit})"


def resolve_params(specs: tuple[Param, ...], given: dict[str, Any], owner: str) -> dict[str, Any]:
    """Fill defaults and validate; unknown names are an error so typos never pass silently."""
    known = {p.name for p in specs}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"{owner}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    return {p.name: p.validate(given[p.name]) if p.name in given else p.default for p in specs}


def per_task_numbers(values: Any, n_tasks: int, what: str, non_negative: bool) -> list[float]:
    """One finite number per task, else a ConfigError naming the task (1-based) and the problem."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(f"{what} must be a list of {n_tasks} numbers, got {values!r}")
    values = list(values)
    if len(values) != n_tasks:
        raise ConfigError(f"{what} must have one value per task ({n_tasks}), got {len(values)}")
    out: list[float] = []
    for i, v in enumerate(values, start=1):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ConfigError(f"{what}: the value of task {i} must be a number, got {v!r}")
        x = float(v)
        if math.isnan(x):
            raise ConfigError(f"{what}: the value of task {i} is NaN")
        if math.isinf(x):
            raise ConfigError(f"{what}: the value of task {i} is infinite")
        if non_negative and x < 0:
            raise ConfigError(f"{what}: the value of task {i} is negative ({x:g}); weights must be >= 0")
        out.append(x)
    return out


def check_per_task(specs: tuple[Param, ...], values: dict[str, Any], n_tasks: int, owner: str) -> None:
    """The checks that need the number of tasks: each given per-task list has one finite value per task
    (non-negative when its lower bound is 0). Messages name `owner` and the parameter ("famo min_losses")."""
    for spec in specs:
        if spec.per_task and values.get(spec.name) is not None:
            per_task_numbers(values[spec.name], n_tasks, f"{owner} {spec.name}",
                             non_negative=spec.low is not None and spec.low >= 0)


@dataclass(frozen=True)
class Entry:
    """Registry metadata for one item; `factory` builds it."""

    name: str
    title: str
    summary: str
    factory: Callable[..., Any]
    params: tuple[Param, ...] = ()
    paper: str = ""
    family: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "summary": self.summary, "paper": self.paper,
            "family": self.family, "params": [p.to_dict() for p in self.params], **self.extra,
        }


T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> Entry, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} '{entry.name}' registered twice")
        self._entries[entry.name] = entry

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} '{name}'; available: {', '.join(self._entries)}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def import_all(package: str, first: Sequence[str] = ()) -> list[str]:
    """Import every module of `package`, so each registers what it defines: the ones named in
    `first` in that order (the order pages list them in), then any other by name.

    This is what makes adding a method, an architecture or a data set one file (and its test): a
    module nobody lists is still found; listing it in `first` only places it.
    """
    found = sorted(m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__))
    missing = sorted(set(first) - set(found))
    if missing:
        raise ImportError(f"{package}: {missing} listed but not found")
    order = list(first) + [m for m in found if m not in first]
    for name in order:
        importlib.import_module(f"{package}.{name}")
    return order
