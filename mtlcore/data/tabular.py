"""User tables as data sets: a CSV or Parquet file whose columns become inputs and tasks.

Three stages, each a plain function shared by the upload page, the CLI and run configs:

1. `read_table` parses bytes into typed columns (numbers, or text as category codes) with
   pyarrow's CSV and Parquet readers: a file is parsed, never executed or unpickled. A malformed
   file raises TableError with a one-line message before anything is written anywhere.
2. `select_columns` applies the user's choices (inputs, targets, missing-value rule, task kinds)
   and checks them, giving a TableSource: the chosen columns, rows with a missing target (and,
   under the "drop" rule, a missing input) removed, no statistic taken yet.
3. `prepare` splits a TableSource by seed and encodes it with statistics of the training split
   only (medians, modes, means, standard deviations, categories, classes), so validation and test
   never leak into the encoding.

`save_table` stores a TableSource under `<name>-<hash>` (MTL_DATA_DIR, else <cache>/tables),
where the hash covers the stored columns and the choices; the set is registered in DATASETS as
`table:<name>-<hash>`, so a run config names it like a built-in set and the hash is re-checked
at every load. Stored sets are registered again whenever this module is imported. The entry
`table` instead reads a file named in the run config (`params.path`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from mtlcore.data.base import (DATASETS, DataSetInfo, DataSourceMissing, PreparedData, Split,
                               register, seeded_split)
from mtlcore.data.limits import (MAX_CATEGORIES, MAX_CLASSES, MAX_COLUMNS, MAX_DISCRETE,
                                 MAX_FEATURES, MIN_ROWS, describe_bytes, max_rows,
                                 max_upload_bytes)
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

if TYPE_CHECKING:
    import torch

FORMAT = 1  # of the stored files; part of the content hash
NAME_PREFIX = "table:"
DIRECT_NAME = "table"

MISSING_RULES: dict[str, str] = {
    "drop": "drop every row where a chosen input is missing",
    "median": "fill a missing number with the training split's median, a missing text value "
              "with the training split's most frequent value",
    "most_frequent": "fill every missing input with the training split's most frequent value",
}
TARGET_RULE = "rows whose target is missing are always dropped (a target is never imputed)"
NULL_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "#N/A", "?")
TASK_KINDS = ("auto", "classification", "regression")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
PARQUET_MAGIC = b"PAR1"
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 256)])
_NON_SPACE = re.compile(rb"\S")
_HEADER_BYTES = 1 << 20  # the header is looked for in the first megabyte

# Formats people upload by mistake, recognised by their first bytes, with what to do instead.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one): export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document: export the sheet as CSV"),
    (b"\x1f\x8b", "gzip-compressed: decompress it first"),
    (b"BZh", "bzip2-compressed: decompress it first"),
    (b"\xfd7zXZ", "xz-compressed: decompress it first"),
    (b"%PDF", "a PDF document, not a table"),
    (b"\x89PNG", "a PNG image, not a table"),
    (b"\xff\xd8\xff", "a JPEG image, not a table"),
    (b"GIF8", "a GIF image, not a table"),
    (b"SQLite format 3\x00", "an SQLite database: export a table as CSV"),
    (b"\x93NUMPY", "a NumPy array file: save it as CSV"),
    (b"\x7fELF", "a program, not a table"),
)


class TableError(ConfigError):
    """A table file or a choice of columns that cannot become a data set; the message is one line."""


class SavedDataChanged(ConfigError):
    """A stored table no longer matches the content hash in its name."""


# --- stage 1: reading a file ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: numbers (float64, NaN = missing) or category codes into `vocab` (int32, -1 = missing).

    `kind` "unsupported" marks a Parquet column of another type (dates, lists...): it is listed
    but cannot be chosen.
    """

    name: str
    kind: str  # "numeric" | "categorical" | "unsupported"
    values: np.ndarray
    vocab: tuple[str, ...] = ()
    detail: str = ""  # unsupported: the type it holds

    @property
    def n_missing(self) -> int:
        if self.kind == "numeric":
            return int(np.isnan(self.values).sum())
        if self.kind == "categorical":
            return int((self.values < 0).sum())
        return 0

    @cached_property
    def n_distinct(self) -> int:
        """Distinct present values (computed once: the page asks on every rerun)."""
        if self.kind == "numeric":
            present = self.values[~np.isnan(self.values)]
            return int(np.unique(present).size)
        if self.kind == "categorical":
            return int(np.unique(self.values[self.values >= 0]).size)
        return 0

    def take(self, rows: np.ndarray) -> "Column":
        """The column on a subset of rows, with categories no kept row uses removed."""
        values = self.values[rows]
        if self.kind != "categorical":
            return Column(self.name, self.kind, values, self.vocab, self.detail)
        used = np.unique(values[values >= 0])
        remap = np.full(len(self.vocab) + 1, -1, dtype=np.int32)  # last slot maps -1 to -1
        remap[used] = np.arange(used.size, dtype=np.int32)
        return Column(self.name, self.kind, remap[values], tuple(self.vocab[i] for i in used))


@dataclass(frozen=True)
class Table:
    """A parsed file: its columns in file order and where it came from."""

    filename: str
    sha256: str
    n_bytes: int
    n_rows: int
    columns: dict[str, Column]
    notes: tuple[str, ...] = ()

    def preview(self, n: int = 20) -> "Any":
        """The first rows as a pandas DataFrame (text shown as text), for a page to display."""
        import pandas as pd

        out: dict[str, Any] = {}
        for name, col in self.columns.items():
            head = col.values[:n]
            if col.kind == "categorical":
                out[name] = [col.vocab[c] if c >= 0 else None for c in head.tolist()]
            elif col.kind == "numeric":
                out[name] = head
            else:
                out[name] = [f"<{col.detail}>"] * min(n, self.n_rows)
        return pd.DataFrame(out)

    def describe(self) -> list[dict[str, Any]]:
        """Per column: its type, missing and distinct counts, and what it would be as a target."""
        rows = []
        for name, col in self.columns.items():
            distinct = col.n_distinct
            rows.append({
                "column": name,
                "type": {"numeric": "number", "categorical": "text"}.get(col.kind, f"unsupported ({col.detail})"),
                "missing": col.n_missing,
                "distinct": distinct,
                "as target": _auto_kind_label(col, distinct),
            })
        return rows


def _auto_kind_label(col: Column, distinct: int) -> str:
    if col.kind == "unsupported" or distinct == 0:
        return "-"
    if distinct < 2:
        return "- (a single value)"
    if col.kind == "categorical":
        return f"classification ({distinct} classes)" if distinct <= MAX_CLASSES else "- (too many classes)"
    if distinct <= MAX_DISCRETE:
        return f"classification ({distinct} classes)"
    return "regression"


def read_table_file(path: str | Path) -> Table:
    """Read a CSV or Parquet file from disk; its size is checked before it is read."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise TableError(f"table file not found: {p}")
    size = p.stat().st_size
    limit = max_upload_bytes()
    if size > limit:
        raise TableError(f"{p.name} is {describe_bytes(size)}, over the {describe_bytes(limit)} "
                         "limit (set MTL_MAX_UPLOAD_MB to raise it)")
    return read_table(p.read_bytes(), p.name)


def read_table(data: bytes, filename: str = "table.csv") -> Table:
    """Parse a CSV or Parquet file's bytes into typed columns, or raise TableError saying why not.

    Parquet is recognised by its magic bytes or a .parquet/.pq name; anything else must be
    delimited UTF-8 text (comma, semicolon, tab or pipe, found from the header line).
    """
    limit = max_upload_bytes()
    if len(data) > limit:
        raise TableError(f"{filename} is {describe_bytes(len(data))}, over the "
                         f"{describe_bytes(limit)} limit (set MTL_MAX_UPLOAD_MB to raise it)")
    if not _NON_SPACE.search(data):
        raise TableError(f"{filename} is empty")
    digest = hashlib.sha256(data).hexdigest()
    is_parquet = data[:4] == PARQUET_MAGIC or filename.lower().endswith((".parquet", ".pq"))
    if is_parquet:
        names, columns, n_rows, notes = _read_parquet(data, filename)
    else:
        names, columns, n_rows, notes = _read_csv(data, filename)
    if n_rows == 0:
        raise TableError(f"{filename} has a header ({len(names)} columns) but no rows")
    if len(names) < 2:
        raise TableError(f"{filename} has a single column ({names[0]!r}); a data set needs at least "
                         "one input column and one target column")
    cap = max_rows()
    if n_rows > cap:
        raise TableError(f"{filename} has {n_rows:,} rows, over the {cap:,}-row limit "
                         "(set MTL_MAX_ROWS to raise it)")
    return Table(filename, digest, len(data), n_rows, dict(zip(names, columns)), tuple(notes))


def _check_names(raw: list[str], filename: str) -> tuple[list[str], list[str]]:
    """Strip header names, name blank ones after their position, refuse duplicates."""
    notes: list[str] = []
    names = []
    for i, name in enumerate(raw):
        clean = str(name).strip()
        if not clean:
            clean = f"column{i + 1}"
            notes.append(f"column {i + 1} has no name in the header; it is called '{clean}'")
        names.append(clean)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise TableError(f"{filename} has two columns named {name!r} (columns {seen[name] + 1} "
                             f"and {i + 1}); column names must be unique")
        seen[name] = i
    if len(names) > MAX_COLUMNS:
        raise TableError(f"{filename} has {len(names):,} columns, more than the {MAX_COLUMNS:,} "
                         "this tool reads")
    return names, notes


def _as_utf8(data: bytes, filename: str) -> bytes:
    """The file as UTF-8 bytes without a byte-order mark; binary or non-UTF-8 files are refused."""
    for magic, what in _FOREIGN_MAGIC:
        if data.startswith(magic):
            raise TableError(f"{filename} is {what}")
    if len(data) > 1 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise TableError(f"{filename} looks like a Python pickle; only CSV and Parquet files are "
                         "read (pickles are never loaded)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise TableError(f"{filename} starts like UTF-16 text but does not decode as UTF-16; "
                             "save it as UTF-8 CSV") from None
    elif data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.rstrip(b"\x1a")  # an old DOS end-of-file mark
    if b"\x00" in data:
        raise TableError(f"{filename} holds binary data (NUL bytes), not CSV text; upload a CSV or "
                         "Parquet file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TableError(f"{filename} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save it as UTF-8 CSV") from None
    control = len(data.translate(None, _TEXT_BYTES))  # what is left are control characters
    if control > max(2, len(data) // 100):
        raise TableError(f"{filename} holds binary data ({control} control characters), not CSV text")
    return data


def _header_line(text: str) -> str:
    """The first line, whatever ends the lines (LF, CRLF or an old Mac's CR)."""
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def _guess_delimiter(header: str) -> str | None:
    """The delimiter that occurs most often in the header outside quotes (None if none does)."""
    bare = re.sub(r'"[^"]*"', "", header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the order of DELIMITERS
    return best if counts[best] > 0 else None


def _read_csv(data: bytes, filename: str) -> tuple[list[str], list[Column], int, list[str]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = _as_utf8(data, filename).lstrip(b"\r\n")
    if not _NON_SPACE.search(data):
        raise TableError(f"{filename} is empty")
    if data.count(b'"') % 2:
        raise TableError(f"{filename} has unbalanced double quotes: a quoted field is never closed")
    head = data[:_HEADER_BYTES].decode("utf-8", errors="ignore")  # valid UTF-8; the cut may split a character
    header = _header_line(head)
    delimiter = _guess_delimiter(header)
    if delimiter is None:
        first = header.strip()[:40]
        raise TableError(f"{filename} has a single column (header {first!r}; no comma, semicolon, tab "
                         "or pipe found): a data set needs at least one input and one target column")
    try:
        raw_names = next(csv.reader([header], delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise TableError(f"{filename}: cannot read the header line ({exc})") from None
    names, notes = _check_names(raw_names, filename)
    if not _NON_SPACE.search(data, len(header.encode("utf-8"))):
        raise TableError(f"{filename} has a header ({len(names)} columns) but no rows")
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                               escape_char=False, newlines_in_values=True, ignore_empty_lines=True)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in raw_names},
                                   strings_can_be_null=False, null_values=[])
    try:
        arrow = pacsv.read_csv(io.BytesIO(data),
                               read_options=pacsv.ReadOptions(use_threads=True, block_size=8 << 20),
                               parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowException, ValueError) as exc:
        raise TableError(_csv_error(exc, data, delimiter, len(names), filename)) from None
    if arrow.num_columns != len(names):
        raise TableError(f"{filename}: the header has {len(names)} columns but {arrow.num_columns} "
                         "were read; check the delimiter and quotes")
    columns = [_text_column(name, arrow.column(i)) for i, name in enumerate(names)]
    if delimiter != ",":
        notes.append(f"columns separated by {DELIMITER_NAMES[delimiter]}s")
    return names, columns, arrow.num_rows, notes


def _csv_error(exc: Exception, data: bytes, delimiter: str, n_fields: int, filename: str) -> str:
    """A one-line reason, naming the first ragged row when that is the fault."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Expected" in message and "columns" in message:
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
        try:
            for row in reader:
                if row and len(row) != n_fields:
                    fields = f"{len(row)} field" + ("s" if len(row) != 1 else "")
                    return (f"{filename}: line {reader.line_num} has {fields} but the header has "
                            f"{n_fields} (ragged rows); fix or remove that line")
        except csv.Error:
            pass
    message = message.removeprefix("CSV parse error: ")
    return f"{filename} is not a well-formed CSV file: {message[:200]}"


def _nulls_removed(arr: Any) -> Any:
    """Trimmed strings with the usual missing-value spellings turned into nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(arr)
    is_null = pc.is_in(trimmed, value_set=pa.array(NULL_TOKENS, type=pa.string()))
    return pc.if_else(is_null, pa.scalar(None, type=pa.string()), trimmed)


def _text_column(name: str, chunked: Any) -> Column:
    """A column of strings: numbers when every present value parses as one, else categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = chunked.combine_chunks() if hasattr(chunked, "combine_chunks") else chunked
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())  # a column the reader typed itself (its header was read differently)
    arr = _nulls_removed(arr)
    try:
        numbers = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _categorical(name, arr)
    return Column(name, "numeric", _float_values(numbers))


def _float_values(arr: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(arr, float("nan")).to_numpy(zero_copy_only=False), dtype=np.float64)


def _categorical(name: str, arr: Any) -> Column:
    """Codes into a sorted vocabulary (sorted so the codes do not depend on row order)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(arr)
    vocab_arr = encoded.dictionary
    order = np.asarray(pc.array_sort_indices(vocab_arr).to_numpy(zero_copy_only=False), dtype=np.int64)
    rank = np.empty(order.size + 1, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    rank[-1] = -1
    idx = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    vocab = tuple(str(v) for v in vocab_arr.take(order.tolist()).to_pylist()) if order.size else ()
    return Column(name, "categorical", rank[idx], vocab)


def _read_parquet(data: bytes, filename: str) -> tuple[list[str], list[Column], int, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC):
        raise TableError(f"{filename} is not a Parquet file (its first and last bytes must be "
                         "'PAR1'); it may be truncated")
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        n_rows = pf.metadata.num_rows
        cap = max_rows()
        if n_rows > cap:
            raise TableError(f"{filename} has {n_rows:,} rows, over the {cap:,}-row limit "
                             "(set MTL_MAX_ROWS to raise it)")
        if pf.metadata.num_columns > MAX_COLUMNS:
            raise TableError(f"{filename} has {pf.metadata.num_columns:,} columns, more than the "
                             f"{MAX_COLUMNS:,} this tool reads")
        arrow = pf.read(use_threads=True)
    except TableError:
        raise
    except Exception as exc:  # pyarrow raises several types for damaged files; all mean the same
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TableError(f"{filename} is not a readable Parquet file: {first[:200]}") from None
    names, notes = _check_names([f.name for f in arrow.schema], filename)
    columns = [_arrow_column(name, arrow.column(i)) for i, name in enumerate(names)]
    return names, columns, arrow.num_rows, notes


def _arrow_column(name: str, chunked: Any) -> Column:
    """A typed Parquet column: numbers, text (or booleans) as categories, anything else unsupported."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    arr = chunked.combine_chunks()
    t = arr.type
    if pat.is_dictionary(t):
        arr = pc.cast(arr, t.value_type)
        t = arr.type
    if pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t):
        return Column(name, "numeric", _float_values(pc.cast(arr, pa.float64())))
    if pat.is_string(t) or pat.is_large_string(t):
        return _categorical(name, _nulls_removed(pc.cast(arr, pa.string())))
    if pat.is_boolean(t):
        return _categorical(name, pc.cast(arr, pa.string()))
    if pat.is_null(t):
        return Column(name, "numeric", np.full(len(arr), np.nan))
    return Column(name, "unsupported", np.zeros(0), detail=str(t))


# --- stage 2: the user's choices ----------------------------------------------------------------


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


def _numeric_hint(col: Column) -> str:
    """When most values of a text column are numbers, name a value that is not."""
    if col.kind != "categorical" or not col.vocab:
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
            shown = ", ".join(repr(c) for c in list(table.columns)[:12])
            raise TableError(f"{what} column {unknown[0]!r} is not in {table.filename}; its columns: {shown}")
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
            why = _input_problem(col)
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
        why = _input_problem(table.columns[name])
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
                             f"missing values (at least {MIN_ROWS} needed); {worst!r} is missing in "
                             f"{worst_n} rows: impute instead of dropping, or leave that column out")
    n_kept = int(keep.sum())
    if n_kept < MIN_ROWS:
        raise TableError(f"only {n_kept} usable row(s) remain after dropping rows with a missing "
                         f"target (at least {MIN_ROWS} needed)")
    rows = np.flatnonzero(keep)

    columns: dict[str, Column] = {n: table.columns[n].take(rows) for n in input_list}
    decided: dict[str, str] = {}
    for name in target_list:
        col = table.columns[name].take(rows)
        kind, col, note = _target_kind(col, kind_map.get(name, "auto"))
        decided[name] = kind
        columns[name] = col
        if note:
            notes.append(note)
    width = sum(1 if columns[n].kind == "numeric" else len(columns[n].vocab) for n in input_list)
    if width > MAX_FEATURES:
        raise TableError(f"the chosen inputs encode to {width:,} features (categories become one "
                         f"column each), more than {MAX_FEATURES:,}; leave out some text columns")
    return TableSource(columns, tuple(input_list), tuple(target_list), decided, missing,
                       tuple(list(table.notes) + notes))


def _missing_mask(col: Column) -> np.ndarray:
    if col.kind == "numeric":
        return np.isnan(col.values)
    if col.kind == "categorical":
        return col.values < 0
    return np.zeros(0, dtype=bool)


def _input_problem(col: Column) -> str:
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
                    f"input may have (an identifier?){_numeric_hint(col)}")
    return ""


def _target_kind(col: Column, asked: str) -> tuple[str, Column, str]:
    """Decide classification or regression; classifications come back as categorical columns."""
    distinct = col.n_distinct
    if distinct < 2:
        only = (col.vocab[0] if col.kind == "categorical" and col.vocab
                else _number_label(float(col.values[0])) if col.values.size else "")
        raise TableError(f"target {col.name!r} has a single value ({only!r}) in the usable rows: "
                         "there is nothing to learn")
    if col.kind == "categorical":
        if asked == "regression":
            raise TableError(f"target {col.name!r} holds text (e.g. {_sample_values(col)}), so it can "
                             f"only be a classification{_numeric_hint(col)}")
        if distinct > MAX_CLASSES:
            raise TableError(f"target {col.name!r} has {distinct:,} distinct values, too many classes "
                             f"for a classification (at most {MAX_CLASSES}){_numeric_hint(col)}")
        return "classification", col, ""
    if asked == "regression" or (asked == "auto" and distinct > MAX_DISCRETE):
        return "regression", col, ""
    if distinct > MAX_CLASSES:
        raise TableError(f"target {col.name!r} has {distinct:,} distinct numbers, too many classes "
                         f"for a classification (at most {MAX_CLASSES}); use it as a regression")
    note = (f"target {col.name!r} has {distinct} distinct numbers: a classification (set its kind "
            "to regression to change that)") if asked == "auto" else ""
    return "classification", _as_classes(col), note


# --- stage 3: split and encode ----------------------------------------------------------------

SPLIT_PARAMS = (
    Param("val_fraction", "float", 0.15, "share of rows held out for validation", low=0.01, high=0.4),
    Param("test_fraction", "float", 0.15, "share of rows held out for the test", low=0.01, high=0.4),
    Param("data_seed", "int", 0, "seed of the train / validation / test split (not the training seed)",
          low=0),
)
_SPLITS = ("train", "val", "test")


def prepare(source: TableSource, name: str, data_seed: int = 0, val_fraction: float = 0.15,
            test_fraction: float = 0.15) -> PreparedData:
    """Split by seed, then encode inputs and targets with training-split statistics only.

    Numbers: imputed (rule) then standardised. Text inputs: imputed (rule) then one-hot over the
    training split's categories; a category first seen in validation or test encodes as all
    zeros. Classification targets: classes are those of the training split; validation and test
    rows with another label are dropped (noted). Regression targets: standardised, with the
    training mean and deviation in the TaskSpec so metrics come back in the column's units.
    """
    import torch

    train_fraction = 1.0 - val_fraction - test_fraction
    if train_fraction < 0.2:
        raise ConfigError(f"validation ({val_fraction}) and test ({test_fraction}) fractions leave "
                          "less than 20% of the rows for training")
    n = source.n_rows
    parts = [p.numpy() for p in seeded_split(n, (train_fraction, val_fraction, test_fraction), data_seed)]
    idx = dict(zip(_SPLITS, parts))
    for split in _SPLITS:
        if idx[split].size == 0:
            raise TableError(f"the {split} split of {n} rows is empty; use more rows or larger fractions")
    notes = list(source.notes)
    train = idx["train"]

    specs: dict[str, TaskSpec] = {}
    target_values: dict[str, np.ndarray] = {}
    classes: dict[str, list[str]] = {}
    keep = {s: np.ones(idx[s].size, dtype=bool) for s in ("val", "test")}
    for t in source.targets:
        col = source.columns[t]
        if source.kinds[t] == "classification":
            present = np.unique(col.values[train])
            if present.size < 2:
                raise TableError(f"target {t!r} has a single class in the training split; use more "
                                 "rows or another data_seed")
            lut = np.full(len(col.vocab), -1, dtype=np.int64)
            lut[present] = np.arange(present.size)
            mapped = lut[col.values]
            for s in ("val", "test"):
                unseen = mapped[idx[s]] < 0
                if unseen.any():
                    keep[s] &= ~unseen
                    notes.append(f"{int(unseen.sum())} {_SPLIT_WORD[s]} row(s) dropped: their {t!r} "
                                 "label never occurs in the training split")
            target_values[t] = mapped
            labels = [col.vocab[i] for i in present.tolist()]
            classes[t] = labels
            shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
            specs[t] = TaskSpec(t, "classification", len(labels), f"column {t!r}: {len(labels)} classes ({shown})")
        else:
            y = col.values
            mean = float(y[train].mean())
            std = float(y[train].std())
            if not np.isfinite(std) or std <= 0:
                raise TableError(f"target {t!r} is constant on the training split; nothing to regress")
            target_values[t] = (y - mean) / std
            specs[t] = TaskSpec(t, "regression", 1,
                                f"column {t!r}: numbers, standardised for training (mean {mean:.4g}, sd "
                                f"{std:.4g}); metrics in the column's units",
                                target_scale=std, target_shift=mean)
    for s in ("val", "test"):
        idx[s] = idx[s][keep[s]]
        if idx[s].size == 0:
            raise TableError(f"the {_SPLIT_WORD[s]} split is empty after dropping rows with labels "
                             "unseen in training; use more rows")

    blocks, features = [], []
    for c in source.inputs:
        block, names = _encode_input(source.columns[c], source.missing, idx, notes)
        blocks.append(block)
        features += names
    x = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    splits = {}
    for s in _SPLITS:
        rows = idx[s]
        ys: dict[str, torch.Tensor] = {}
        for t in source.targets:
            v = target_values[t][rows]
            ys[t] = (torch.from_numpy(v.astype(np.int64)) if source.kinds[t] == "classification"
                     else torch.from_numpy(v.astype(np.float32)))
        splits[s] = Split(torch.from_numpy(np.ascontiguousarray(x[rows])), ys)
    info = {
        "sizes": {s: len(splits[s]) for s in _SPLITS},
        "features": features, "inputs": list(source.inputs), "targets": list(source.targets),
        "kinds": dict(source.kinds), "classes": classes, "missing": source.missing,
        "notes": notes, "split": {"data_seed": data_seed, "val_fraction": val_fraction,
                                  "test_fraction": test_fraction},
        "sources": {s: torch.from_numpy(idx[s].copy()) for s in _SPLITS},  # row numbers in the source
    }
    return PreparedData(name, (x.shape[1],), specs, splits["train"], splits["val"], splits["test"], info)


_SPLIT_WORD = {"train": "training", "val": "validation", "test": "test"}


def _mode(values: np.ndarray) -> Any:
    """The most frequent value (the smallest among ties, so the choice is deterministic)."""
    uniq, counts = np.unique(values, return_counts=True)
    return uniq[int(np.argmax(counts))]


def _encode_input(col: Column, rule: str, idx: dict[str, np.ndarray],
                  notes: list[str]) -> tuple[np.ndarray, list[str]]:
    train = idx["train"]
    if col.kind == "numeric":
        v = col.values.copy()
        gaps = np.isnan(v)
        if gaps.any():
            present = v[train][~gaps[train]]
            if present.size == 0:
                raise TableError(f"input {col.name!r} has no values in the training split")
            fill = float(np.median(present)) if rule == "median" else float(_mode(present))
            v[gaps] = fill
        mean, std = float(v[train].mean()), float(v[train].std())
        if not np.isfinite(std) or std <= 0:
            std = 1.0  # a constant column stays a column of zeros
        return ((v - mean) / std)[:, None], [col.name]
    codes = col.values.copy()
    gaps = codes < 0
    if gaps.any():
        present = codes[train][~gaps[train]]
        if present.size == 0:
            raise TableError(f"input {col.name!r} has no values in the training split")
        codes[gaps] = _mode(present)
    cats = np.unique(codes[train])
    lut = np.full(len(col.vocab), -1, dtype=np.int64)
    lut[cats] = np.arange(cats.size)
    mapped = lut[codes]
    onehot = np.zeros((codes.size, cats.size), dtype=np.float32)
    rows = np.flatnonzero(mapped >= 0)
    onehot[rows, mapped[rows]] = 1.0
    for s in ("val", "test"):
        unseen = int((mapped[idx[s]] < 0).sum())
        if unseen:
            notes.append(f"input {col.name!r}: {unseen} {_SPLIT_WORD[s]} row(s) hold a category not "
                         "seen in training (encoded as all zeros)")
    return onehot, [f"{col.name}={col.vocab[i]}" for i in cats.tolist()]


# --- storing and registering --------------------------------------------------------------------


def data_dir() -> Path:
    """Where imported tables are stored: MTL_DATA_DIR, else <cache>/tables.

    Not created here (base.cache_dir would create the cache): listing the stored sets at import
    must leave no trace, and a rejected file must leave nothing behind.
    """
    root = os.environ.get("MTL_DATA_DIR")
    if root:
        return Path(root).expanduser()
    cache = os.environ.get("MTL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mtl-playground")
    return Path(cache) / "tables"


def slugify(title: str) -> str:
    """A file-safe name: lower case letters, digits, '_', '.', '-'."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", title.strip().lower()).strip("-.")[:40].strip("-.")
    if not slug:
        raise TableError("give the data set a name with at least one letter or digit")
    return slug


@dataclass(frozen=True)
class SavedTable:
    """A stored table: its data-set name (what a run config uses) and what it holds."""

    name: str
    title: str
    sha256: str
    path: Path
    tasks: list[TaskSpec]
    sizes: dict[str, int]
    n_features: int
    notes: list[str] = field(default_factory=list)
    created: bool = True  # False when the same content was already stored

    def report(self) -> str:
        """Lines for a terminal: what was stored and how to use it."""
        lines = [f"{'saved' if self.created else 'already stored'}: {self.name} "
                 f"({sum(self.sizes.values())} rows: {self.sizes['train']} train, {self.sizes['val']} "
                 f"validation, {self.sizes['test']} test; {self.n_features} input features) in {self.path.parent}"]
        for t in self.tasks:
            lines.append(f"  - {t.name}: {t.kind}" + (f", {t.out_dim} classes" if t.kind == "classification" else ""))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f'use it in a run config as "data": {{"name": "{self.name}"}}')
        return "\n".join(lines)


def _spec_dict(spec: TaskSpec) -> dict[str, Any]:
    return {"name": spec.name, "kind": spec.kind, "out_dim": spec.out_dim, "description": spec.description,
            "target_scale": spec.target_scale, "target_shift": spec.target_shift}


def save_table(table: Table, title: str, inputs: str | Iterable[str] | None,
               targets: str | Iterable[str], missing: str = "drop",
               kinds: str | dict[str, str] | None = None) -> SavedTable:
    """Check the choices, prepare once at the default split (so a set that cannot train is never
    stored), then store and register it. Saving the same content again is a no-op."""
    title = title.strip()[:80]
    slug = slugify(title)
    source = select_columns(table, inputs, targets, missing, kinds)
    digest = source.content_hash()
    stem = f"{slug}-{digest[:8]}"
    name = NAME_PREFIX + stem
    data = prepare(source, name)
    folder = data_dir()
    meta = {
        **source.describe(),
        "name": name, "title": title, "sha256": digest, "rows": source.n_rows,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "file": {"name": table.filename, "sha256": table.sha256, "bytes": table.n_bytes, "rows": table.n_rows},
        "notes": list(source.notes),
        "tasks": [_spec_dict(s) for s in data.tasks.values()],
        "sizes": data.info["sizes"], "n_features": int(data.input_shape[0]),
    }
    meta_path = folder / f"{stem}.json"
    created = True
    existing = _read_meta(meta_path)
    if existing is not None and existing.get("sha256") == digest and (folder / f"{stem}.npz").is_file():
        created = False
        meta = existing
    else:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"c{i}": source.columns[c].values for i, c in enumerate((*source.inputs, *source.targets))}
        tag = f".{os.getpid()}.tmp"
        with open(folder / f"{stem}.npz{tag}", "wb") as fh:
            np.savez(fh, **arrays)
        (folder / f"{stem}.json{tag}").write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(folder / f"{stem}.npz{tag}", folder / f"{stem}.npz")
        os.replace(folder / f"{stem}.json{tag}", meta_path)  # the metadata last: it marks a complete set
    _register_saved(meta)
    return SavedTable(name, title, digest, meta_path, list(data.tasks.values()), dict(data.info["sizes"]),
                      int(data.input_shape[0]), list(data.info["notes"]), created)


def import_table_file(path: str | Path, title: str, inputs: str | Iterable[str] | None,
                      targets: str | Iterable[str], missing: str = "drop",
                      kinds: str | dict[str, str] | None = None) -> SavedTable:
    """Read a file from disk and save it as a data set (the CLI's `import-table`)."""
    return save_table(read_table_file(path), title, inputs, targets, missing, kinds)


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    required = ("name", "title", "sha256", "inputs", "targets", "kinds", "missing", "columns", "tasks")
    if not isinstance(meta, dict) or not all(k in meta for k in required):
        return None
    if not str(meta["name"]).startswith(NAME_PREFIX):
        return None
    return meta


def load_saved(name: str) -> TableSource:
    """The stored TableSource of `table:<stem>`, its content hash checked against its name."""
    stem = name.removeprefix(NAME_PREFIX)
    folder = data_dir()
    meta = _read_meta(folder / f"{stem}.json")
    npz = folder / f"{stem}.npz"
    if meta is None or not npz.is_file():
        raise DataSourceMissing(f"data set {name} is not stored in {folder}; import its file again "
                                "(or set MTL_DATA_DIR to the folder that holds it)")
    order = [*meta["inputs"], *meta["targets"]]
    try:
        with np.load(npz, allow_pickle=False) as arrays:
            values = {c: arrays[f"c{i}"] for i, c in enumerate(order)}
    except (OSError, ValueError, KeyError) as exc:
        raise SavedDataChanged(f"stored data of {name} is damaged ({exc}); import its file again") from None
    columns = {c: Column(c, meta["columns"][c]["kind"], values[c], tuple(meta["columns"][c]["vocab"]))
               for c in order}
    source = TableSource(columns, tuple(meta["inputs"]), tuple(meta["targets"]), dict(meta["kinds"]),
                         meta["missing"], tuple(meta.get("notes", [])))
    digest = source.content_hash()
    if digest != meta["sha256"] or not stem.endswith("-" + digest[:8]):
        raise SavedDataChanged(f"stored data of {name} does not match its content hash (changed on "
                               "disk?); import its file again")
    return source


def saved_tables() -> list[dict[str, Any]]:
    """The metadata of every set stored in data_dir(), newest first (for pages and the CLI)."""
    folder = data_dir()
    if not folder.is_dir():
        return []
    metas = [m for m in (_read_meta(p) for p in sorted(folder.glob("*.json"))) if m is not None]
    return sorted(metas, key=lambda m: m.get("created", ""), reverse=True)


def refresh_saved() -> list[str]:
    """Register every stored set not yet in DATASETS (a set saved by another process); returns them."""
    added = []
    for meta in saved_tables():
        if meta["name"] not in DATASETS:
            _register_saved(meta)
            added.append(meta["name"])
    return added


def _split_args(params: dict[str, Any]) -> dict[str, Any]:
    return {"data_seed": params["data_seed"], "val_fraction": params["val_fraction"],
            "test_fraction": params["test_fraction"]}


def _register_saved(meta: dict[str, Any]) -> None:
    name = meta["name"]
    if name in DATASETS:
        return
    default_specs = [TaskSpec(**d) for d in meta["tasks"]]
    defaults = {p.name: p.default for p in SPLIT_PARAMS}

    def load(params: dict[str, Any]) -> PreparedData:
        data = prepare(load_saved(name), name, **_split_args(params))
        data.info.update({"title": meta["title"], "sha256": meta["sha256"], "file": meta.get("file", {})})
        return data

    def tasks(params: dict[str, Any]) -> list[TaskSpec]:
        if params == defaults:
            return list(default_specs)
        try:
            return list(load(params).tasks.values())
        except ConfigError:
            return list(default_specs)

    def available(params: dict[str, Any]) -> str | None:
        stem = name.removeprefix(NAME_PREFIX)
        folder = data_dir()
        if (folder / f"{stem}.json").is_file() and (folder / f"{stem}.npz").is_file():
            return None
        return (f"data set {name} is not stored in {folder}; import its file again (or set "
                "MTL_DATA_DIR to the folder that holds it)")

    file = meta.get("file", {})
    kinds = ", ".join(f"{t} ({meta['kinds'][t]})" for t in meta["targets"])
    info = DataSetInfo(
        name=name, title=f"{meta['title']} (your table)",
        summary=(f"Your table {file.get('name', '')!r}: {meta.get('rows', '?')} rows, inputs "
                 f"{', '.join(meta['inputs'][:6])}{', ...' if len(meta['inputs']) > 6 else ''}; "
                 f"tasks {kinds}. Missing inputs: {meta['missing']}."),
        tasks=tasks, load=load, available=available, params=SPLIT_PARAMS,
        source=(f"imported {meta.get('created', '')} from {file.get('name', '?')} (file sha256 "
                f"{str(file.get('sha256', ''))[:12]}); stored content hash {meta['sha256'][:12]}"),
        input_kind="vector",
    )
    try:
        register(info)
    except ValueError:  # registered meanwhile by another thread (two tabs saving the same table)
        pass


# --- a file named in the run config -------------------------------------------------------------


@dataclass(frozen=True)
class ColumnsParam(Param):
    """Column names as a list, or as one comma-separated string (drawn as a text field)."""

    def validate(self, value: Any) -> Any:
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
            return column_names(value, f"parameter '{self.name}'")
        raise ConfigError(f"parameter '{self.name}' must be a list of column names, got {value!r}")


DIRECT_PARAMS = (
    Param("path", "str", "", "CSV or Parquet file to read (parsed at every load; import it to store it "
          "under a hashed name instead)"),
    ColumnsParam("inputs", "str", "", "input columns, comma-separated (empty = every other usable column)"),
    ColumnsParam("targets", "str", "", "target columns, comma-separated: one task each"),
    Param("missing", "choice", "drop", "missing inputs: " + "; ".join(f"{k}: {v}" for k, v in MISSING_RULES.items()),
          choices=tuple(MISSING_RULES)),
    Param("kinds", "str", "", "task kinds, e.g. 'y=regression,z=classification' (default auto)"),
    Param("sha256", "str", "", "expected SHA-256 of the file (a prefix is enough): a changed file is refused"),
    *SPLIT_PARAMS,
)


def _direct_load(params: dict[str, Any]) -> PreparedData:
    why = _direct_available(params)
    if why:
        raise DataSourceMissing(why)
    table = read_table_file(params["path"])
    expected = params["sha256"].strip().lower()
    if expected and not table.sha256.startswith(expected):
        raise SavedDataChanged(f"{params['path']} has SHA-256 {table.sha256[:16]}..., not the "
                               f"{expected[:16]}... the config expects: the file changed")
    source = select_columns(table, params["inputs"] or None, params["targets"], params["missing"],
                            params["kinds"])
    data = prepare(source, DIRECT_NAME, **_split_args(params))
    data.info["file"] = {"name": table.filename, "sha256": table.sha256, "bytes": table.n_bytes,
                         "rows": table.n_rows}
    return data


def _direct_available(params: dict[str, Any]) -> str | None:
    if not params["path"]:
        return ("name a CSV or Parquet file with the parameter 'path' and its target columns with "
                "'targets' (or import the file: python -m mtlcore import-table)")
    if not Path(params["path"]).expanduser().is_file():
        return f"table file not found: {params['path']}"
    if not column_names(params["targets"], "targets"):
        return "choose the target columns of the table with the parameter 'targets'"
    return None


def _direct_tasks(params: dict[str, Any]) -> list[TaskSpec]:
    if _direct_available(params):
        return []
    try:
        return list(_direct_load(params).tasks.values())
    except ConfigError:
        return []


register(DataSetInfo(
    name=DIRECT_NAME, title="Table file",
    summary=("A CSV or Parquet file named in the run config: pick input and target columns; each "
             "target becomes a task (numbers with many values: regression, text or few values: "
             "classification)."),
    tasks=_direct_tasks, load=_direct_load, available=_direct_available, params=DIRECT_PARAMS,
    source="a CSV or Parquet file of yours (parsed with pyarrow; never executed or unpickled)",
    input_kind="vector",
))
refresh_saved()
