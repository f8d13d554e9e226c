"""Storage faults turned into one-line messages: what file, what is wrong, what to do.

No SQL and no torch here: the store, the CLI and the workers all describe a fault the same way.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class StoreError(RuntimeError):
    """The database cannot be used or written (wrong schema, not SQLite, read-only, disk full);
    the message says which file and what to do, in one line."""


def storage_fault(path: str, exc: BaseException) -> StoreError | None:
    """The StoreError a storage fault means (disk full, read-only, cannot open), or None when
    `exc` is not one of those (then it is a bug or a damaged file, reported as it is)."""
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if "disk is full" in text or code == errno.ENOSPC:
        return StoreError(f"cannot write to the run database {path}: the disk is full (free some space; "
                          "the points written before are kept)")
    if _on_read_only_mount(path) and ("readonly" in text or "unable to open" in text or code == errno.EROFS):
        return StoreError(f"the run database {path} is on a read-only file system (SQLite must write "
                          "beside it even to read it); use a writable path with --db or MTL_DB")
    if "readonly" in text or "read-only" in text or code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"the run database {path} is read-only here (a read-only file or folder); "
                          "use a writable path with --db or MTL_DB")
    if "unable to open database file" in text:
        return StoreError(f"cannot open or create the run database {path}: its folder must exist and be "
                          "writable; use another path with --db or MTL_DB")
    return None


def _on_read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False
