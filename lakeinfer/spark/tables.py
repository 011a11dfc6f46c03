"""The driver side of the data source: lakeinfer names to Delta snapshots, files and commits.

A name is resolved by the lakehouse's own catalog (:class:`DeltaCatalog`), so Spark sees the
same tables, with the same name rules, as ``lakeinfer sql``. Reads are planned from a delta-rs
snapshot (the file list of one version); writes become ONE Delta commit of the files the
executors wrote, made here with delta-rs' transaction API. A write that never reaches its commit
leaves the table's log untouched: its files are referenced by no version, so readers never see
them, and ``VACUUM`` removes them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Schema, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, create_table_with_add_actions

from lakeinfer.catalog import files as lake_files
from lakeinfer.catalog.delta_catalog import (
    OPERATION_KEY,
    DeltaCatalog,
    Namespace,
    TableName,
)
from lakeinfer.config import resolve_home
from lakeinfer.errors import (
    AnalysisError,
    ConcurrentWriteError,
    SqlError,
    TableExistsError,
)
from lakeinfer.spark.files import AddFile, DataFile, WritePlan, data_file_path
from lakeinfer.spark.skipping import is_exact_stat
from lakeinfer.sql.types import CAST_ERRORS, arrow_to_ddl, storable_schema

#: reader features whose files cannot be read as plain Parquet
UNREADABLE_FEATURES = {"deletionVectors", "columnMapping", "v2Checkpoint"}
CommitMode = Literal["append", "overwrite", "error"]
#: commit metadata key holding the number of rows a write added
ROWS_KEY = "lakeinfer.rows"


@dataclass(frozen=True)
class LakeTable:
    """A lakeinfer table as Spark addresses it: its catalog, full name and directory."""

    catalog: DeltaCatalog
    name: TableName

    @property
    def path(self) -> Path:
        return self.catalog.table_path(self.name)

    def exists(self) -> bool:
        return self.catalog.exists(self.name)


def resolve(name: str, home: str | None = None) -> LakeTable:
    """``catalog.schema.table`` (or a shorter name, in ``main.default``) in the lakehouse
    ``home`` (default: ``$LAKEINFER_HOME``, else ``./lakehouse``)."""
    if not name or not name.strip():
        raise AnalysisError("the lakeinfer data source needs a table name, e.g. main.default.t")
    catalog = DeltaCatalog(resolve_home(home))
    return LakeTable(catalog, catalog.qualify(name.strip().split("."), Namespace()))


# -- reading --------------------------------------------------------------------------------
def snapshot(
    table: LakeTable, version: int | str | None = None, timestamp: str | None = None
) -> DeltaTable:
    """The table at its current version, or at ``versionAsOf`` / ``timestampAsOf``."""
    delta = table.catalog.open(table.name)  # unknown names fail here, with close matches
    if version is not None and timestamp is not None:
        raise AnalysisError(
            f"cannot read {table.name}: give versionAsOf or timestampAsOf, not both"
        )
    if version is not None:
        try:
            wanted = int(version)
        except ValueError:
            raise AnalysisError(f"versionAsOf must be a version number, got {version!r}") from None
        latest = delta.version()
        if not 0 <= wanted <= latest:
            raise SqlError(
                f"cannot time travel {table.name} VERSION AS OF {wanted}: the table has "
                f"versions 0 to {latest}"
            )
        delta.load_as_version(wanted)
    elif timestamp is not None:
        delta.load_as_version(version_at(table, delta, timestamp))
    _check_readable(table, delta)
    return delta


def version_at(table: LakeTable, delta: DeltaTable, timestamp: str) -> int:
    """The last version committed at or before ``timestamp`` (UTC unless it says)."""
    try:
        when = dt.datetime.fromisoformat(str(timestamp).strip())
    except ValueError:
        raise AnalysisError(
            f"timestampAsOf needs a timestamp like '2025-01-31 12:00:00', got {timestamp!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    millis = when.timestamp() * 1000
    history = delta.history()
    versions = [h["version"] for h in history if h["timestamp"] <= millis]
    if not versions:
        first = min(h["timestamp"] for h in history)
        raise SqlError(
            f"cannot time travel {table.name} TIMESTAMP AS OF {timestamp!r}: the table's first "
            f"commit is at {dt.datetime.fromtimestamp(first / 1000, dt.UTC).isoformat(sep=' ')}"
        )
    return max(versions)


def _check_readable(table: LakeTable, delta: DeltaTable) -> None:
    features = set(delta.protocol().reader_features or [])
    unreadable = sorted(features & UNREADABLE_FEATURES)
    if unreadable:
        raise SqlError(
            f"cannot read {table.name} on Spark: it uses the Delta feature {unreadable[0]}, "
            "which the lakeinfer data source does not read"
        )


def arrow_schema(delta: DeltaTable) -> pa.Schema:
    """The table's columns as Arrow types (partition columns included)."""
    return storable_schema(pa.schema(delta.schema().to_arrow()))


def partition_columns(delta: DeltaTable) -> list[str]:
    return list(delta.metadata().partition_columns)


def data_files(delta: DeltaTable) -> list[DataFile]:
    """The data files of the loaded version, in a fixed order."""
    actions = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
    columns = partition_columns(delta)
    exact = [f.name for f in arrow_schema(delta) if is_exact_stat(f.type) and f.name not in columns]
    files = []
    for action in actions:
        values = tuple((c, _partition_text(action.get(f"partition.{c}"))) for c in columns)
        stats = tuple(
            (c, action.get(f"min.{c}"), action.get(f"max.{c}"), action.get(f"null_count.{c}"))
            for c in exact
            if f"min.{c}" in action
        )
        records = action.get("num_records")
        files.append(
            DataFile(
                action["path"],
                int(action["size_bytes"]),
                values,
                stats,
                int(records) if records is not None else None,
            )
        )
    files.sort(key=lambda f: f.path)
    return files


def _partition_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def file_groups(
    files: Sequence[DataFile], max_bytes: int, min_groups: int, split: bool = False
) -> list[list[DataFile]]:
    """``files`` in groups of about equal size: at least ``min_groups`` (when there are that
    many files), each at most ``max_bytes`` unless a single file is larger. With ``split``, a
    file holding more than its share of the rows is cut into ranges of its rows first (see
    :func:`row_ranges`), so the groups hold about as many rows each."""
    if not files:
        return []
    if split:
        files = row_ranges(files, min_groups)
    total = sum(f.size for f in files)
    count = max(min(len(files), min_groups), math.ceil(total / max(max_bytes, 1)))
    count = min(count, len(files))
    groups: list[list[DataFile]] = [[] for _ in range(count)]
    sizes = [0] * count
    for file in sorted(files, key=lambda f: (-f.size, f.path, f.rows or (0, 0))):
        lightest = sizes.index(min(sizes))
        groups[lightest].append(file)
        sizes[lightest] += file.size
    return [sorted(g, key=lambda f: (f.path, f.rows or (0, 0))) for g in groups if g]


def row_ranges(files: Sequence[DataFile], groups: int) -> list[DataFile]:
    """``files`` with each one holding more than ``1/groups`` of all their rows cut into
    ranges of at most that many rows (of about equal length), so that ``groups`` tasks can
    share them evenly. The files as they are when the log lacks a row count."""
    if any(f.records is None for f in files):
        return list(files)
    total = sum(int(f.records or 0) for f in files)
    ranges: list[DataFile] = []
    for file in files:
        count = int(file.records or 0)
        cut = min(max(math.ceil(count * groups / max(total, 1)), 1), max(count, 1))
        if cut == 1:
            ranges.append(file)
            continue
        for piece in range(cut):
            start, stop = count * piece // cut, count * (piece + 1) // cut
            size = max(file.size * (stop - start) // count, 1)
            ranges.append(dataclasses.replace(file, size=size, rows=(start, stop)))
    return ranges


# -- writing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WriteTarget:
    """Where the executors of one write put their files, and how the driver commits them.

    A new table is written under a hidden staging directory beside it and renamed once its
    first commit is made, so a failed write leaves no table behind.
    """

    table: LakeTable
    directory: str
    new: bool
    mode: CommitMode
    schema: pa.Schema
    partition_by: tuple[str, ...]
    operation: str
    read_version: int | None = None
    #: overwrite that replaces the schema and partitioning too (CREATE OR REPLACE)
    replace: bool = False

    @property
    def files(self) -> WritePlan:
        """What each task needs to write its files."""
        return WritePlan(self.directory, self.schema, list(self.partition_by))


def plan_write(
    table: LakeTable,
    incoming: pa.Schema,
    *,
    overwrite: bool,
    create_only: bool = False,
    replace_schema: bool = False,
    partition_by: Sequence[str] = (),
    operation: str | None = None,
    staging: str | None = None,
) -> WriteTarget:
    """Check ``incoming`` against the table (as the embedded engine does: by name, each column
    castable to the table's type) and choose where the files go: the table's directory, or for
    a new table ``staging`` (see :func:`held_staging`) or a fresh staging name beside it."""
    name = table.name
    incoming = storable_schema(incoming)
    _check_unique(incoming, name)
    if table.exists():
        if create_only:
            raise TableExistsError(
                f"table {name} already exists (write with mode 'append' or 'overwrite')"
            )
        delta = DeltaTable(str(table.path))
        current = arrow_schema(delta)
        partitions = partition_columns(delta)
        replace = overwrite and replace_schema
        if replace:
            schema = incoming
            partitions = _check_partitions(name, list(partition_by), schema)
        else:
            schema = _fit(incoming, current, name)
        return WriteTarget(
            table,
            str(table.path),
            new=False,
            mode="overwrite" if overwrite else "append",
            schema=schema,
            partition_by=tuple(partitions),
            operation=operation or ("WRITE OVERWRITE" if overwrite else "WRITE APPEND"),
            read_version=delta.version(),
            replace=replace,
        )
    table.catalog.require_schema(name.catalog, name.schema)
    if table.catalog.view(name) is not None:
        raise TableExistsError(f"cannot create table {name}: a view of that name exists")
    partition_by = _check_partitions(name, list(partition_by), incoming)
    # created by the first executor that writes a file, when not held by the caller
    directory = staging or str(_staging_name(table))
    return WriteTarget(
        table,
        directory,
        new=True,
        mode="error",
        schema=incoming,
        partition_by=tuple(partition_by),
        operation=operation or "CREATE TABLE",
    )


def _staging_name(table: LakeTable) -> Path:
    return table.path.parent / f".{uuid.uuid4().hex}{lake_files.STAGING_SUFFIX}"


@contextmanager
def held_staging(table: LakeTable) -> Iterator[Path | None]:
    """For a write that creates ``table``: a staging directory beside it, held for the block
    with the lakehouse's lock for a live writer (:func:`lakeinfer.catalog.files.staging`, so a
    sweep of killed statements' leftovers leaves it alone) and removed after it unless the
    commit renamed it into place. None when the table exists."""
    if table.exists():
        yield None
        return
    parent = table.path.parent
    parent.mkdir(parents=True, exist_ok=True)
    with lake_files.staging(parent) as staging:
        yield staging


def _check_unique(schema: pa.Schema, name: TableName) -> None:
    seen: set[str] = set()
    for column in schema.names:
        if column.lower() in seen:
            raise AnalysisError(f"cannot write to {name}: the column {column!r} appears twice")
        seen.add(column.lower())


def _check_partitions(name: TableName, columns: list[str], schema: pa.Schema) -> list[str]:
    """``columns`` as the schema spells them; an unknown one fails naming it."""
    known = {n.lower(): n for n in schema.names}
    for column in columns:
        if column.lower() not in known:
            raise AnalysisError(f"cannot partition {name} by {column!r}: no such column")
    return [known[c.lower()] for c in columns]


def _fit(incoming: pa.Schema, current: pa.Schema, name: TableName) -> pa.Schema:
    """``current`` when every incoming column is one of the table's and castable to its type;
    a column the data lacks is written as NULL."""
    have = {f.name.lower(): f for f in current}
    extra = [f.name for f in incoming if f.name.lower() not in have]
    if extra:
        raise AnalysisError(
            f"cannot write to {name}: the data has column {extra[0]!r}, which the table does "
            f"not have (its columns: {', '.join(current.names)})"
        )
    for field in incoming:
        target = have[field.name.lower()]
        try:
            pa.array([], field.type).cast(target.type)
        except CAST_ERRORS:
            raise AnalysisError(
                f"cannot write column {target.name!r} of {name}: "
                f"{arrow_to_ddl(field.type)} does not fit {arrow_to_ddl(target.type)}"
            ) from None
    return current


def commit(
    target: WriteTarget,
    files: Sequence[AddFile],
    *,
    app_transaction: tuple[str, int] | None = None,
) -> bool:
    """ONE Delta commit adding ``files`` (replacing the table's rows in overwrite mode).

    With ``app_transaction = (app_id, batch_id)`` the commit records that pair, and a batch
    the table already holds (``batch_id`` at or below the recorded one) is not committed
    again: False is returned and its files are removed.
    """
    name = target.table.name
    actions = [
        AddAction(
            path=f.path,
            size=f.size,
            partition_values=f.partition_values,
            modification_time=f.modification_time,
            data_change=True,
            stats=f.stats,
        )
        for f in files
    ]
    rows = sum(int(json.loads(f.stats).get("numRecords", 0)) for f in files)
    metadata: dict[str, str] = {OPERATION_KEY: target.operation, ROWS_KEY: str(rows)}
    properties = CommitProperties(
        custom_metadata=metadata,
        app_transactions=[Transaction(*app_transaction)] if app_transaction else None,
    )
    if target.new:
        return _commit_new(target, actions, properties)
    if target.replace:
        return _commit_replace(target, actions, properties)
    try:
        delta = DeltaTable(str(target.table.path))
        if app_transaction is not None:
            done = delta.transaction_version(app_transaction[0])
            if done is not None and done >= app_transaction[1]:
                discard(target, files)
                return False
        delta.create_write_transaction(
            actions,
            mode=target.mode,
            schema=target.schema,
            partition_by=list(target.partition_by) or None,
            commit_properties=properties,
        )
    except CommitFailedError as exc:
        discard(target, files)
        raise ConcurrentWriteError(
            f"cannot write to {name}: another writer committed first ({exc}); nothing was "
            "written, run the job again"
        ) from None
    except DeltaError as exc:
        discard(target, files)
        raise SqlError(f"cannot write to {name}: {exc}") from None
    return True


def _commit_replace(
    target: WriteTarget, actions: list[AddAction], properties: CommitProperties
) -> bool:
    """Replace the table's rows, schema and partitioning in one commit."""
    try:
        create_table_with_add_actions(
            str(target.table.path),
            Schema.from_arrow(target.schema),
            actions,
            mode="overwrite",
            partition_by=list(target.partition_by) or None,
            commit_properties=properties,
        )
    except DeltaError as exc:
        discard_files(target.directory, [a.path for a in actions])
        raise SqlError(f"cannot replace {target.table.name}: {exc}") from None
    return True


def _commit_new(
    target: WriteTarget, actions: list[AddAction], properties: CommitProperties
) -> bool:
    name = target.table.name
    staging = Path(target.directory)
    try:
        create_table_with_add_actions(
            str(staging),
            Schema.from_arrow(target.schema),
            actions,
            mode="error",
            partition_by=list(target.partition_by) or None,
            commit_properties=properties,
        )
    except DeltaError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SqlError(f"cannot create {name}: {exc}") from None
    if not lake_files.rename_no_replace(staging, target.table.path):
        shutil.rmtree(staging, ignore_errors=True)
        raise TableExistsError(
            f"cannot create {name}: a table of that name was created while this job ran"
        )
    return True


def discard(target: WriteTarget, files: Sequence[AddFile]) -> None:
    """Remove what a write that will not be committed left: its files, or the whole staging
    directory of a new table."""
    if target.new:
        shutil.rmtree(target.directory, ignore_errors=True)
        return
    discard_files(target.directory, [f.path for f in files])


def discard_files(directory: str, paths: Sequence[str]) -> None:
    for path in paths:
        data_file_path(directory, path).unlink(missing_ok=True)
