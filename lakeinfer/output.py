"""Rendering results for people (a table) and for programs (JSON lines, CSV, Parquet files).

JSON: one object per row; arrays and structs as JSON, timestamps and dates ISO-8601, binary as
base64, decimals as strings (no precision lost).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import sys
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

MAX_CELL = 120
#: console width when not writing to a terminal: wide enough that no cell is ever folded
_UNBOUNDED_WIDTH = 100_000


def to_jsonable(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Arrow maps arrive as lists of (key, value) pairs
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def write_json_lines(table: pa.Table, file: IO[str]) -> None:
    for row in table.to_pylist():
        file.write(json.dumps({k: to_jsonable(v) for k, v in row.items()}, ensure_ascii=False))
        file.write("\n")


def write_csv(table: pa.Table, file: IO[str]) -> None:
    writer = csv.writer(file)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _text(v) for v in row.values()])


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    return str(to_jsonable(value))


def render_table(
    table: pa.Table, limit: int | None = None, file: IO[str] | None = None, max_cell: int = MAX_CELL
) -> None:
    """A boxed table for terminals (rich); long cells are shortened, newlines shown as ⏎.

    Cells are printed verbatim: text such as ``[red]`` is data, never rich markup. Written to a
    file or a pipe, the table takes the width its cells need instead of a terminal's 80 columns.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    target = file or sys.stdout
    width = None if _is_terminal(target) else _UNBOUNDED_WIDTH
    console = Console(file=target, soft_wrap=False, markup=False, highlight=False, width=width)
    shown = table if limit is None else table.slice(0, limit)
    view = Table(show_lines=False)
    for name in table.column_names:
        view.add_column(Text(name), overflow="fold")
    for row in shown.to_pylist():
        cells = []
        for value in row.values():
            text = "NULL" if value is None else _text(value).replace("\n", " ⏎ ")
            cells.append(Text(text if len(text) <= max_cell else text[: max_cell - 1] + "…"))
        view.add_row(*cells)
    console.print(view)
    if limit is not None and table.num_rows > limit:
        console.print(f"({table.num_rows} rows, {limit} shown)")
    else:
        console.print(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})")


def _is_terminal(file: IO[str]) -> bool:
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed file
        return False


#: the format an output file's extension asks for (``lakeinfer sql -o FILE``)
FILE_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".txt": "table",
}


def file_format(path: str, fmt: str | None) -> str:
    """The format to write the file ``path`` in: ``fmt`` (an explicit ``--format``) when given,
    else the one its extension names. Raises ``ValueError`` naming the extension when neither
    says, or when ``fmt`` would write text into a ``.parquet`` file."""
    suffix = Path(path).suffix.lower()
    by_extension = FILE_FORMATS.get(suffix)
    if fmt is None:
        if by_extension is None:
            known = ", ".join(FILE_FORMATS)
            shown = repr(suffix) if suffix else "no extension"
            raise ValueError(
                f"cannot tell the output format of {path} from {shown}: "
                f"use one of {known}, or give --format"
            )
        return by_extension
    if by_extension == "parquet" and fmt != "parquet":
        raise ValueError(f"{path} is a Parquet file: --format {fmt} cannot write it")
    return fmt


class ResultStream:
    """The query results of a script written one after another to one output, one result per
    statement: tables and JSON lines follow each other (as DuckDB's CLI writes them), CSV results
    are separated by a blank line, each with its own header. A CSV or Parquet *file* holds one
    result: a second one is a ``ValueError`` naming the file (write each query to its own file,
    or use JSON lines)."""

    def __init__(self, file: IO[Any], path: str | None = None):
        self.file = file
        self.path = path  # the file written, None for stdout
        self.results = 0

    def write(self, table: pa.Table, fmt: str) -> None:
        if self.results and self.path is not None and fmt in ("csv", "parquet"):
            raise ValueError(
                f"{self.path} can hold one {fmt} result and the script returns more: write "
                "each query to its own file, or use .jsonl"
            )
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, self.file)
        elif fmt == "json":
            write_json_lines(table, self.file)
        elif fmt == "csv":
            if self.results:
                self.file.write("\n")
            write_csv(table, self.file)
        else:
            render_table(table, file=self.file)
        self.results += 1


def is_write_count(table: pa.Table) -> bool:
    """Whether ``table`` is the result of a write: one row of ``num_affected_rows`` and the
    other counts Databricks reports (shown as Databricks SQL shows them)."""
    return table.num_rows == 1 and table.column_names[:1] == ["num_affected_rows"]
