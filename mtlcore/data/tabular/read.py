"""Reading a user table: sniffing the format, parsing CSV (plain or gzip) or Parquet, and the caps.

pyarrow's CSV and Parquet readers parse the bytes into typed columns (numbers, or text as category
codes): a file is parsed, never executed or unpickled. A malformed file raises TableError with a
one-line message before anything is written anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from mtlcore.data.limits import MAX_COLUMNS, describe_bytes, max_rows, max_upload_bytes
from mtlcore.data.tabular.table import HIDDEN, Column, Table, TableError, shown

NULL_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "none", "#N/A", "?")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
PARQUET_MAGIC = b"PAR1"
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 256)])
_NON_SPACE = re.compile(rb"\S")
_HEADER_BYTES = 1 << 20  # the header is looked for in the first megabyte
GZIP_MAGIC = b"\x1f\x8b"

# Formats people upload by mistake, recognised by their first bytes, with what to do instead.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one): export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document: export the sheet as CSV"),
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


def read_table_file(path: str | Path, private: bool = False) -> Table:
    """Read a CSV or Parquet file from disk; its size is checked before it is read.

    `private`: the path was named, not uploaded (a run config's): messages never quote its contents."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise TableError(f"table file not found: {p}")
    size = p.stat().st_size
    limit = max_upload_bytes()
    if size > limit:
        raise TableError(f"{p.name} is {describe_bytes(size)}, over the {describe_bytes(limit)} "
                         "limit (set MTL_MAX_UPLOAD_MB to raise it)")
    return read_table(p.read_bytes(), p.name, private)


def read_table(data: bytes, filename: str = "table.csv", private: bool = False) -> Table:
    """Parse a CSV or Parquet file's bytes into typed columns, or raise TableError saying why not.

    Parquet is recognised by its magic bytes or a .parquet/.pq name; gzip-compressed bytes (a
    .csv.gz) are decompressed first, within the same size limit; anything else must be delimited
    UTF-8 text (comma, semicolon, tab or pipe, found from the header line). `private`: messages
    never quote the file's contents (see read_table_file).
    """
    limit = max_upload_bytes()
    if len(data) > limit:
        raise TableError(f"{filename} is {describe_bytes(len(data))}, over the "
                         f"{describe_bytes(limit)} limit (set MTL_MAX_UPLOAD_MB to raise it)")
    if not _NON_SPACE.search(data):
        raise TableError(f"{filename} is empty")
    digest = hashlib.sha256(data).hexdigest()
    n_bytes = len(data)
    gz_notes: list[str] = []
    if data.startswith(GZIP_MAGIC):
        data = _gunzipped(data, filename, limit)
        gz_notes.append(f"gzip-compressed: {describe_bytes(n_bytes)}, {describe_bytes(len(data))} decompressed")
    is_parquet = data[:4] == PARQUET_MAGIC or filename.lower().removesuffix(".gz").endswith((".parquet", ".pq"))
    warnings: list[str] = []
    if is_parquet:
        names, columns, n_rows, notes = _read_parquet(data, filename, private)
    else:
        names, columns, n_rows, notes = _read_csv(data, filename, private)
        warnings += _header_warnings(names, private)
    if n_rows == 0:
        raise TableError(f"{filename} has a header ({len(names)} columns) but no rows")
    if len(names) < 2:
        raise TableError(f"{filename} has a single column ({shown(names[0], private)}); a data set needs at "
                         "least one input column and one target column")
    cap = max_rows()
    if n_rows > cap:
        raise TableError(f"{filename} has {n_rows:,} rows, over the {cap:,}-row limit "
                         "(set MTL_MAX_ROWS to raise it)")
    return Table(filename, digest, n_bytes, n_rows, dict(zip(names, columns)), tuple(gz_notes + notes),
                 private, tuple(warnings))


def _gunzipped(data: bytes, filename: str, limit: int) -> bytes:
    """The decompressed bytes of a gzip file, refused past `limit` (read no further: a gzip bomb stops here)."""
    import gzip
    import zlib

    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        raise TableError(f"{filename} starts like gzip but does not decompress (truncated or damaged)") from None
    if len(out) > limit:
        raise TableError(f"{filename} decompresses to over the {describe_bytes(limit)} limit (set "
                         "MTL_MAX_UPLOAD_MB to raise it)")
    if out.startswith(GZIP_MAGIC):
        raise TableError(f"{filename} is compressed twice; decompress it once first")
    return out


def _header_warnings(names: list[str], private: bool) -> list[str]:
    """A warning when the first line looks like data (numbers among the column names), e.g. the
    metadata line '150,4,setosa,versicolor,virginica' of scikit-learn's iris.csv."""
    numbers = [n for n in names if _is_number(n)]
    if not numbers:
        return []
    listed = HIDDEN if private else ", ".join(repr(n) for n in numbers[:4]) + (", ..." if len(numbers) > 4 else "")
    return [f"the first line looks like data, not column names: {len(numbers)} of the {len(names)} names "
            f"are numbers ({listed}). Column names are read from the first line: if the file has no "
            "header line, or a line before it, fix the file so its first line names the columns"]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_names(raw: list[str], filename: str, private: bool) -> tuple[list[str], list[str]]:
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
            raise TableError(f"{filename} has two columns named {shown(name, private)} (columns {seen[name] + 1} "
                             f"and {i + 1}); column names must be unique")
        seen[name] = i
    if len(names) > MAX_COLUMNS:
        raise TableError(f"{filename} has {len(names):,} columns, more than the {MAX_COLUMNS:,} "
                         "this tool reads")
    return names, notes


def _as_utf8(data: bytes, filename: str, private: bool) -> bytes:
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
        byte = "a byte" if private else f"byte 0x{data[exc.start]:02x}"
        raise TableError(f"{filename} is not UTF-8 text ({byte} at offset {exc.start}); save it as "
                         "UTF-8 CSV") from None
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


def _read_csv(data: bytes, filename: str, private: bool) -> tuple[list[str], list[Column], int, list[str]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = _as_utf8(data, filename, private).lstrip(b"\r\n")
    if not _NON_SPACE.search(data):
        raise TableError(f"{filename} is empty")
    if data.count(b'"') % 2:
        raise TableError(f"{filename} has unbalanced double quotes: a quoted field is never closed")
    head = data[:_HEADER_BYTES].decode("utf-8", errors="ignore")  # valid UTF-8; the cut may split a character
    header = _header_line(head)
    delimiter = _guess_delimiter(header)
    if delimiter is None:
        first = shown(header.strip()[:40], private)
        raise TableError(f"{filename} has a single column (header {first}; no comma, semicolon, tab "
                         "or pipe found): a data set needs at least one input and one target column")
    try:
        raw_names = next(csv.reader([header], delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise TableError(f"{filename}: cannot read the header line ({HIDDEN if private else exc})") from None
    names, notes = _check_names(raw_names, filename, private)
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
        raise TableError(_csv_error(exc, data, delimiter, len(names), filename, private)) from None
    if arrow.num_columns != len(names):
        raise TableError(f"{filename}: the header has {len(names)} columns but {arrow.num_columns} "
                         "were read; check the delimiter and quotes")
    columns = [_text_column(name, arrow.column(i)) for i, name in enumerate(names)]
    if delimiter != ",":
        notes.append(f"columns separated by {DELIMITER_NAMES[delimiter]}s")
    return names, columns, arrow.num_rows, notes


def _csv_error(exc: Exception, data: bytes, delimiter: str, n_fields: int, filename: str, private: bool) -> str:
    """A one-line reason, naming the first ragged row when that is the fault (pyarrow's own message
    quotes the row, so it is left out of a private file's)."""
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
    return f"{filename} is not a well-formed CSV file: {HIDDEN if private else message[:200]}"


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


def _read_parquet(data: bytes, filename: str, private: bool) -> tuple[list[str], list[Column], int, list[str]]:
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
        raise TableError(f"{filename} is not a readable Parquet file: {HIDDEN if private else first[:200]}") from None
    names, notes = _check_names([f.name for f in arrow.schema], filename, private)
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
