"""Three-part names (``catalog.schema.table``) backed by Delta tables on disk.

Layout: ``<home>/<catalog>/<schema>/<table>/`` is a Delta table written only through delta-rs
(``deltalake``), so any Delta reader can open it. Catalogs and schemas are directories. Names are
case-insensitive, as in Databricks, and stored lower-case. ``main``, ``main.default`` and
``system`` always exist. Every write is exactly one Delta commit: a statement that fails
before its commit leaves the table (and its history) as it was.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakeinfer.errors import (
    AnalysisError,
    ConcurrentWriteError,
    SqlError,
    TableExistsError,
    UnknownTableError,
    did_you_mean,
)
from lakeinfer.sql.types import conform_batch, storable_schema

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
#: Catalogs every lakehouse has, as every Databricks workspace has them.
BUILTIN_CATALOGS = (DEFAULT_CATALOG, "system")
WriteMode = Literal["append", "overwrite"]
#: A view is a directory holding this file instead of a ``_delta_log``.
VIEW_FILE = "_lakeinfer_view.json"
#: Commit metadata key naming the SQL operation behind a commit (shown by DESCRIBE HISTORY).
OPERATION_KEY = "lakeinfer.operation"


@dataclass(frozen=True)
class TableName:
    """A fully qualified, lower-cased table name."""

    catalog: str
    schema: str
    table: str

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def relation(self) -> str:
        """The name DuckDB sees for this table inside one statement."""
        return f"__li_{self.catalog}__{self.schema}__{self.table}"


@dataclass(frozen=True)
class TableRef:
    """A table as a statement reads it: the current version, or one named by time travel
    (``VERSION AS OF n`` / ``TIMESTAMP AS OF 'ts'``)."""

    name: TableName
    version: int | None = None
    timestamp: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name} VERSION AS OF {self.version}"
        if self.timestamp is not None:
            return f"{self.name} TIMESTAMP AS OF {self.timestamp!r}"
        return str(self.name)

    @property
    def relation(self) -> str:
        """The name DuckDB sees for this snapshot inside one statement."""
        if self.version is not None:
            return f"{self.name.relation}__v{self.version}"
        if self.timestamp is not None:
            digits = "".join(ch for ch in self.timestamp if ch.isalnum())
            return f"{self.name.relation}__t{digits}"
        return self.name.relation


@dataclass(frozen=True)
class ViewDefinition:
    """A stored view: its SQL text and the namespace its names resolve in."""

    sql: str
    catalog: str
    schema: str
    comment: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Namespace:
    """The session's current catalog and schema (changed by ``USE``)."""

    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA


class DeltaCatalog:
    """Catalogs, schemas and Delta tables under one lakehouse directory."""

    def __init__(self, home: Path):
        self.home = home

    # -- names ---------------------------------------------------------------------------
    @staticmethod
    def qualify(parts: list[str], namespace: Namespace) -> TableName:
        """``t`` / ``s.t`` / ``c.s.t`` -> a full name, filling in the current namespace."""
        parts = [p.lower() for p in parts]
        if len(parts) == 1:
            return TableName(namespace.catalog, namespace.schema, parts[0])
        if len(parts) == 2:
            return TableName(namespace.catalog, parts[0], parts[1])
        if len(parts) == 3:
            return TableName(*parts)
        raise AnalysisError(
            f"too many name parts in {'.'.join(parts)!r} (at most catalog.schema.table)"
        )

    def table_path(self, name: TableName) -> Path:
        return self.home / name.catalog / name.schema / name.table

    # -- catalogs and schemas ------------------------------------------------------------
    def list_catalogs(self) -> list[str]:
        found = set(BUILTIN_CATALOGS)
        if self.home.exists():
            found |= {
                p.name
                for p in self.home.iterdir()
                if p.is_dir() and not p.name.startswith((".", "_"))
            }
        return sorted(found)

    def catalog_exists(self, catalog: str) -> bool:
        return catalog in BUILTIN_CATALOGS or (self.home / catalog).is_dir()

    def schema_exists(self, catalog: str, schema: str) -> bool:
        if (catalog, schema) == (DEFAULT_CATALOG, DEFAULT_SCHEMA):
            return True
        return (self.home / catalog / schema).is_dir() and not self._is_table(
            self.home / catalog / schema
        )

    def list_schemas(self, catalog: str) -> list[str]:
        self.require_catalog(catalog)
        found = {DEFAULT_SCHEMA} if catalog == DEFAULT_CATALOG else set()
        path = self.home / catalog
        if path.exists():
            found |= {
                p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
            }
        return sorted(found)

    def create_catalog(self, catalog: str, if_not_exists: bool = False) -> None:
        catalog = catalog.lower()
        if self.catalog_exists(catalog) and (self.home / catalog).is_dir():
            if if_not_exists:
                return
            raise SqlError(f"catalog {catalog} already exists")
        (self.home / catalog).mkdir(parents=True, exist_ok=True)

    def create_schema(self, catalog: str, schema: str, if_not_exists: bool = False) -> None:
        self.require_catalog(catalog)
        path = self.home / catalog / schema
        if path.is_dir():
            if if_not_exists:
                return
            raise SqlError(f"schema {catalog}.{schema} already exists")
        path.mkdir(parents=True, exist_ok=True)

    def drop_schema(
        self, catalog: str, schema: str, if_exists: bool = False, cascade: bool = False
    ) -> None:
        path = self.home / catalog / schema
        if not path.is_dir():
            if if_exists:
                return
            raise SqlError(f"schema not found: {catalog}.{schema}")
        if self.list_tables(catalog, schema) and not cascade:
            raise SqlError(f"schema {catalog}.{schema} is not empty; use DROP SCHEMA ... CASCADE")
        shutil.rmtree(path)

    def drop_catalog(self, catalog: str, if_exists: bool = False, cascade: bool = False) -> None:
        path = self.home / catalog
        if not path.is_dir():
            if if_exists:
                return
            raise SqlError(f"catalog not found: {catalog}")
        if any(self.list_tables(catalog, s) for s in self.list_schemas(catalog)) and not cascade:
            raise SqlError(f"catalog {catalog} is not empty; use DROP CATALOG ... CASCADE")
        shutil.rmtree(path)

    def require_catalog(self, catalog: str) -> None:
        if not self.catalog_exists(catalog):
            raise SqlError(
                f"catalog not found: {catalog}{did_you_mean(catalog, self.list_catalogs())}"
            )

    def require_schema(self, catalog: str, schema: str) -> None:
        self.require_catalog(catalog)
        if not self.schema_exists(catalog, schema):
            raise SqlError(
                f"schema not found: {catalog}.{schema}{did_you_mean(schema, self.list_schemas(catalog))}"
                f" (create it with CREATE SCHEMA {catalog}.{schema})"
            )

    # -- tables --------------------------------------------------------------------------
    @staticmethod
    def _is_table(path: Path) -> bool:
        return (path / "_delta_log").is_dir()

    def list_tables(self, catalog: str, schema: str) -> list[str]:
        self.require_schema(catalog, schema)
        path = self.home / catalog / schema
        if not path.exists():
            return []
        return sorted(p.name for p in path.iterdir() if self._is_table(p))

    def exists(self, name: TableName) -> bool:
        return self._is_table(self.table_path(name))

    def open(self, name: TableName) -> DeltaTable:
        """The Delta table behind ``name``; :class:`UnknownTableError` with close matches."""
        path = self.table_path(name)
        if not self._is_table(path):
            raise UnknownTableError(str(name), self._all_table_names())
        try:
            return DeltaTable(str(path))
        except TableNotFoundError:
            raise UnknownTableError(str(name), self._all_table_names()) from None

    def dataset(self, ref: TableName | TableRef) -> pads.Dataset:
        """A lazily scanned Arrow dataset of the table's current version, or of the snapshot
        ``ref`` names by time travel."""
        if isinstance(ref, TableName):
            ref = TableRef(ref)
        table = self.open(ref.name)
        if ref.version is not None:
            self._load_version(table, ref)
        elif ref.timestamp is not None:
            table.load_as_version(self._version_at(table, ref))
        return table.to_pyarrow_dataset()

    def _load_version(self, table: DeltaTable, ref: TableRef) -> None:
        latest = table.version()
        if ref.version is None or not 0 <= ref.version <= latest:
            raise SqlError(f"cannot time travel {ref}: the table has versions 0 to {latest}")
        try:
            table.load_as_version(ref.version)
        except DeltaError as exc:
            raise SqlError(f"cannot time travel {ref}: {exc}") from None

    def _version_at(self, table: DeltaTable, ref: TableRef) -> int:
        """The last version committed at or before ``ref.timestamp``."""
        try:
            when = datetime.fromisoformat(str(ref.timestamp).strip())
        except ValueError:
            raise AnalysisError(
                f"TIMESTAMP AS OF needs a timestamp like '2025-01-31 12:00:00', got "
                f"{ref.timestamp!r}"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        millis = when.timestamp() * 1000
        versions = [h["version"] for h in table.history() if h["timestamp"] <= millis]
        if not versions:
            first = min(h["timestamp"] for h in table.history())
            raise SqlError(
                f"cannot time travel {ref}: the table's first commit is at "
                f"{datetime.fromtimestamp(first / 1000, UTC).isoformat(sep=' ')}"
            )
        return max(versions)

    def schema(self, name: TableName) -> pa.Schema:
        return pa.schema(self.open(name).schema().to_arrow())

    def version(self, name: TableName) -> int:
        return self.open(name).version()

    def history(self, name: TableName) -> list[dict[str, Any]]:
        """The table's commits, newest first, as delta-rs reports them."""
        return self.open(name).history()

    def details(self, name: TableName) -> dict[str, Any]:
        """Comment, properties, partition columns and location of a table."""
        table = self.open(name)
        metadata = table.metadata()
        return {
            "comment": metadata.description,
            "properties": dict(metadata.configuration),
            "partition_columns": list(metadata.partition_columns),
            "location": str(self.table_path(name)),
            "version": table.version(),
        }

    def set_properties(self, name: TableName, properties: dict[str, str]) -> None:
        """One commit that sets table properties (any key, e.g. ``pipelines.channel``)."""
        try:
            self.open(name).alter.set_table_properties(properties, raise_if_not_exists=False)
        except DeltaError as exc:
            raise SqlError(f"cannot set properties of {name}: {exc}") from None

    def set_comment(self, name: TableName, comment: str | None) -> None:
        try:
            self.open(name).alter.set_table_description(comment or "")
        except DeltaError as exc:
            raise SqlError(f"cannot set the comment of {name}: {exc}") from None

    # -- views ---------------------------------------------------------------------------
    def _view_file(self, name: TableName) -> Path:
        return self.table_path(name) / VIEW_FILE

    def view(self, name: TableName) -> ViewDefinition | None:
        """The stored view ``name``, or None when no view has that name."""
        path = self._view_file(name)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return ViewDefinition(**data)

    def create_view(
        self,
        name: TableName,
        view: ViewDefinition,
        *,
        replace: bool = False,
        if_not_exists: bool = False,
    ) -> None:
        self.require_schema(name.catalog, name.schema)
        if self.exists(name):
            raise TableExistsError(f"cannot create view {name}: a table of that name exists")
        if self.view(name) is not None:
            if if_not_exists:
                return
            if not replace:
                raise TableExistsError(f"view {name} already exists (use CREATE OR REPLACE VIEW)")
        path = self._view_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(view.__dict__))
        temporary.replace(path)  # atomic: readers see the old or the new definition

    def drop_view(self, name: TableName, if_exists: bool = False) -> None:
        if self.view(name) is None:
            if if_exists:
                return
            if self.exists(name):
                raise SqlError(f"{name} is a table, not a view (use DROP TABLE)")
            raise UnknownTableError(str(name), self._all_table_names())
        shutil.rmtree(self.table_path(name))

    def list_views(self, catalog: str, schema: str) -> list[str]:
        path = self.home / catalog / schema
        if not path.exists():
            return []
        return sorted(p.name for p in path.iterdir() if (p / VIEW_FILE).is_file())

    def _all_table_names(self) -> list[str]:
        names = []
        for catalog in self.list_catalogs():
            for schema in self.list_schemas(catalog):
                names += [f"{catalog}.{schema}.{t}" for t in self.list_tables(catalog, schema)]
        return names

    def create_table(
        self,
        name: TableName,
        schema: pa.Schema,
        *,
        if_not_exists: bool = False,
        replace: bool = False,
        options: TableOptions | None = None,
    ) -> bool:
        """Create an empty table; returns False when it existed and ``if_not_exists`` is set."""
        self.require_schema(name.catalog, name.schema)
        if self.exists(name):
            if if_not_exists:
                return False
            if not replace:
                raise TableExistsError(f"table {name} already exists (use CREATE OR REPLACE TABLE)")
            self.write(
                name, schema.empty_table(), "overwrite", replace_schema=True, options=options
            )
            return True
        self._write_new(name, schema.empty_table(), options)
        return True

    def write(
        self,
        name: TableName,
        data: pa.Table,
        mode: WriteMode,
        *,
        replace_schema: bool = False,
        options: TableOptions | None = None,
        read_version: int | None = None,
        operation: str | None = None,
    ) -> None:
        """One atomic commit of ``data`` (append, or overwrite of the whole table).

        ``read_version``: the version the data was computed from (UPDATE, DELETE, MERGE); if
        another writer committed since, :class:`ConcurrentWriteError` is raised and nothing is
        written. ``operation`` names the SQL statement in the table's history.
        """
        data = data.cast(storable_schema(data.schema))
        if not self.exists(name):
            self.require_schema(name.catalog, name.schema)
            self._write_new(name, data, options)
            return
        table = self.open(name)
        _check_unchanged(name, table, read_version)
        options = options or TableOptions()
        try:
            write_deltalake(
                table,
                data,
                mode=mode,
                schema_mode="overwrite" if replace_schema else None,
                partition_by=options.partition_by or None if replace_schema else None,
                commit_properties=_commit_properties(operation),
            )
        except CommitFailedError as exc:
            raise ConcurrentWriteError(
                f"cannot write to {name}: another writer committed first ({exc}); nothing was "
                "written, run the statement again"
            ) from None
        except DeltaError as exc:
            raise SqlError(f"cannot write to {name}: {exc}") from None
        if replace_schema:
            self._apply_options(name, options)

    def _apply_options(self, name: TableName, options: TableOptions) -> None:
        if options.properties:
            self.set_properties(name, options.properties)
        if options.comment is not None:
            self.set_comment(name, options.comment)

    def write_batches(
        self,
        name: TableName,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        mode: WriteMode,
        *,
        replace_schema: bool = False,
        options: TableOptions | None = None,
        read_version: int | None = None,
        operation: str | None = None,
    ) -> int:
        """One atomic commit of every batch of ``batches`` (declared as ``schema``); returns
        the rows written.

        The batches are consumed while the data files are written, so memory holds about one
        batch; the commit happens only after the last one. When producing a batch fails, that
        error is raised, no commit is made (the table keeps its version and history) and a
        table that did not exist before is not created. ``read_version`` and ``operation`` as
        in :meth:`write`.
        """
        target = storable_schema(schema)
        options = options or TableOptions()
        failure: list[BaseException] = []
        rows = 0

        def produce() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            try:
                for batch in batches:
                    rows += batch.num_rows
                    yield conform_batch(batch, target)
            except BaseException as exc:  # delta-rs would report it as its own error
                failure.append(exc)
                raise

        reader = pa.RecordBatchReader.from_batches(target, produce())
        path = self.table_path(name)
        new = not self.exists(name)
        if new:
            # a new table is written under a hidden name and renamed once committed, so a
            # process killed midway leaves no half-written table behind
            self.require_schema(name.catalog, name.schema)
            if (path / VIEW_FILE).is_file():
                raise TableExistsError(f"cannot create table {name}: a view of that name exists")
            _check_partitioning(name, options, target.names)
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.parent / f".{name.table}.{uuid.uuid4().hex}.writing"
        try:
            if new:
                write_deltalake(
                    str(staging),
                    reader,
                    mode="error",
                    partition_by=options.partition_by or None,
                    description=options.comment,
                    commit_properties=_commit_properties(operation or "CREATE TABLE"),
                )
                try:
                    staging.rename(path)
                except OSError as exc:
                    raise TableExistsError(f"cannot create {name}: {exc}") from None
            else:
                table = self.open(name)
                _check_unchanged(name, table, read_version)
                if replace_schema:
                    _check_partitioning(name, options, target.names)
                write_deltalake(
                    table,
                    reader,
                    mode=mode,
                    schema_mode="overwrite" if replace_schema else None,
                    partition_by=(options.partition_by or None) if replace_schema else None,
                    commit_properties=_commit_properties(operation),
                )
        except BaseException as exc:
            if new:
                shutil.rmtree(staging, ignore_errors=True)
            if failure:
                raise failure[0] from None
            if isinstance(exc, CommitFailedError):
                raise ConcurrentWriteError(
                    f"cannot write to {name}: another writer committed first ({exc}); nothing "
                    "was written, run the statement again"
                ) from None
            if isinstance(exc, DeltaError):
                verb = "create" if new else "write to"
                raise SqlError(f"cannot {verb} {name}: {exc}") from None
            raise
        if options.properties and (new or replace_schema):
            self.set_properties(name, options.properties)
        if options.comment is not None and replace_schema and not new:
            self.set_comment(name, options.comment)
        return rows

    def _write_new(
        self, name: TableName, data: pa.Table, options: TableOptions | None = None
    ) -> None:
        path = self.table_path(name)
        if (path / VIEW_FILE).is_file():
            raise TableExistsError(f"cannot create table {name}: a view of that name exists")
        options = options or TableOptions()
        data = data.cast(storable_schema(data.schema))
        _check_partitioning(name, options, data.column_names)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_deltalake(
                str(path),
                data,
                mode="error",
                partition_by=options.partition_by or None,
                description=options.comment,
                commit_properties=_commit_properties("CREATE TABLE"),
            )
            if options.properties:  # delta-rs checks keys at create time; ours are free-form
                self.set_properties(name, options.properties)
        except (DeltaError, SqlError) as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise SqlError(f"cannot create {name}: {exc}") from None

    def drop_table(self, name: TableName, if_exists: bool = False) -> None:
        if not self.exists(name):
            if if_exists:
                return
            if self.view(name) is not None:
                raise SqlError(f"{name} is a view, not a table (use DROP VIEW)")
            raise UnknownTableError(str(name), self._all_table_names())
        shutil.rmtree(self.table_path(name))


@dataclass
class TableOptions:
    """What ``CREATE TABLE`` may say beyond columns: ``PARTITIONED BY``, ``COMMENT``,
    ``TBLPROPERTIES``."""

    partition_by: list[str] = field(default_factory=list)
    comment: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


def _check_unchanged(name: TableName, table: DeltaTable, read_version: int | None) -> None:
    """Refuse to commit a result computed from ``read_version`` after another writer moved
    the table on (the result would silently drop or miss their rows)."""
    if read_version is not None and table.version() != read_version:
        raise ConcurrentWriteError(
            f"{name} changed while this statement ran (version {read_version} -> "
            f"{table.version()}); nothing was written, run the statement again"
        )


def _check_partitioning(name: TableName, options: TableOptions, columns: list[str]) -> None:
    unknown = [c for c in options.partition_by if c not in columns]
    if unknown:
        raise AnalysisError(
            f"cannot partition {name} by {unknown[0]!r}: no such column"
            f"{did_you_mean(unknown[0], columns)}"
        )


def _commit_properties(operation: str | None) -> CommitProperties | None:
    if operation is None:
        return None
    return CommitProperties(custom_metadata={OPERATION_KEY: operation})
