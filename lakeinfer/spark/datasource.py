"""``spark.read.format("lakeinfer")``: lakeinfer's tables as a PySpark Python data source.

::

    lakeinfer.spark.register_source(spark)          # done by lakeinfer.spark.session/register
    df = spark.read.format("lakeinfer").load("main.default.reviews")
    old = spark.read.format("lakeinfer").option("versionAsOf", 3).load("main.default.reviews")
    df.write.format("lakeinfer").mode("append").save("main.default.summaries")
    spark.readStream.format("lakeinfer").load("main.default.reviews")  # offsets: versions

Reads: the driver resolves the name with the lakehouse's catalog and lists the files of one
Delta version with delta-rs; the files are grouped into partitions that executors read as Arrow
batches, only the columns asked for (a ``.schema(...)`` naming fewer columns, or the ``columns``
option). Writes: executors write Parquet files into the table's directory and return them; the
driver commits them all as ONE Delta transaction. Streaming writes commit each micro-batch with
a Delta application transaction ``(query id, batch id)``, so a batch re-run after a crash is
not appended twice.

Options: ``home`` (the lakehouse; default ``$LAKEINFER_HOME``, else ``./lakehouse``),
``versionAsOf``, ``timestampAsOf``, ``columns``, ``maxPartitionBytes`` (default 128 MiB),
``minPartitions`` (default 2), ``splitFiles`` (true: spread the rows evenly over
``minPartitions`` tasks, a file holding more than its share being read by several tasks, each
a range of its rows), ``skipChangeCommits`` (streams), ``overwriteSchema`` and
``partitionBy`` (writes that create or replace a table), ``operation`` (the name DESCRIBE
HISTORY shows), ``txnAppId`` (a streaming sink's application id instead of the query id).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    DataSourceStreamArrowWriter,
    DataSourceStreamReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxFiles,
    SupportsTriggerAvailableNow,
)

from lakeinfer.catalog.delta_log import read_commit, schema_fields
from lakeinfer.errors import AnalysisError, ConfigError
from lakeinfer.spark import tables
from lakeinfer.spark.files import (
    AddFile,
    DataFile,
    ReadPlan,
    read_files,
    write_task,
)
from lakeinfer.spark.skipping import may_match

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

NAME = "lakeinfer"
DEFAULT_MAX_PARTITION_BYTES = 128 * 1024 * 1024
DEFAULT_MIN_PARTITIONS = 2


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of an Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def arrow_of(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark exchanges batches of ``schema`` in."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def _options(options: dict[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in options.items()}


def _flag(options: dict[str, str], key: str) -> bool:
    value = options.get(key.lower(), "false").strip().lower()
    if value not in ("true", "false"):
        raise AnalysisError(f"the option {key} must be true or false, got {value!r}")
    return value == "true"


def _positive(options: dict[str, str], key: str, default: int) -> int:
    text = options.get(key.lower())
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise AnalysisError(f"the option {key} must be a positive integer, got {text!r}")
    return value


def _table_of(options: dict[str, str]) -> tables.LakeTable:
    name = options.get("path") or options.get("table") or ""
    return tables.resolve(name, options.get("home"))


class LakeinferDataSource(DataSource):
    """The ``lakeinfer`` format: batch and streaming reads and writes of lakeinfer tables."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def __init__(self, options: dict[str, str]):
        super().__init__(options)
        self._opts = _options(options)

    # -- schema --------------------------------------------------------------------------
    def schema(self) -> StructType:
        table = _table_of(self._opts)
        delta = tables.snapshot(
            table, self._opts.get("versionasof"), self._opts.get("timestampasof")
        )
        schema = tables.arrow_schema(delta)
        wanted = self._opts.get("columns")
        if wanted:
            schema = _project(schema, [c.strip() for c in wanted.split(",") if c.strip()], table)
        return spark_schema(schema)

    # -- batch ---------------------------------------------------------------------------
    def reader(self, schema: StructType) -> DataSourceReader:
        return LakeinferReader(self._opts, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceArrowWriter:
        table = _table_of(self._opts)
        partition_by = [c.strip() for c in self._opts.get("partitionby", "").split(",") if c]
        target = tables.plan_write(
            table,
            arrow_of(schema),
            overwrite=overwrite,
            create_only=_flag(self._opts, "lakeinfer.createOnly"),
            replace_schema=_flag(self._opts, "overwriteSchema"),
            partition_by=partition_by,
            operation=self._opts.get("operation"),
            staging=self._opts.get("lakeinfer.staging"),
        )
        return LakeinferWriter(target)

    # -- streaming -----------------------------------------------------------------------
    def streamReader(self, schema: StructType) -> DataSourceStreamReader:  # noqa: N802
        return LakeinferStreamReader(self._opts, schema)

    def streamWriter(self, schema: StructType, overwrite: bool) -> DataSourceStreamArrowWriter:  # noqa: N802
        if overwrite:
            raise AnalysisError("the lakeinfer streaming sink appends: use outputMode('append')")
        table = _table_of(self._opts)
        incoming = arrow_of(schema)
        if not table.exists():
            # one empty commit creates the table, so every micro-batch is an append
            table.catalog.create_table(
                table.name, tables.storable_schema(incoming), if_not_exists=True
            )
        target = tables.plan_write(
            table,
            incoming,
            overwrite=False,
            operation=self._opts.get("operation", "STREAMING UPDATE"),
        )
        return LakeinferStreamWriter(target, self._opts)


def _project(schema: pa.Schema, names: Sequence[str], table: tables.LakeTable) -> pa.Schema:
    fields = {f.name.lower(): f for f in schema}
    chosen = []
    for name in names:
        field = fields.get(name.lower())
        if field is None:
            raise AnalysisError(
                f"column {name!r} does not exist in {table.name} "
                f"(its columns: {', '.join(schema.names)})"
            )
        chosen.append(field)
    return pa.schema(chosen)


# -- batch reads ----------------------------------------------------------------------------
class FileGroup(InputPartition):
    """The files one task reads."""

    def __init__(self, files: list[DataFile]):
        super().__init__(None)
        self.files = files


class LakeinferReader(DataSourceReader):
    """Plans a scan on the driver (a delta-rs snapshot's files, grouped) and reads a group on
    an executor."""

    def __init__(self, options: dict[str, str], schema: StructType):
        self.options = options
        table = _table_of(options)
        delta = tables.snapshot(table, options.get("versionasof"), options.get("timestampasof"))
        stored = tables.arrow_schema(delta)
        _project(stored, schema.fieldNames(), table)  # a user schema naming unknown columns
        self.version = delta.version()
        self.plan = ReadPlan(
            table_path=str(table.path),
            output=arrow_of(schema),
            table_schema=stored,
            partition_columns=tables.partition_columns(delta),
        )
        self.files = tables.data_files(delta)
        self.groups = self._group(self.files)

    def _group(self, files: list[DataFile]) -> list[list[DataFile]]:
        return tables.file_groups(
            files,
            _positive(self.options, "maxPartitionBytes", DEFAULT_MAX_PARTITION_BYTES),
            _positive(self.options, "minPartitions", DEFAULT_MIN_PARTITIONS),
            split=_flag(self.options, "splitFiles"),
        )

    def pushFilters(self, filters: list[Any]) -> Iterable[Any]:  # noqa: N802 (Spark's name)
        """Leave out the files no row of which can pass ``filters`` (see
        :mod:`lakeinfer.spark.skipping`); Spark still applies every filter to what is read."""
        kept = [f for f in self.files if may_match(f, filters, self.plan.table_schema)]
        if len(kept) < len(self.files):
            self.files, self.groups = kept, self._group(kept)
        return filters

    def partitions(self) -> Sequence[InputPartition]:
        return [FileGroup(group) for group in self.groups] or [FileGroup([])]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, FileGroup)
        yield from read_files(self.plan, partition.files)


# -- batch writes ---------------------------------------------------------------------------
@dataclass
class WrittenFiles(WriterCommitMessage):
    """What one task wrote."""

    files: list[AddFile]


class LakeinferWriter(DataSourceArrowWriter):
    """Executors write Parquet files; the driver commits them as one Delta transaction."""

    def __init__(self, target: tables.WriteTarget):
        self.target = target

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WrittenFiles:
        return WrittenFiles(write_task(self.target.files, iterator))

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        tables.commit(self.target, _files(messages))

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        tables.discard(self.target, _files(messages))


def _files(messages: Sequence[WriterCommitMessage | None]) -> list[AddFile]:
    return [f for m in messages if isinstance(m, WrittenFiles) for f in m.files]


# -- streaming reads ------------------------------------------------------------------------
class VersionFiles(InputPartition):
    """Files one micro-batch task reads (a table snapshot's, or the ones commits added)."""

    def __init__(self, files: list[DataFile]):
        super().__init__(None)
        self.files = files


class LakeinferStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Offsets are table versions: ``{"version": v}`` means every row up to version ``v`` has
    been delivered. The first micro-batch reads the snapshot at the version it ends at (the
    rows the table holds when the stream starts); each later one the files that the commits
    after its start added. Commits that delete or rewrite rows fail the stream unless
    ``skipChangeCommits`` is true, as with Delta streams. ``maxFilesPerTrigger`` caps the files
    of a micro-batch after the first (whole versions: at least one)."""

    def __init__(self, options: dict[str, str], schema: StructType):
        self.options = options
        self.table = _table_of(options)
        self.skip_changes = _flag(options, "skipChangeCommits")
        self.max_files = options.get("maxfilespertrigger")
        if self.max_files is not None:
            _positive(options, "maxFilesPerTrigger", 1)
        self.target: int | None = None
        delta = tables.snapshot(self.table)
        self.fields = _fields(delta)
        self.plan = ReadPlan(
            table_path=str(self.table.path),
            output=arrow_of(schema),
            table_schema=tables.arrow_schema(delta),
            partition_columns=tables.partition_columns(delta),
        )

    def initialOffset(self) -> dict:  # noqa: N802 (PySpark's name)
        return {"version": -1}

    def getDefaultReadLimit(self) -> ReadLimit:  # noqa: N802 (PySpark's name)
        if self.max_files is not None:
            return ReadMaxFiles(int(self.max_files))
        return ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:  # noqa: N802 (PySpark's name)
        self.target = self._latest()

    def _latest(self) -> int:
        return self.table.catalog.open(self.table.name).version()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:  # noqa: N802
        latest = self._latest() if self.target is None else self.target
        first = int(start["version"])
        if first < 0 or first >= latest or not isinstance(limit, ReadMaxFiles):
            return {"version": max(latest, first)}
        taken, version = 0, first
        while version < latest:
            files = len(self._added(version + 1))
            if taken and taken + files > limit.max_files:
                break
            taken += files
            version += 1
        return {"version": version}

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        first, last = int(start["version"]), int(end["version"])
        if first < 0:
            delta = tables.snapshot(self.table, last)
            files = tables.data_files(delta)
        else:
            files = []
            for version in range(first + 1, last + 1):
                files.extend(self._added(version))
        return [VersionFiles([f]) for f in files]

    def _added(self, version: int) -> list[DataFile]:
        name = self.table.name
        commit = read_commit(self.table.path, version)
        if commit is None:
            raise AnalysisError(
                f"stream over {name}: the log of version {version} is gone (cleaned up); "
                "restart the stream with a new checkpoint"
            )
        operation = commit.operation
        if commit.schema is not None and schema_fields(commit.schema) != self.fields:
            raise AnalysisError(
                f"the schema of {name} changed at version {version} ({operation}); a "
                "stream keeps the schema it started with: restart it with a new checkpoint"
            )
        if commit.rewrites_rows:
            if self.skip_changes:
                return []
            raise AnalysisError(
                f"{name} has a commit at version {version} ({operation}) that deletes or "
                "rewrites rows; a stream only reads appends. Set the option skipChangeCommits "
                "to true to ignore such commits"
            )
        columns = self.plan.partition_columns
        return [
            DataFile(a.path, a.size, tuple((c, a.partition_values.get(c)) for c in columns))
            for a in commit.added
        ]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, VersionFiles)
        yield from read_files(self.plan, partition.files)

    def commit(self, end: dict) -> None:
        pass  # nothing to release: the files stay until VACUUM

    def stop(self) -> None:
        pass


def _fields(delta: Any) -> list[tuple[str, str]]:
    return schema_fields(delta.schema().to_json())


# -- streaming writes -----------------------------------------------------------------------
class LakeinferStreamWriter(DataSourceStreamArrowWriter):
    """Each micro-batch is one Delta commit carrying the application transaction
    ``(query id, batch id)``; a batch the table already holds is skipped."""

    def __init__(self, target: tables.WriteTarget, options: dict[str, str]):
        self.target = target
        self.app_id = options.get("txnappid")
        self.checkpoint = options.get("checkpointlocation")

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WrittenFiles:
        return WrittenFiles(write_task(self.target.files, iterator))

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        tables.commit(self.target, _files(messages), app_transaction=(self._app_id(), batchId))

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:  # noqa: N803
        tables.discard(self.target, _files(messages))

    def _app_id(self) -> str:
        """The streaming query's id, which stays the same across restarts on one checkpoint."""
        if self.app_id:
            return self.app_id
        if self.checkpoint:
            metadata = Path(self.checkpoint.removeprefix("file:")) / "metadata"
            try:
                return str(json.loads(metadata.read_text().splitlines()[0])["id"])
            except (OSError, ValueError, KeyError, IndexError):
                pass
        raise ConfigError(
            f"the lakeinfer sink of {self.target.table.name} needs the query's checkpoint "
            "location to commit each batch once: set option('checkpointLocation', ...)"
        )


# -- registration ---------------------------------------------------------------------------
def register_source(spark: SparkSession) -> None:
    """Make ``format("lakeinfer")`` available in ``spark`` (idempotent)."""
    from lakeinfer.spark.save_modes import install

    spark.dataSource.register(LakeinferDataSource)
    install()
