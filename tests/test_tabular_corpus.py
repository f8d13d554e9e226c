"""A generated corpus of malformed table files: each is rejected with a one-line message naming
its fault, and nothing is stored. Property tests add arbitrary bytes and arbitrary CSV-like text:
whatever comes in, the outcome is a data set with finite inputs or a ConfigError, never a crash.
"""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlcore.data import tabular as tab
from mtlcore.registry import ConfigError


@dataclass(frozen=True)
class Case:
    kind: str
    data: bytes
    expect: str  # a regular expression the message must match
    filename: str = "upload.csv"
    inputs: tuple[str, ...] | None = None
    targets: tuple[str, ...] = ("y",)
    missing: str = "drop"
    env: dict[str, str] = field(default_factory=dict)


def _table(rng: np.random.Generator, n: int, delim: str = ",", target: list[str] | None = None) -> str:
    """A well-formed CSV text with inputs a, b and target y (replaced by `target` when given)."""
    a = rng.normal(size=n).round(3)
    b = rng.choice(["red", "green", "blue"], n)
    y = target if target is not None else [str(v) for v in rng.normal(size=n).round(3)]
    lines = [delim.join(["a", "b", "y"])] + [delim.join([str(x), c, t]) for x, c, t in zip(a, b, y)]
    return "\n".join(lines) + "\n"


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def corpus() -> Iterator[Case]:
    rng = np.random.default_rng(20240607)
    delims = [",", ";", "\t", "|"]
    for _ in range(20):  # binary garbage
        raw = bytearray(rng.integers(0, 256, size=int(rng.integers(16, 4000)), dtype=np.uint8).tobytes())
        raw[int(rng.integers(4, len(raw)))] = 0
        raw[:4] = b"\x01\x02\x03\x04"
        yield Case("binary garbage", bytes(raw), r"binary data")
    for _ in range(15):  # binary without NUL bytes
        raw = bytearray(rng.integers(1, 256, size=int(rng.integers(16, 3000)), dtype=np.uint8).tobytes())
        raw[:4] = b"\x01\x02\x03\x04"
        raw[int(rng.integers(4, len(raw)))] = 0xFF
        yield Case("binary without NUL", bytes(raw), r"not UTF-8|binary data")
    for i in range(15):  # wrong encoding: Latin-1 / cp1252 text
        n = int(rng.integers(12, 200))
        cities = rng.choice(["Besançon", "Orléans", "Nîmes", "Zürich", "Málaga"], n)
        text = "ville;année;prix\n" + "".join(f"{c};{2000 + k};{rng.integers(100, 999)}\n"
                                              for k, c in enumerate(cities))
        yield Case("wrong encoding", text.encode(["latin-1", "cp1252"][i % 2]), r"not UTF-8 text \(byte 0x",
                   targets=("prix",))
    sample = _table(rng, 30).encode()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("sheet.csv", sample)
    npy = io.BytesIO()
    np.save(npy, rng.normal(size=(5, 3)))
    foreign = [
        (zbuf.getvalue(), "zip archive"), (bz2.compress(sample), "bzip2"),
        # gzip is read (a .csv.gz): what it holds is judged, and a damaged stream is refused
        (gzip.compress(b"\x89PNG\r\n\x1a\n" + rng.bytes(200)), "PNG"), (gzip.compress(sample)[:40], "gzip"),
        (b"\x89PNG\r\n\x1a\n" + rng.bytes(200), "PNG"), (b"%PDF-1.7\n" + rng.bytes(300), "PDF"),
        (pickle.dumps(pd.DataFrame({"a": [1, 2], "y": [3, 4]})), "pickle"),
        (pickle.dumps({"a": [1, 2, 3]}, protocol=2), "pickle"),
        (b"SQLite format 3\x00" + rng.bytes(100), "SQLite"), (npy.getvalue(), "NumPy"),
        (b"\xff\xd8\xff\xe0" + rng.bytes(100), "JPEG"), (b"\xd0\xcf\x11\xe0\xa1\xb1" + rng.bytes(100), "Office"),
        (b"\x7fELF" + rng.bytes(100), "program"), (b"GIF89a" + rng.bytes(50), "GIF"),
        (b"\xfd7zXZ\x00" + rng.bytes(50), "xz"),
    ]
    for raw, what in foreign:
        for name in ("data.csv", "data.xlsx"):
            yield Case("foreign format", raw, re.escape(what), filename=name)
    for raw in (b"", b"\n", b"\n\n\n", b"   \n\t \n", b"\r\n" * 5, b"\xef\xbb\xbf", b"\xef\xbb\xbf\n",
                "\n".encode("utf-16"), b" ", b"\t\t", b"\x1a", b"\n \r\n"):
        yield Case("empty", raw, r"is empty")
    for i in range(15):  # a single column
        n = int(rng.integers(0, 300))
        body = "".join(f"{v}\n" for v in rng.normal(size=n).round(2))
        yield Case("single column", (["value", "y", "price in EUR", '"a,b"'][i % 4] + "\n" + body).encode(),
                   r"single column")
    for i in range(15):  # header only
        d = delims[i % 4]
        header = d.join(["a", "b", "y", "z"][: 2 + i % 3])
        yield Case("header only", (header + "\n" * (i % 3) + " " * (i % 2)).encode(), r"header .* but no rows")
    for i in range(15):  # an all-missing target
        n = int(rng.integers(12, 300))
        token = ["", "NA", "nan", "null", "?", "N/A", " "][i % 7]
        yield Case("all-missing target", _table(rng, n, delims[i % 4], [token] * n).encode(),
                   r"no values: it is missing in every row")
    for _ in range(10):  # a target with thousands of classes
        n = int(rng.integers(1000, 4000))
        ids = [f"id-{k:05d}" for k in rng.permutation(n)]
        yield Case("thousands of classes", _table(rng, n, target=ids).encode(), r"too many classes")
    for i in range(20):  # ragged rows
        lines = _table(rng, int(rng.integers(12, 200)), delims[i % 4]).splitlines()
        k = int(rng.integers(1, len(lines)))
        d = delims[i % 4]
        lines[k] = lines[k] + d + "extra" if i % 2 else lines[k].rsplit(d, 1)[0]
        yield Case("ragged rows", ("\n".join(lines) + "\n").encode(), r"ragged rows")
    for _ in range(10):  # an unbalanced quote
        lines = _table(rng, int(rng.integers(12, 100))).splitlines()
        k = int(rng.integers(1, len(lines)))
        lines[k] = lines[k].replace(",", ',"', 1)
        yield Case("unbalanced quote", ("\n".join(lines) + "\n").encode(), r"unbalanced double quotes")
    for i in range(10):  # duplicate column names
        header = ["a,a,y", "a,b,a", "y,b,y", "a, a,y", "b,b ,y"][i % 5]
        text = _table(rng, int(rng.integers(12, 100))).replace("a,b,y", header, 1)
        yield Case("duplicate names", text.encode(), r"two columns named")
    for i in range(10):  # a target with a single value
        n = int(rng.integers(12, 200))
        yield Case("single-valued target", _table(rng, n, target=[["7", "yes", "1.5"][i % 3]] * n).encode(),
                   r"single value")
    for i in range(10):  # too few rows
        yield Case("too few rows", _table(rng, 2 + i % 8).encode(), r"usable row")
    good = _parquet(pd.DataFrame({"a": rng.normal(size=50), "y": rng.normal(size=50)}))
    for _ in range(10):  # damaged Parquet
        cut = int(rng.integers(5, len(good) - 5))
        yield Case("damaged parquet", good[:cut], r"not a (readable )?Parquet file", filename="d.parquet")
    for i in range(5):
        raw = b"PAR1" + rng.bytes(int(rng.integers(10, 500))) + b"PAR1"
        yield Case("damaged parquet", raw, r"not a (readable )?Parquet file", filename=["d.parquet", "d.csv"][i % 2])
    for _ in range(5):  # Parquet with a date target
        df = pd.DataFrame({"a": rng.normal(size=30), "y": pd.date_range("2020-01-01", periods=30, freq="D")})
        yield Case("date target", _parquet(df), r"timestamp", filename="t.parquet")
    for i in range(5):  # over the row cap
        yield Case("row cap", _table(rng, 200 + i).encode(), r"row limit", env={"MTL_MAX_ROWS": "100"})
    for i in range(5):  # over the size cap
        yield Case("size cap", _table(rng, 2000 + i).encode(), r"over the .* limit", env={"MTL_MAX_UPLOAD_MB": "0.02"})
    for _ in range(5):  # a target that is not a column
        yield Case("unknown target", _table(rng, 30).encode(), r"is not in", targets=("price",))
    for i in range(5):  # inputs with no values at all
        n = 40
        text = "a,b,y\n" + "".join(f",,{v}\n" for v in rng.normal(size=n).round(2))
        yield Case("empty inputs", text.encode(), r"no values|no column is left",
                   inputs=(("a", "b") if i % 2 else None))
    for i in range(5):  # an infinite target
        n = 40
        ys = [str(v) for v in rng.normal(size=n).round(2)]
        ys[int(rng.integers(0, n))] = ["inf", "-inf", "Infinity"][i % 3]
        yield Case("infinite target", _table(rng, n, target=ys).encode(), r"infinite")


CORPUS = list(corpus())


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 200
    assert len({c.kind for c in CORPUS}) >= 20
    assert len({c.data for c in CORPUS}) >= 195  # distinct files, not one file many times


def test_every_malformed_file_is_rejected_with_a_message_and_nothing_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "tables"
    monkeypatch.setenv("MTL_DATA_DIR", str(store))
    failures = []
    for i, case in enumerate(CORPUS):
        with monkeypatch.context() as m:
            for k, v in case.env.items():
                m.setenv(k, v)
            try:
                table = tab.read_table(case.data, case.filename)
                tab.save_table(table, f"case {i}", case.inputs, case.targets, case.missing)
            except ConfigError as exc:
                message = str(exc)
                if not re.search(case.expect, message) or "\n" in message or len(message) > 400:
                    failures.append(f"#{i} {case.kind}: {message!r} does not match {case.expect!r}")
            except Exception as exc:  # noqa: BLE001  the point: anything else is a crash
                failures.append(f"#{i} {case.kind}: crashed with {type(exc).__name__}: {exc}")
            else:
                failures.append(f"#{i} {case.kind}: accepted")
        if store.exists():
            failures.append(f"#{i} {case.kind}: left {sorted(p.name for p in store.iterdir())} in the store")
            break
    assert not failures, "\n".join(failures[:20])


def _attempt(data: bytes, filename: str, targets: list[str], missing: str = "median") -> None:
    """Read, choose and prepare; an accepted file must give finite inputs and valid targets."""
    try:
        table = tab.read_table(data, filename)
        source = tab.select_columns(table, None, targets, missing)
        prepared = tab.prepare(source, "fuzz")
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for split in (prepared.train, prepared.val, prepared.test):
        assert len(split) > 0 and torch.isfinite(split.x).all()
        for name, spec in prepared.tasks.items():
            y = split.targets[name]
            if spec.kind == "classification":
                assert 0 <= int(y.min()) and int(y.max()) < spec.out_dim
            else:
                assert torch.isfinite(y).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000), st.sampled_from(["x.csv", "x.parquet", "x.txt"]))
def test_arbitrary_bytes_never_crash(data: bytes, filename: str) -> None:
    _attempt(data, filename, ["y"])


_CELLS = st.sampled_from(["1", "2.5", "-3", "1e9", "", "NA", "?", "a", "b", "é", '"q,x"', '"two\nlines"',
                          " 4 ", "inf", "nan", "true", "0", '""', "x y"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 5).flatmap(lambda width: st.tuples(
    st.just(width),
    st.lists(st.lists(_CELLS, min_size=width, max_size=width), min_size=0, max_size=60),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["drop", "median", "most_frequent"]),
    st.booleans(),
)))
def test_arbitrary_csv_text_never_crashes(spec: tuple) -> None:
    width, rows, delim, missing, ragged = spec
    if ragged and rows:
        rows[-1] = rows[-1][:-1]
    header = delim.join(["y"] + [f"c{k}" for k in range(1, width)])
    text = header + "\n" + "".join(delim.join(r) + "\n" for r in rows)
    _attempt(text.encode("utf-8"), "fuzz.csv", ["y"], missing)
