"""Reading data pickles without running what they name.

`pickle.load` calls any function a file names (`os.system` included), so a downloaded batch file is
code. The CIFAR-10 python batches need only builtin containers, bytes and numpy arrays; this
unpickler admits exactly the globals that rebuild those and refuses everything else by name.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Callable

from mtlcore.registry import ConfigError


class UnsafePickleError(ConfigError):
    """A pickle names something outside the admitted set (a function it would call on load)."""


def _latin1_encode(obj: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """Protocol-2 pickles written by Python 3 store bytes as `_codecs.encode(text, 'latin1')`;
    only that encoding is admitted, so no codec becomes reachable through the file."""
    if encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"the pickle asks for the codec {encoding!r}; only latin1 is admitted")
    return obj.encode("latin1", errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The numpy names a pickled ndarray uses, under numpy 1's and numpy 2's module paths."""
    import numpy as np

    try:
        from numpy._core import multiarray as core_multiarray
        from numpy._core import numeric as core_numeric
    except ImportError:  # numpy 1
        from numpy.core import multiarray as core_multiarray  # type: ignore[no-redef]
        from numpy.core import numeric as core_numeric  # type: ignore[no-redef]
    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "_reconstruct")] = core_multiarray._reconstruct
        out[(module, "scalar")] = core_multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        out[(module, "_frombuffer")] = core_numeric._frombuffer  # protocol 5 arrays
    return out


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose `find_class` answers only from a fixed table of admitted globals."""

    def __init__(self, file: Any, name: str, *, encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.name = name
        self.admitted: dict[tuple[str, str], Callable[..., Any] | type] = {
            ("_codecs", "encode"): _latin1_encode,
            ("builtins", "bytearray"): bytearray,
            **_numpy_globals(),
        }

    def find_class(self, module: str, name: str) -> Any:
        found = self.admitted.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"{self.name}: refused to load: the pickle names {module}.{name}, which a data batch "
                "never needs (only lists, dicts, bytes and numpy arrays are admitted). The file is "
                "not a genuine data batch; replace it with a clean copy.")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.name}: refused to load: the pickle uses persistent ids")


def load_restricted(path: str | Path) -> Any:
    """The object in a data pickle, read with `RestrictedUnpickler` (Python 2 strings as latin1)."""
    p = Path(path)
    return loads_restricted(p.read_bytes(), str(p))


def loads_restricted(raw: bytes, name: str = "<bytes>") -> Any:
    """Like `load_restricted` on bytes already read; a truncated or foreign file is a ConfigError."""
    try:
        return RestrictedUnpickler(io.BytesIO(raw), name).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{name}: not a readable data pickle ({type(exc).__name__}: {exc}); "
                          "re-copy the file") from None
