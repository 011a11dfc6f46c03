"""The executor side of the data source: Delta data files read and written as Arrow batches.

Nothing here opens the Delta log: the driver plans which files a task reads (and where a task
writes), an executor only reads or writes the Parquet files themselves. A written file is
described by an :class:`AddFile`, which the driver turns into the Delta ``add`` action of its
one commit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakeinfer.catalog.files import OutsideError, contained
from lakeinfer.errors import AnalysisError

#: the directory name Hive (and Delta) give a NULL partition value
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class DataFile:
    """One data file of a table snapshot: its path relative to the table and its partition
    values (as the Delta log writes them: strings, or None for NULL)."""

    path: str
    size: int
    partition_values: tuple[tuple[str, str | None], ...] = ()
    #: (column, min, max, null count) of the columns whose statistics bound them exactly
    stats: tuple[tuple[str, Any, Any, int | None], ...] = ()
    #: rows in the file, when the log says
    records: int | None = None
    #: only the rows ``[start, stop)`` of the file (a file read by several tasks), or all
    rows: tuple[int, int] | None = None


@dataclass(frozen=True)
class AddFile:
    """A data file an executor wrote: what the driver needs for its ``add`` action."""

    path: str
    size: int
    modification_time: int
    partition_values: dict[str, str | None]
    stats: str


@dataclass
class ReadPlan:
    """What every task of one scan needs: where the table is and which columns, as which
    Arrow types, Spark expects."""

    table_path: str
    #: the columns Spark asked for, in its order and with the Arrow types it expects
    output: pa.Schema
    #: the table's own Arrow schema (data and partition columns)
    table_schema: pa.Schema
    partition_columns: list[str] = field(default_factory=list)
    batch_rows: int = 10_000


def read_files(plan: ReadPlan, files: Iterable[DataFile]) -> Iterator[pa.RecordBatch]:
    """The rows of ``files``, batch by batch, with only the columns of ``plan.output``."""
    wanted = plan.output.names
    stored = {f.name.lower(): f for f in plan.table_schema}
    data_columns = [n for n in wanted if n.lower() not in _lowered(plan.partition_columns)]
    for file in files:
        parquet = pq.ParquetFile(data_file_path(plan.table_path, file.path))
        in_file = {name.lower(): name for name in parquet.schema_arrow.names}
        read = [in_file[n.lower()] for n in data_columns if n.lower() in in_file]
        values = {k.lower(): v for k, v in file.partition_values}
        for batch in _batches(parquet, file.rows, plan.batch_rows, read):
            got = {name.lower(): batch.column(i) for i, name in enumerate(batch.schema.names)}
            arrays = []
            for target in plan.output:
                key = target.name.lower()
                if key in values:
                    column = _partition_column(values[key], stored[key].type, batch.num_rows)
                elif key in got:
                    column = got[key]
                else:  # a column added to the table after this file was written
                    column = pa.nulls(batch.num_rows, target.type)
                arrays.append(column.cast(target.type))
            yield pa.RecordBatch.from_arrays(arrays, schema=plan.output)


def _batches(
    parquet: pq.ParquetFile, rows: tuple[int, int] | None, batch_rows: int, columns: list[str]
) -> Iterator[pa.RecordBatch]:
    """The file's batches, or only those of the rows ``[start, stop)``: the row groups that
    hold none of them are not read."""
    if rows is None:
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)
        return
    start, stop = rows
    groups: list[int] = []
    first = offset = 0
    for index in range(parquet.metadata.num_row_groups):
        count = parquet.metadata.row_group(index).num_rows
        if offset < stop and offset + count > start:
            if not groups:
                first = offset
            groups.append(index)
        offset += count
    if not groups:
        return
    position = first
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns):
        low, high = max(start - position, 0), min(stop - position, batch.num_rows)
        if high > low:
            yield batch.slice(low, high - low)
        position += batch.num_rows
        if position >= stop:
            return


def data_file_path(table_path: str, path: str) -> Path:
    """Where the data file a Delta action names as ``path`` lies: below the table's
    directory, or an error naming the file (a log that points elsewhere is not followed)."""
    try:
        return contained(Path(table_path), unquote(path))
    except OutsideError:
        raise AnalysisError(
            f"the Delta log of {table_path} names a data file outside the table: {path}"
        ) from None


def _lowered(names: Iterable[str]) -> set[str]:
    return {n.lower() for n in names}


def _partition_column(value: str | None, dtype: pa.DataType, rows: int) -> pa.Array:
    if value is None:
        return pa.nulls(rows, dtype)
    scalar = pa.scalar(value).cast(dtype)
    return pa.array([scalar.as_py()] * rows, dtype)


# -- writing --------------------------------------------------------------------------------
@dataclass
class WritePlan:
    """Where and how every task of one write puts its rows."""

    directory: str
    #: the Arrow schema of the files, partition columns included (dropped from the files)
    schema: pa.Schema
    partition_columns: list[str] = field(default_factory=list)
    max_rows_per_file: int = 1_000_000


def write_files(plan: WritePlan, batches: Iterable[pa.RecordBatch], task: int) -> list[AddFile]:
    """Write ``batches`` (already in ``plan.schema``) as Parquet files under
    ``plan.directory``, one series of files per partition value; returns what was written.
    On an error, the files this call wrote are removed before the error is raised."""
    writers: dict[tuple[str | None, ...], _FileSeries] = {}
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            for key, part in _split(batch, plan.partition_columns):
                series = writers.get(key)
                if series is None:
                    series = writers[key] = _FileSeries(plan, key, task)
                series.write(part)
        added = []
        for series in writers.values():
            added.extend(series.close())
        return added
    except BaseException:
        for series in writers.values():
            series.discard()
        raise


def write_task(plan: WritePlan, batches: Iterable[pa.RecordBatch]) -> list[AddFile]:
    """Write the batches of the running Spark task, cast by name to ``plan.schema``, as
    :func:`write_files` does, the files named after the task's partition (0 outside a task)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    task = context.partitionId() if context is not None else 0
    return write_files(plan, (cast_by_name(batch, plan.schema) for batch in batches), task)


def _split(
    batch: pa.RecordBatch, columns: list[str]
) -> Iterator[tuple[tuple[str | None, ...], pa.RecordBatch]]:
    """``batch`` in pieces with one value of the partition columns each (and those columns
    dropped, as Delta stores them in the path)."""
    if not columns:
        yield (), batch
        return
    table = pa.Table.from_batches([batch])
    keys = [_partition_strings(table.column(c)) for c in columns]
    data = table.drop_columns(columns)
    groups: dict[tuple[str | None, ...], list[int]] = {}
    for row, key in enumerate(zip(*keys, strict=True)):
        groups.setdefault(key, []).append(row)
    for key, rows in groups.items():
        piece = data.take(pa.array(rows, pa.int64())).combine_chunks()
        yield key, piece.to_batches()[0]  # a group has at least one row


def _partition_strings(column: pa.ChunkedArray) -> list[str | None]:
    """Partition values as the Delta log writes them."""
    values = []
    for value in column.to_pylist():
        if value is None:
            values.append(None)
        elif isinstance(value, dt.datetime):
            values.append(value.strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif isinstance(value, bool):
            values.append("true" if value else "false")
        else:
            values.append(str(value))
    return values


class _FileSeries:
    """The files of one task for one partition value, rolled over every N rows."""

    def __init__(self, plan: WritePlan, key: tuple[str | None, ...], task: int):
        self.plan = plan
        self.values = dict(zip(plan.partition_columns, key, strict=True))
        folder = "/".join(
            f"{quote(c, safe='')}={NULL_PARTITION if v is None else quote(v, safe='')}"
            for c, v in self.values.items()
        )
        self.folder = folder
        self.task = task
        self.schema = pa.schema([f for f in plan.schema if f.name not in self.values])
        self.written: list[str] = []
        self.added: list[AddFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        start = 0
        while start < batch.num_rows:
            if self._writer is None:
                self._open()
            assert self._writer is not None
            take = min(batch.num_rows - start, self.plan.max_rows_per_file - self._rows)
            self._writer.write_batch(batch.slice(start, take))
            self._rows += take
            start += take
            if self._rows >= self.plan.max_rows_per_file:
                self._finish()

    def _open(self) -> None:
        name = f"part-{self.task:05d}-{uuid.uuid4()}-c000.snappy.parquet"
        relative = f"{self.folder}/{name}" if self.folder else name
        target = Path(self.plan.directory) / unquote(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(relative)
        self._writer = pq.ParquetWriter(target, self.schema, compression="snappy")
        self._rows = 0

    def _finish(self) -> None:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        relative = self.written[-1]
        target = Path(self.plan.directory) / unquote(relative)
        info = os.stat(target)
        self.added.append(
            AddFile(
                path=relative,
                size=info.st_size,
                modification_time=int(info.st_mtime * 1000),
                partition_values=dict(self.values),
                stats=file_stats(target),
            )
        )

    def close(self) -> list[AddFile]:
        if self._writer is not None:
            self._finish()
        return self.added

    def discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # the file is removed anyway
                pass
            self._writer = None
        for relative in self.written:
            (Path(self.plan.directory) / unquote(relative)).unlink(missing_ok=True)


def file_stats(path: Path) -> str:
    """The Delta statistics of a Parquet file (``numRecords``, ``nullCount`` and the
    ``minValues``/``maxValues`` of top-level numeric, string, date and timestamp columns),
    from its row groups' own statistics."""
    metadata = pq.read_metadata(path)
    schema = metadata.schema.to_arrow_schema()
    nulls: dict[str, int] = {}
    lows: dict[str, object] = {}
    highs: dict[str, object] = {}
    for index, arrow_field in enumerate(schema):
        if pa.types.is_nested(arrow_field.type):
            continue
        name = arrow_field.name
        count, low, high, complete = 0, None, None, True
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None:
                complete = False
                break
            count += stats.null_count or 0
            if stats.has_min_max:
                low = stats.min if low is None else min(low, stats.min)
                high = stats.max if high is None else max(high, stats.max)
        if not complete:
            continue
        nulls[name] = count
        if low is not None and _has_min_max(arrow_field.type):
            lows[name] = _stat_value(low, arrow_field.type)
            highs[name] = _stat_value(high, arrow_field.type)
    return json.dumps(
        {
            "numRecords": metadata.num_rows,
            "minValues": lows,
            "maxValues": highs,
            "nullCount": nulls,
        }
    )


def _has_min_max(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_string(dtype)
        or pa.types.is_date(dtype)
        or pa.types.is_timestamp(dtype)
    )


def _stat_value(value: object, dtype: pa.DataType) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and pa.types.is_timestamp(dtype) and dtype.tz:
            value = value.replace(tzinfo=dt.UTC)
        text = value.isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN has no place in JSON
        return None
    return value


def cast_by_name(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns in its order, matched by name (case-insensitive),
    cast to its types; a column the batch lacks is NULL."""
    got = {name.lower(): i for i, name in enumerate(batch.schema.names)}
    columns = []
    for target in schema:
        index = got.get(target.name.lower())
        if index is None:
            columns.append(pa.nulls(batch.num_rows, target.type))
        else:
            columns.append(pc.cast(batch.column(index), target.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
