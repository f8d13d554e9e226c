"""What the core offers (weighting methods, architectures, data sets) as plain dicts, without torch.

Pages draw every widget from this metadata, and a page must not pay for PyTorch (about 3 s in a fresh
server). The registries stay the one source of truth; this module only decides how to read them:

- Methods and architectures are classes that import torch, so their metadata (`describe()` of
  mtlcore.weighting and mtlcore.models) and the device `auto` resolves to are read from a snapshot:
  JSON in the cache directory, named by a fingerprint of the files that define them (every .py under
  mtlcore/weighting and mtlcore/models, mtlcore/registry.py) and of the machine, so editing a method
  renames the snapshot and it can never be stale. A process that has already imported torch (a
  worker, the tests) reads the registries directly. On a miss, a process that will train anyway (the
  CLI, a worker) imports the registries and writes the snapshot; one that called `keep_torch_out()`
  (the dashboard) runs `python -m mtlcore catalog` in a subprocess instead, which prints it.
- Data sets import without torch (their modules import it inside their load functions), so their
  catalogue is read live: files on disk and saved tables change while the app runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from mtlcore.registry import ConfigError, Param, check_per_task, resolve_params

PACKAGE = Path(__file__).resolve().parent
SOURCES = ("weighting", "models", "registry.py")  # what the methods' and architectures' metadata is made of
FORMAT = 1  # bump when the snapshot's layout changes
SUBPROCESS_TIMEOUT = 600  # seconds; a cold import of torch on a loaded machine takes well under a minute


_keep_torch_out = False


def keep_torch_out() -> None:
    """This process must never import torch (the dashboard's server): a missing snapshot is computed
    in a subprocess instead of here."""
    global _keep_torch_out
    _keep_torch_out = True


def torch_kept_out() -> bool:
    """Whether this process promised never to import torch (so checks use metadata, not builds)."""
    return _keep_torch_out and "torch" not in sys.modules


def fingerprint() -> str:
    """Hash of the metadata's source files, this machine and its torch: what names a snapshot."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    files: list[Path] = []
    for name in SOURCES:
        path = PACKAGE / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for path in files:
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    machine = (platform.node(), sys.version, torch_version, os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    digest.update(json.dumps(machine).encode())
    return digest.hexdigest()[:24]


def snapshot_path() -> Path:
    from mtlcore.data.base import cache_dir

    return cache_dir() / f"catalog-{fingerprint()}.json"


def build_snapshot() -> dict[str, Any]:
    """Read the registries themselves (imports torch): what `python -m mtlcore catalog` prints."""
    from mtlcore.device import pick_device
    from mtlcore.models import describe as describe_architectures
    from mtlcore.weighting import describe as describe_methods

    return {"format": FORMAT, "methods": describe_methods(), "architectures": describe_architectures(),
            "auto_device": str(pick_device("auto"))}


def _snapshot_from_subprocess() -> dict[str, Any]:
    """Run `python -m mtlcore catalog` in a fresh interpreter (this one keeps torch out)."""
    # `-m` puts the working directory first on the child's path, so it imports this very mtlcore
    done = subprocess.run([sys.executable, "-m", "mtlcore", "catalog"], cwd=str(PACKAGE.parent),
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError("could not read the weighting methods and architectures "
                           f"(`python -m mtlcore catalog` failed):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)  # two servers missing at once both write the same content; readers see a whole file


_lock = threading.Lock()  # the first sessions of a fresh server wait for one subprocess, not one each
_snapshot: dict[str, Any] | None = None


def snapshot() -> dict[str, Any]:
    """The methods' and architectures' metadata and the auto device, read once per process."""
    global _snapshot
    with _lock:
        if _snapshot is None:
            _snapshot = _read_or_build()
        return _snapshot


def _read_or_build() -> dict[str, Any]:
    if "torch" in sys.modules:  # already paid for: the registries are the cheapest source
        return build_snapshot()
    path = snapshot_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == FORMAT:
            return data
    except (OSError, ValueError):
        pass  # missing or unreadable: computed below
    data = _snapshot_from_subprocess() if _keep_torch_out else build_snapshot()
    try:
        _write_atomically(path, data)
    except OSError:
        pass  # a read-only cache still works, it only recomputes in the next process
    return data


def methods() -> tuple[dict[str, Any], ...]:
    """Every weighting method's describe() dict, in the order pages list them. Do not mutate."""
    return tuple(snapshot()["methods"])


def architectures() -> tuple[dict[str, Any], ...]:
    """Every architecture's describe() dict, in registration order. Do not mutate."""
    return tuple(snapshot()["architectures"])


def auto_device() -> str:
    """The device `device = "auto"` resolves to on this machine (CUDA, then MPS, then CPU)."""
    return str(snapshot()["auto_device"])


def datasets() -> tuple[dict[str, Any], ...]:
    """Every data set's catalogue entry (params, tasks at default params, `missing`), read now."""
    from mtlcore.data import catalogue

    return tuple(catalogue())


def by_name(items: tuple[dict[str, Any], ...], name: str, what: str) -> dict[str, Any]:
    """The item called `name`; the registries' own ConfigError message when there is none."""
    for item in items:
        if item["name"] == name:
            return item
    raise ConfigError(f"unknown {what} '{name}'; available: {', '.join(i['name'] for i in items)}")


def method(name: str) -> dict[str, Any]:
    return by_name(methods(), name, "weighting method")


def architecture(name: str) -> dict[str, Any]:
    return by_name(architectures(), name, "architecture")


def param_spec(spec: dict[str, Any]) -> Param:
    """Turn a described parameter back into the core's Param, to validate with the core's own rules."""
    return Param(**{**spec, "choices": tuple(spec.get("choices") or ())})


def check_method(name: str, n_tasks: int, params: dict[str, Any]) -> dict[str, Any]:
    """The parameter checks building the method would make (Weighting.__init__), without building it:
    types and bounds, then per-task lists against the number of tasks. Returns the full parameters."""
    specs = tuple(param_spec(s) for s in method(name)["params"])
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ConfigError(f"{name}: number of tasks must be >= 1, got {n_tasks!r}")
    full = resolve_params(specs, params, f"weighting method '{name}'")
    check_per_task(specs, full, n_tasks, name)
    return full
