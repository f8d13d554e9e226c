"""User tables as data sets: a CSV (plain or gzip) or Parquet file whose columns become inputs and tasks.

The package's modules are its stages, each a plain function shared by the upload page, the CLI and
run configs:

- read: `read_table` sniffs and parses bytes into typed columns (`table.Table`), within the caps.
- select: `select_columns` applies the user's choices (inputs, targets, missing-value rule, task
  kinds) and keeps the usable rows: a `TableSource`, no statistic taken yet.
- encode: `prepare` splits by seed and encodes with scikit-learn fitted on the training split only.
- saved: `save_table` stores a TableSource under `<name>-<hash>` and registers it as
  `table:<name>-<hash>`; stored sets are found when asked (no disk scan at import).
- direct: the entry `table` reads a file named in the run config (`params.path`).
"""

from mtlcore.data.base import FINDERS
from mtlcore.data.tabular.direct import DIRECT_NAME, DIRECT_PARAMS, ColumnsParam
from mtlcore.data.tabular.encode import SPLIT_PARAMS, encode_inputs, prepare
from mtlcore.data.tabular.read import (
    DELIMITER_NAMES,
    DELIMITERS,
    NULL_TOKENS,
    PARQUET_MAGIC,
    read_table,
    read_table_file,
)
from mtlcore.data.tabular.saved import (
    NAME_PREFIX,
    SavedTable,
    data_dir,
    find_saved,
    import_table_file,
    load_saved,
    refresh_saved,
    save_table,
    saved_tables,
    slugify,
)
from mtlcore.data.tabular.select import (
    MISSING_RULES,
    TARGET_RULE,
    TASK_KINDS,
    TableSource,
    column_names,
    select_columns,
    target_kinds,
)
from mtlcore.data.tabular.table import FORMAT, Column, SavedDataChanged, Table, TableError

if find_saved not in FINDERS:
    FINDERS.append(find_saved)

__all__ = ["DELIMITERS", "DELIMITER_NAMES", "DIRECT_NAME", "DIRECT_PARAMS", "FORMAT", "MISSING_RULES",
           "NAME_PREFIX", "NULL_TOKENS", "PARQUET_MAGIC", "SPLIT_PARAMS", "TARGET_RULE", "TASK_KINDS",
           "Column", "ColumnsParam", "SavedDataChanged", "SavedTable", "Table", "TableError", "TableSource",
           "column_names", "data_dir", "encode_inputs", "find_saved", "import_table_file", "load_saved",
           "prepare", "read_table", "read_table_file", "refresh_saved", "save_table", "saved_tables",
           "select_columns", "slugify", "target_kinds"]
