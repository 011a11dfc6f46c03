"""Scans and writes of lakeinfer tables planned in the driver's own process, for the
statements lakeinfer runs on Spark (``lakeinfer sql --spark``, ``lakeinfer.connect(spark=)``).

``spark.read.format("lakeinfer")`` and ``df.write.format("lakeinfer")`` are planned by PySpark
in Python processes it starts on the driver, one per step (create the source, plan the read,
plan the write, commit), each a fresh interpreter that imports PySpark and lakeinfer: seconds
of CPU before the first task runs, more than a whole statement costs once warm. A statement
lakeinfer runs needs none of them: its driver process already holds the catalog. So here the
driver plans, and the executors run the data source's own code:

* :func:`scan` takes a snapshot, leaves out the files the statement's simple filters exclude
  (:mod:`lakeinfer.spark.pushdown`), groups the rest as the data source does, and reads group
  ``i`` in partition ``i`` of ``spark.range(n)`` with ``mapInArrow`` (:func:`read_files`).
* :func:`write` checks the result's schema against the table as the data source does, has
  each task write Parquet files (:func:`write_task`) and return their add actions, and
  commits them in this process as ONE Delta transaction (:func:`tables.commit`). A job that
  fails commits nothing: a new table's staging directory is removed, and files a failed job
  left in an existing table are invisible to readers and removed by VACUUM.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeinfer.spark import tables
from lakeinfer.spark.datasource import (
    DEFAULT_MAX_PARTITION_BYTES,
    DEFAULT_MIN_PARTITIONS,
    arrow_of,
    spark_schema,
)
from lakeinfer.spark.files import (
    AddFile,
    DataFile,
    ReadPlan,
    WritePlan,
    read_files,
    write_task,
)
from lakeinfer.spark.pushdown import kept

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: the one column each write task returns: its add actions as JSON
ADDED = "added_file"


@dataclass(frozen=True)
class Scan:
    """A planned scan: what every task reads (``groups[i]`` in partition ``i``)."""

    plan: ReadPlan
    groups: list[list[DataFile]]
    version: int


def plan_scan(
    table: tables.LakeTable,
    *,
    version: int | None = None,
    timestamp: str | None = None,
    columns: Collection[str] | None = None,
    filters: Callable[[pa.Schema], list[list[Any]] | None] | None = None,
    min_partitions: int = DEFAULT_MIN_PARTITIONS,
    split: bool = False,
    max_partition_bytes: int = DEFAULT_MAX_PARTITION_BYTES,
) -> Scan:
    """The files of ``table`` (at ``version`` or ``timestamp``) a statement must read, in
    groups; only the table's columns named in ``columns`` (case-insensitive; all of them when
    None or when it names none, as for ``count(*)``). ``filters``: given the snapshot's
    schema, for each place the statement reads the table the filters bounding it (see
    :func:`lakeinfer.spark.pushdown.scan_filters`). ``split`` cuts large files into row
    ranges so that ``min_partitions`` tasks share the rows evenly."""
    delta = tables.snapshot(table, version, timestamp)
    stored = tables.arrow_schema(delta)
    output = stored
    if columns is not None:
        wanted = {c.lower() for c in columns}
        chosen = [f for f in stored if f.name.lower() in wanted]
        output = pa.schema(chosen) if chosen else stored
    plan = ReadPlan(
        table_path=str(table.path),
        output=output,
        table_schema=stored,
        partition_columns=tables.partition_columns(delta),
    )
    places = filters(stored) if filters is not None else None
    files = kept(tables.data_files(delta), places, stored)
    groups = tables.file_groups(files, max_partition_bytes, min_partitions, split=split)
    return Scan(plan, groups, delta.version())


class _ReadGroups:
    """The ``mapInArrow`` function of a scan: the rows of the groups its partition names."""

    def __init__(self, scan: Scan):
        self.plan = scan.plan
        self.groups = scan.groups or [[]]  # no file to read: one task that reads nothing

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column(0).to_pylist():
                yield from read_files(self.plan, self.groups[index])


def _map_in_arrow(frame: DataFrame, function: Any, schema: Any) -> DataFrame:
    """``frame.mapInArrow``, without PySpark's warning about the pandas version: the function
    sees Arrow batches only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        return frame.mapInArrow(function, schema)


def scan(spark: SparkSession, planned: Scan) -> DataFrame:
    """``planned`` as a DataFrame of one partition per group, read on the executors."""
    count = max(len(planned.groups), 1)
    reader = _ReadGroups(planned)
    return _map_in_arrow(spark.range(0, count, 1, count), reader, spark_schema(planned.plan.output))


class _WriteFiles:
    """The ``mapInArrow`` function of a write: one task's Parquet files, as add actions."""

    def __init__(self, plan: WritePlan):
        self.plan = plan

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        written = write_task(self.plan, batches)
        yield pa.record_batch(
            {ADDED: pa.array([json.dumps(dataclasses.asdict(f)) for f in written], pa.string())}
        )


def write(
    frame: DataFrame,
    table: tables.LakeTable,
    *,
    overwrite: bool,
    create_only: bool = False,
    replace_schema: bool = False,
    partition_by: Sequence[str] = (),
    operation: str | None = None,
) -> int:
    """Write ``frame``'s rows into ``table`` as ONE commit (checks, modes and errors as
    :func:`lakeinfer.spark.tables.plan_write`); the rows written."""
    incoming = arrow_of(frame.schema)
    with tables.held_staging(table) as staging:
        target = tables.plan_write(
            table,
            incoming,
            overwrite=overwrite,
            create_only=create_only,
            replace_schema=replace_schema,
            partition_by=partition_by,
            operation=operation,
            staging=None if staging is None else str(staging),
        )
        added = _map_in_arrow(frame, _WriteFiles(target.files), f"{ADDED} string").toArrow()
        files = [AddFile(**json.loads(text)) for text in added.column(ADDED).to_pylist()]
        tables.commit(target, files)
    return sum(int(json.loads(f.stats).get("numRecords", 0)) for f in files)
