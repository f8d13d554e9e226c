"""Applying the user's choices to a parsed table: which columns are inputs, which targets are tasks
(and of which kind), and which rows are kept for missing values. No statistic is taken here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from mtlcore.data.limits import MAX_CATEGORIES, MAX_CLASSES, MAX_DISCRETE, MAX_FEATURES, MIN_ROWS
from mtlcore.data.tabular.table import FORMAT, HIDDEN, Column, Table, TableError, shown

MISSING_RULES: dict[str, str] = {
    "drop": "drop every row where a chosen input is missing",
    "median": "fill a missing number with the training split's median, a missing text value "
              "with the training split's most frequent value",
    "most_frequent": "fill every missing input with the training split's most frequent value",
}
TARGET_RULE = "rows whose target is missing are always dropped (a target is never imputed)"
TASK_KINDS = ("auto", "classification", "regression")


@dataclass(frozen=True)
class TableSource:
    """The chosen columns, their rows filtered for missing values; what a stored set holds.

    Targets that are classifications are categorical columns here (numbers with few values are
    turned into categories labelled by the number), so `prepare` only encodes.
    """

    columns: dict[str, Column]
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    kinds: dict[str, str]  # target -> "classification" | "regression"
    missing: str
    notes: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return int(next(iter(self.columns.values())).values.shape[0])

    def describe(self) -> dict[str, Any]:
        """The choices and column types as plain JSON (the stored metadata, hashed below)."""
        return {
            "format": FORMAT, "inputs": list(self.inputs), "targets": list(self.targets),
            "kinds": dict(self.kinds), "missing": self.missing,
            "columns": {n: {"kind": c.kind, "vocab": list(c.vocab)} for n, c in self.columns.items()},
        }

    def content_hash(self) -> str:
        """SHA-256 of the choices and every stored value: equal hashes mean equal data sets."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True, ensure_ascii=False).encode())
        for name in (*self.inputs, *self.targets):
            arr = np.ascontiguousarray(self.columns[name].values)
            h.update(f"\n{name}\n{arr.dtype.str}\n{arr.shape}\n".encode())
            h.update(arr.tobytes())
        return h.hexdigest()


def column_names(value: str | Iterable[str] | None, what: str) -> list[str]:
    """Column names given as a list or as one comma-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    names = list(value)
    if not all(isinstance(v, str) for v in names):
        raise TableError(f"{what} must be column names, got {names!r}")
    return [v.strip() for v in names]


def target_kinds(value: str | dict[str, str] | None) -> dict[str, str]:
    """Per-target kinds given as a dict or as 'y=regression,z=classification'."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    out: dict[str, str] = {}
    for part in str(value).split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise TableError(f"task kinds must look like 'column=regression', got {part.strip()!r}")
        col, kind = part.split("=", 1)
        out[col.strip()] = kind.strip()
    return out


def _sample_values(col: Column, k: int = 3) -> str:
    return ", ".join(repr(v) for v in col.vocab[:k])


def _numeric_hint(col: Column, private: bool = False) -> str:
    """When most values of a text column are numbers, name a value that is not (never a private file's)."""
    if private or col.kind != "categorical" or not col.vocab:
        return ""
    counts = np.bincount(col.values[col.values >= 0], minlength=len(col.vocab))
    numeric = np.array([_is_number(v) for v in col.vocab])
    if counts[numeric].sum() >= 0.8 * counts.sum() and (~numeric).any():
        bad = col.vocab[int(np.flatnonzero(~numeric)[0])]
        return f" (most values are numbers but {bad!r} is not: fix such cells to use it as numbers)"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number_label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _as_classes(col: Column) -> Column:
    """A numeric column with few values as categories labelled by the numbers, in numeric order."""
    values, codes = np.unique(col.values, return_inverse=True)
    return Column(col.name, "categorical", codes.astype(np.int32),
                  tuple(_number_label(v) for v in values.tolist()))


def select_columns(table: Table, inputs: str | Iterable[str] | None, targets: str | Iterable[str],
                   missing: str = "drop", kinds: str | dict[str, str] | None = None) -> TableSource:
    """Check the user's choices against the table and keep the usable rows.

    `inputs` None (or empty) means every other column that can be an input; columns that cannot
    (unsupported types, too many categories, no values) are then skipped with a note instead of
    refused. Task kinds are "auto" unless given: text, or numbers with at most MAX_DISCRETE
    distinct values, make a classification; other numbers a regression.
    """
    target_list = column_names(targets, "targets")
    explicit_inputs = column_names(inputs, "inputs")
    kind_map = target_kinds(kinds)
    if not target_list:
        raise TableError("choose at least one target column")
    if missing not in MISSING_RULES:
        raise TableError(f"missing-value rule must be one of {list(MISSING_RULES)}, got {missing!r}")
    for what, names in (("target", target_list), ("input", explicit_inputs)):
        unknown = [n for n in names if n not in table.columns]
        if unknown:
            listed = HIDDEN if table.private else ", ".join(repr(c) for c in list(table.columns)[:12])
            raise TableError(f"{what} column {unknown[0]!r} is not in {table.filename}; its columns: {listed}")
        if len(set(names)) != len(names):
            raise TableError(f"{what} columns are listed twice: {names}")
    both = [n for n in explicit_inputs if n in target_list]
    if both:
        raise TableError(f"column {both[0]!r} cannot be both an input and a target")
    bad_kinds = {k: v for k, v in kind_map.items() if v not in TASK_KINDS}
    if bad_kinds:
        col, kind = next(iter(bad_kinds.items()))
        raise TableError(f"task kind of {col!r} must be one of {list(TASK_KINDS)}, got {kind!r}")
    stray = [k for k in kind_map if k not in target_list]
    if stray:
        raise TableError(f"a task kind is given for {stray[0]!r}, which is not a target")

    notes: list[str] = []
    if explicit_inputs:
        input_list = explicit_inputs
    else:
        input_list = []
        for name, col in table.columns.items():
            if name in target_list:
                continue
            why = _input_problem(col, table.private)
            if why:
                notes.append(f"column {name!r} is not used as an input: {why}")
            else:
                input_list.append(name)
        if not input_list:
            raise TableError("no column is left to use as an input: every other column is unusable")

    for name in target_list:
        col = table.columns[name]
        if col.kind == "unsupported":
            raise TableError(f"target {name!r} holds {col.detail} values; only numbers and text can be targets")
        if col.n_missing == table.n_rows:
            raise TableError(f"target {name!r} has no values: it is missing in every row")
        if col.kind == "numeric" and np.isinf(col.values).any():
            raise TableError(f"target {name!r} holds infinite values; fix or remove those cells")
    for name in input_list:
        why = _input_problem(table.columns[name], table.private)
        if why:
            raise TableError(f"input {name!r} cannot be used: {why}")

    keep = np.ones(table.n_rows, dtype=bool)
    for name in target_list:
        keep &= ~_missing_mask(table.columns[name])
    dropped = int(table.n_rows - keep.sum())
    if dropped:
        notes.append(f"{dropped} row(s) dropped because a target is missing")
    if missing == "drop":
        before = int(keep.sum())
        worst, worst_n = "", 0
        for name in input_list:
            gone = _missing_mask(table.columns[name])
            if int((gone & keep).sum()) > worst_n:
                worst, worst_n = name, int((gone & keep).sum())
            keep &= ~gone
        if before - int(keep.sum()):
            notes.append(f"{before - int(keep.sum())} row(s) dropped because an input is missing "
                         f"(rule: drop rows; most often {worst!r})")
        if int(keep.sum()) < MIN_ROWS and worst:
            raise TableError(f"only {int(keep.sum())} usable row(s) remain after dropping rows with "
                             f"missing values (at least {MIN_ROWS} needed); {shown(worst, table.private)} is "
                             f"missing in {worst_n} rows: impute instead of dropping, or leave that column out")
    n_kept = int(keep.sum())
    if n_kept < MIN_ROWS:
        raise TableError(f"only {n_kept} usable row(s) remain after dropping rows with a missing "
                         f"target (at least {MIN_ROWS} needed)")
    rows = np.flatnonzero(keep)

    columns: dict[str, Column] = {n: table.columns[n].take(rows) for n in input_list}
    decided: dict[str, str] = {}
    for name in target_list:
        col = table.columns[name].take(rows)
        kind, col, note = _target_kind(col, kind_map.get(name, "auto"), table.private)
        decided[name] = kind
        columns[name] = col
        if note:
            notes.append(note)
    width = sum(1 if columns[n].kind == "numeric" else len(columns[n].vocab) for n in input_list)
    if width > MAX_FEATURES:
        raise TableError(f"the chosen inputs encode to {width:,} features (categories become one "
                         f"column each), more than {MAX_FEATURES:,}; leave out some text columns")
    return TableSource(columns, tuple(input_list), tuple(target_list), decided, missing,
                       tuple([*table.warnings, *table.notes, *notes]))


def _missing_mask(col: Column) -> np.ndarray:
    if col.kind == "numeric":
        return np.isnan(col.values)
    if col.kind == "categorical":
        return col.values < 0
    return np.zeros(0, dtype=bool)


def _input_problem(col: Column, private: bool = False) -> str:
    """Why a column cannot be an input, or '' when it can."""
    if col.kind == "unsupported":
        return f"it holds {col.detail} values (only numbers and text are read)"
    if col.values.size and _missing_mask(col).all():
        return "it has no values (missing in every row)"
    if col.kind == "numeric" and np.isinf(col.values).any():
        return "it holds infinite values"
    if col.kind == "categorical":
        n = col.n_distinct
        if n > MAX_CATEGORIES:
            return (f"{n:,} distinct text values, more than the {MAX_CATEGORIES} categories an "
                    f"input may have (an identifier?){_numeric_hint(col, private)}")
    return ""


def _target_kind(col: Column, asked: str, private: bool = False) -> tuple[str, Column, str]:
    """Decide classification or regression; classifications come back as categorical columns."""
    distinct = col.n_distinct
    if distinct < 2:
        only = (col.vocab[0] if col.kind == "categorical" and col.vocab
                else _number_label(float(col.values[0])) if col.values.size else "")
        raise TableError(f"target {col.name!r} has a single value ({shown(only, private)}) in the usable rows: "
                         "there is nothing to learn")
    if col.kind == "categorical":
        if asked == "regression":
            sample = HIDDEN if private else f"e.g. {_sample_values(col)}"
            raise TableError(f"target {col.name!r} holds text ({sample}), so it can "
                             f"only be a classification{_numeric_hint(col, private)}")
        if distinct > MAX_CLASSES:
            raise TableError(f"target {col.name!r} has {distinct:,} distinct values, too many classes "
                             f"for a classification (at most {MAX_CLASSES}){_numeric_hint(col, private)}")
        return "classification", col, ""
    if asked == "regression" or (asked == "auto" and distinct > MAX_DISCRETE):
        return "regression", col, ""
    if distinct > MAX_CLASSES:
        raise TableError(f"target {col.name!r} has {distinct:,} distinct numbers, too many classes "
                         f"for a classification (at most {MAX_CLASSES}); use it as a regression")
    note = (f"target {col.name!r} has {distinct} distinct numbers: a classification (set its kind "
            "to regression to change that)") if asked == "auto" else ""
    return "classification", _as_classes(col), note
