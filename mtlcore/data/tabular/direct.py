"""The data set `table`: a CSV or Parquet file named in the run config (`params.path`), read at
every load. Its contents are private: messages about it never quote them (see table.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtlcore.data.base import DataSetInfo, DataSourceMissing, PreparedData, register
from mtlcore.data.tabular.encode import SPLIT_PARAMS, prepare
from mtlcore.data.tabular.read import read_table_file
from mtlcore.data.tabular.saved import _split_args
from mtlcore.data.tabular.select import MISSING_RULES, column_names, select_columns
from mtlcore.data.tabular.table import SavedDataChanged
from mtlcore.registry import ConfigError, Param
from mtlcore.tasks import TaskSpec

DIRECT_NAME = "table"


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
    table = read_table_file(params["path"], private=True)
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
