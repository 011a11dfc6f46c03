"""Three-part names (``catalog.schema.table``) backed by Delta tables on disk.

Layout: ``<home>/<catalog>/<schema>/<table>/`` is a Delta table written only through delta-rs
(``deltalake``), so any Delta reader can open it. Catalogs and schemas are directories. Names are
case-insensitive, as in Databricks, and stored lower-case. ``main``, ``main.default`` and
``system`` always exist. Every write is exactly one Delta commit: a statement that fails
before its commit leaves the table (and its history) as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakeinfer.catalog import files
from lakeinfer.catalog.names import check_name, is_valid_name
from lakeinfer.errors import (
    AnalysisError,
    ConcurrentWriteError,
    SqlError,
    TableExistsError,
    UnknownTableError,
    did_you_mean,
)
from lakeinfer.sql.types import conform_batch, storable_schema

if TYPE_CHECKING:
    import pyarrow.dataset as pads

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
#: Catalogs every lakehouse has, as every Databricks workspace has them.
BUILTIN_CATALOGS = (DEFAULT_CATALOG, "system")

#: Tables lakeinfer writes itself (the query history): read before their first write they
#: are empty, not missing, as a Databricks system table always exists.
_SYSTEM_TABLES: dict[TableName, pa.Schema] = {}


def declare_system_table(name: TableName, schema: pa.Schema) -> None:
    """Declare ``name`` (in the ``system`` catalog) as a table lakeinfer writes with
    ``schema``: queries read it as empty until its first write."""
    if name.catalog != "system":
        raise ValueError(f"{name} is not in the system catalog")
    _SYSTEM_TABLES[name] = schema


WriteMode = Literal["append", "overwrite"]
#: A view is a directory holding this file instead of a ``_delta_log``.
VIEW_FILE = "_lakeinfer_view.json"
#: Delta schema field metadata key of a column's comment (as Spark and Delta write it).
COMMENT_KEY = "comment"
#: A SQL function is a directory holding this file (functions share their schema's names with
#: tables and views).
FUNCTION_FILE = "_lakeinfer_function.json"
#: A materialized view is a Delta table whose directory also holds this file (its definition).
MATERIALIZED_VIEW_FILE = "_lakeinfer_materialized_view.json"
#: Files that make a directory a catalog object other than a table.
DEFINITION_FILES = (VIEW_FILE, FUNCTION_FILE)
#: Commit metadata key naming the SQL operation behind a commit (shown by DESCRIBE HISTORY).
OPERATION_KEY = "lakeinfer.operation"
#: Commit metadata key of a materialized view's refresh: JSON of ``{"type": "FULL" or
#: "INCREMENTAL", "sources": {table: version}}``, the source versions it was computed from.
REFRESH_KEY = "lakeinfer.materializedView.refresh"


@dataclass(frozen=True)
class TableName:
    """A fully qualified, lower-cased table name."""

    catalog: str
    schema: str
    table: str

    def __post_init__(self) -> None:
        check_name(self.catalog, "catalog")
        check_name(self.schema, "schema")
        check_name(self.table, "table")

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


@dataclass(frozen=True)
class FunctionDefinition:
    """A stored SQL function: parameters as ``(name, type, default SQL or None, comment)``,
    the return type, the body (an expression's SQL) and the namespace its names resolve in."""

    parameters: list[tuple[str, str, str | None, str | None]]
    returns: str
    body: str
    catalog: str
    schema: str
    comment: str | None = None
    deterministic: bool = True
    created: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionDefinition:
        data = dict(data)
        data["parameters"] = [tuple(p) for p in data["parameters"]]
        return cls(**data)


@dataclass(frozen=True)
class MaterializedViewDefinition:
    """A materialized view's query (its SQL), the namespace its names resolve in, and its
    refresh schedule (``cron``, ``timezone``, ``text``; None: refreshed when asked)."""

    sql: str
    catalog: str
    schema: str
    schedule: dict[str, str] | None = None


@dataclass
class Namespace:
    """The session's current catalog and schema (changed by ``USE``)."""

    catalog: str = DEFAULT_CATALOG
    schema: str = DEFAULT_SCHEMA


class DeltaCatalog:
    """Catalogs, schemas and Delta tables under one lakehouse directory.

    Every name is checked by :func:`~lakeinfer.catalog.names.check_name` before a path is
    built from it, and every path is checked to lie inside the home once links are followed
    (:meth:`inside`), so no statement reads, writes or deletes anything outside the home.
    """

    def __init__(self, home: Path):
        self.home = home

    # -- names and paths -----------------------------------------------------------------
    @staticmethod
    def qualify(parts: list[str], namespace: Namespace) -> TableName:
        """``t`` / ``s.t`` / ``c.s.t`` -> a full name, filling in the current namespace.
        Each part must follow the name rule (:mod:`lakeinfer.catalog.names`)."""
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

    def inside(self, path: Path) -> Path:
        """``path`` itself, after checking that it lies inside the home (strictly below it)
        once every link is followed; :class:`SqlError` otherwise."""
        try:
            files.contained(self.home, path)
        except files.OutsideError as error:
            raise SqlError(
                f"{path} resolves to {error.resolved}, outside the lakehouse {error.root}: "
                "lakeinfer reads, writes and deletes only inside its home"
            ) from None
        return path

    def catalog_path(self, catalog: str) -> Path:
        """The directory of ``catalog`` (its name checked, its place verified)."""
        return self.inside(self.home / check_name(catalog, "catalog"))

    def schema_path(self, catalog: str, schema: str) -> Path:
        """The directory of ``catalog.schema`` (names checked, place verified)."""
        check_name(catalog, "catalog")
        return self.inside(self.home / catalog / check_name(schema, "schema"))

    def table_path(self, name: TableName) -> Path:
        """The directory of a table or view (its place verified)."""
        return self.inside(self.home / name.catalog / name.schema / name.table)

    # -- catalogs and schemas ------------------------------------------------------------
    def list_catalogs(self) -> list[str]:
        found = set(BUILTIN_CATALOGS)
        if self.home.exists():
            found |= {p.name for p in self.home.iterdir() if _is_entry_dir(p)}
        return sorted(found)

    def catalog_exists(self, catalog: str) -> bool:
        path = self.catalog_path(catalog)
        return catalog in BUILTIN_CATALOGS or path.is_dir()

    def schema_exists(self, catalog: str, schema: str) -> bool:
        path = self.schema_path(catalog, schema)
        if (catalog, schema) == (DEFAULT_CATALOG, DEFAULT_SCHEMA):
            return True
        return path.is_dir() and not self._is_table(path)

    def list_schemas(self, catalog: str) -> list[str]:
        self.require_catalog(catalog)
        found = {DEFAULT_SCHEMA} if catalog == DEFAULT_CATALOG else set()
        path = self.catalog_path(catalog)
        if path.exists():
            found |= {p.name for p in path.iterdir() if _is_entry_dir(p)}
        return sorted(found)

    def create_catalog(self, catalog: str, if_not_exists: bool = False) -> None:
        catalog = catalog.lower()
        path = self.catalog_path(catalog)
        if path.is_dir():
            if if_not_exists:
                return
            raise SqlError(f"catalog {catalog} already exists")
        path.mkdir(parents=True, exist_ok=True)

    def create_schema(self, catalog: str, schema: str, if_not_exists: bool = False) -> None:
        path = self.schema_path(catalog, schema)
        self.require_catalog(catalog)
        if path.is_dir():
            if if_not_exists:
                return
            raise SqlError(f"schema {catalog}.{schema} already exists")
        path.mkdir(parents=True, exist_ok=True)

    def drop_schema(
        self, catalog: str, schema: str, if_exists: bool = False, cascade: bool = False
    ) -> None:
        """Drop a schema. Without ``cascade`` it must hold no table or view. With it, its
        tables, views and staging leftovers are deleted, but only when the directory holds
        nothing else: a file lakeinfer did not create makes the drop fail, deleting nothing."""
        path = self.schema_path(catalog, schema)
        if not path.is_dir() or self._is_table(path):
            if if_exists:
                return
            raise SqlError(f"schema not found: {catalog}.{schema}")
        owned = self._owned_entries(f"schema {catalog}.{schema}", path)
        if not cascade and self._holds_objects(owned):
            raise SqlError(f"schema {catalog}.{schema} is not empty; use DROP SCHEMA ... CASCADE")
        _remove_owned(path, owned)

    def drop_catalog(self, catalog: str, if_exists: bool = False, cascade: bool = False) -> None:
        """Drop a catalog; with ``cascade`` its schemas go as :meth:`drop_schema` drops them,
        and only when no directory of it holds files lakeinfer did not create."""
        path = self.catalog_path(catalog)
        if not path.is_dir():
            if if_exists:
                return
            raise SqlError(f"catalog not found: {catalog}")
        schemas: dict[Path, list[Path]] = {}
        foreign: list[str] = []
        for entry in sorted(path.iterdir()):
            if _is_entry_dir(entry) and not self._is_table(entry):
                schemas[entry] = self._owned_entries(
                    f"catalog {catalog}", entry, prefix=entry.name + "/"
                )
            else:
                foreign.append(entry.name)
        if foreign:
            raise _foreign_files(f"catalog {catalog}", path, foreign)
        if not cascade and any(self._holds_objects(owned) for owned in schemas.values()):
            raise SqlError(f"catalog {catalog} is not empty; use DROP CATALOG ... CASCADE")
        for schema_dir, owned in schemas.items():
            _remove_owned(schema_dir, owned)
        _remove_dir(path)

    def _owned_entries(self, what: str, path: Path, prefix: str = "") -> list[Path]:
        """Every entry of the schema directory ``path``, after checking that lakeinfer owns
        each: a table, a view, a staging leftover, its lock files, an empty directory."""
        entries = sorted(path.iterdir())
        foreign = [prefix + e.name for e in entries if not self._owns(e)]
        if foreign:
            raise _foreign_files(what, path, foreign)
        return entries

    def _holds_objects(self, entries: list[Path]) -> bool:
        """Whether any of a schema directory's ``entries`` is a table or a view."""
        return any(_is_entry_dir(e) and (self._is_table(e) or _defines(e)) for e in entries)

    def _owns(self, entry: Path) -> bool:
        if entry.is_symlink():
            return False
        if files.is_own_file(entry.name):
            return True
        if not is_valid_name(entry.name) or not entry.is_dir():
            return False
        return self._is_table(entry) or _defines(entry) or not any(entry.iterdir())

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
        """The tables of a schema (staging leftovers and foreign entries are never listed)."""
        self.require_schema(catalog, schema)
        path = self.schema_path(catalog, schema)
        if not path.exists():
            return []
        return sorted(p.name for p in path.iterdir() if _is_entry_dir(p) and self._is_table(p))

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
        ``ref`` names by time travel. A system table not written yet reads as empty."""
        if isinstance(ref, TableName):
            ref = TableRef(ref)
        declared = _SYSTEM_TABLES.get(ref.name)
        if declared is not None and not self.exists(ref.name) and ref.version is None:
            import pyarrow.dataset as pads

            return pads.dataset(declared.empty_table())
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

    def set_column_comment(self, name: TableName, column: str, comment: str | None) -> None:
        """Store ``comment`` in the column's Delta schema metadata (key ``comment``, as Spark
        and Delta do); None clears it. ``column`` is matched case-insensitively."""
        fields = {f.name.lower(): f.name for f in self.schema(name)}
        if column.lower() not in fields:
            raise AnalysisError(f"table {name} has no column {column!r}")
        try:
            self.open(name).alter.set_column_metadata(
                fields[column.lower()], {COMMENT_KEY: comment or ""}
            )
        except DeltaError as exc:
            raise SqlError(
                f"cannot set the comment of column {column!r} of {name}: {exc}"
            ) from None

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
        self._store_definition(name, VIEW_FILE, view.__dict__, "view", replace, if_not_exists)

    def _store_definition(
        self,
        name: TableName,
        file: str,
        data: dict[str, Any],
        kind: str,
        replace: bool,
        if_not_exists: bool,
    ) -> None:
        """Store a view's or a function's definition ``data`` as ``file`` in the directory of
        ``name``: a new directory published in one step, or (``replace``) the file of the same
        kind replaced atomically."""
        path = self.table_path(name) / file
        if path.is_file():
            if if_not_exists:
                return
            if not replace:
                raise self._taken(name, kind)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data))
            temporary.replace(path)  # atomic: readers see the old or the new definition
            return
        with self._staging(name) as staging:
            (staging / file).write_text(json.dumps(data))
            if not self._publish(name, staging):
                if if_not_exists and path.is_file():
                    return
                raise self._taken(name, kind)

    def drop_view(self, name: TableName, if_exists: bool = False) -> None:
        if self.view(name) is None:
            if if_exists:
                return
            if self.materialized_view(name) is not None:
                raise SqlError(f"{name} is a materialized view (use DROP MATERIALIZED VIEW)")
            if self.exists(name):
                raise SqlError(f"{name} is a table, not a view (use DROP TABLE)")
            raise UnknownTableError(str(name), self._all_table_names())
        self._delete(name)

    def list_views(self, catalog: str, schema: str) -> list[str]:
        return self._entries_holding(catalog, schema, VIEW_FILE)

    def _entries_holding(self, catalog: str, schema: str, definition: str) -> list[str]:
        """The names in a schema whose directory holds the file ``definition`` (a view's, a
        function's)."""
        path = self.schema_path(catalog, schema)
        if not path.exists():
            return []
        return sorted(
            p.name for p in path.iterdir() if _is_entry_dir(p) and (p / definition).is_file()
        )

    # -- SQL functions ---------------------------------------------------------------------
    def function(self, name: TableName) -> FunctionDefinition | None:
        """The stored SQL function ``name``, or None when no function has that name."""
        path = self.table_path(name) / FUNCTION_FILE
        if not path.is_file():
            return None
        return FunctionDefinition.from_json(json.loads(path.read_text()))

    def create_function(
        self,
        name: TableName,
        function: FunctionDefinition,
        *,
        replace: bool = False,
        if_not_exists: bool = False,
    ) -> None:
        """Store ``function`` under ``name`` (a function shares its schema's names with tables
        and views)."""
        self.require_schema(name.catalog, name.schema)
        if self.exists(name) or self.view(name) is not None:
            raise self._taken(name, "function")
        data = {**function.__dict__, "parameters": [list(p) for p in function.parameters]}
        self._store_definition(name, FUNCTION_FILE, data, "function", replace, if_not_exists)

    def drop_function(self, name: TableName, if_exists: bool = False) -> None:
        if self.function(name) is None:
            if if_exists:
                return
            raise SqlError(
                f"function not found: {name}"
                f"{did_you_mean(name.table, self.list_functions(name.catalog, name.schema))}"
            )
        self._delete(name)

    def list_functions(self, catalog: str, schema: str) -> list[str]:
        """The SQL functions of a schema."""
        if not self.schema_exists(catalog, schema):
            return []
        return self._entries_holding(catalog, schema, FUNCTION_FILE)

    # -- materialized views --------------------------------------------------------------
    def materialized_view(self, name: TableName) -> MaterializedViewDefinition | None:
        """The definition of the materialized view ``name``; None when ``name`` is none."""
        path = self.table_path(name) / MATERIALIZED_VIEW_FILE
        if not self._is_table(path.parent) or not path.is_file():
            return None
        return MaterializedViewDefinition(**json.loads(path.read_text()))

    def set_materialized_view(self, name: TableName, view: MaterializedViewDefinition) -> None:
        """Store the definition of the materialized view ``name`` (its table exists)."""
        path = self.table_path(name) / MATERIALIZED_VIEW_FILE
        temporary = path.with_name(MATERIALIZED_VIEW_FILE + ".tmp")
        temporary.write_text(json.dumps(view.__dict__))
        temporary.replace(path)

    def last_refresh(self, name: TableName) -> dict[str, Any] | None:
        """The newest refresh of the materialized view ``name``: ``type``, ``sources``
        (``{table: version}``), ``version`` (of the view's table) and ``timestamp`` (ms)."""
        for commit in self.history(name):
            if REFRESH_KEY in commit:
                refresh = json.loads(commit[REFRESH_KEY])
                return {**refresh, "version": commit["version"], "timestamp": commit["timestamp"]}
        return None

    def drop_materialized_view(self, name: TableName, if_exists: bool = False) -> None:
        if self.materialized_view(name) is None:
            if if_exists:
                return
            if self.exists(name):
                raise SqlError(f"{name} is a table, not a materialized view (use DROP TABLE)")
            if self.view(name) is not None:
                raise SqlError(f"{name} is a view, not a materialized view (use DROP VIEW)")
            raise UnknownTableError(str(name), self._all_table_names())
        self._delete(name)

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
        """Create an empty table; returns False when it existed and ``if_not_exists`` is set.

        The table is created only if the name is still free when it is committed: of several
        sessions creating one name, one wins and the others raise :class:`TableExistsError`
        (or return False with ``if_not_exists``; ``replace`` replaces the winner's table).
        """
        self.require_schema(name.catalog, name.schema)
        if not self.exists(name):
            if self.view(name) is not None:
                raise self._taken(name, "table")
            if self._create(name, schema.empty_table(), options):
                return True
            if not self.exists(name):
                raise self._taken(name, "table")
        if if_not_exists:
            return False
        if not replace:
            raise self._taken(name, "table")
        self.write(name, schema.empty_table(), "overwrite", replace_schema=True, options=options)
        return True

    def write(
        self,
        name: TableName,
        data: pa.Table,
        mode: WriteMode,
        *,
        replace_schema: bool = False,
        merge_schema: bool = False,
        options: TableOptions | None = None,
        read_version: int | None = None,
        operation: str | None = None,
    ) -> None:
        """One atomic commit of ``data`` (append, or overwrite of the whole table); a table
        that does not exist is created (if another session creates it first, ``data`` is
        written to that table as ``mode`` says). ``merge_schema``: columns of ``data`` the
        table lacks are added to it in the same commit (its older rows read them as NULL).

        ``read_version``: the version the data was computed from (UPDATE, DELETE, MERGE); if
        another writer committed since, :class:`ConcurrentWriteError` is raised and nothing is
        written. ``operation`` names the SQL statement in the table's history.
        """
        data = data.cast(storable_schema(data.schema))
        if not self.exists(name):
            self.require_schema(name.catalog, name.schema)
            if self.view(name) is not None:
                raise self._taken(name, "table")
            if self._create(name, data, options):
                return
            if not self.exists(name):
                raise self._taken(name, "table")
        table = self.open(name)
        _check_unchanged(name, table, read_version)
        options = options or TableOptions()
        try:
            write_deltalake(
                table,
                data,
                mode=mode,
                schema_mode="overwrite" if replace_schema else "merge" if merge_schema else None,
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
        create: bool = False,
        replace_schema: bool = False,
        options: TableOptions | None = None,
        read_version: int | None = None,
        operation: str | None = None,
        metadata: dict[str, str] | None = None,
        definition: tuple[str, str] | None = None,
    ) -> int:
        """One atomic commit of every batch of ``batches`` (declared as ``schema``); returns
        the rows written. ``metadata``: more keys for the commit's information (what the
        commit computed from); ``definition``: a file name and text a new table's directory
        holds from the moment it exists (a materialized view's definition).

        The batches are consumed while the data files are written, so memory holds about one
        batch; the commit happens only after the last one. When producing a batch fails, that
        error is raised, no commit is made (the table keeps its version and history) and a
        table that did not exist before is not created. ``read_version`` and ``operation`` as
        in :meth:`write`.

        A table that does not exist is created only if its name is still free once the data
        is written: otherwise nothing is written and :class:`TableExistsError` is raised with
        ``create`` (CREATE TABLE ... AS), :class:`ConcurrentWriteError` without it. With
        ``create``, an existing table is never written to.
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
        new = create or not self.exists(name)
        if new:
            self.require_schema(name.catalog, name.schema)
            if self.exists(name) or self.view(name) is not None:
                raise self._taken(name, "table")
            _check_partitioning(name, options, target.names)
        try:
            if new:
                made = self._write_new(
                    name, reader, options, operation or "CREATE TABLE", metadata, definition
                )
                if not made:
                    if create or not self.exists(name):
                        raise self._taken(name, "table")
                    raise ConcurrentWriteError(
                        f"{name} was created by another writer while this statement ran; "
                        "nothing was written, run the statement again"
                    )
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
                    commit_properties=_commit_properties(operation, metadata),
                )
        except BaseException as exc:
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
        if replace_schema and not new:
            self._apply_options(name, options)
        return rows

    def _create(self, name: TableName, data: pa.Table, options: TableOptions | None) -> bool:
        """Create ``name`` holding ``data``; False (nothing written) when the name was taken
        while it was written."""
        options = options or TableOptions()
        data = data.cast(storable_schema(data.schema))
        _check_partitioning(name, options, data.column_names)
        try:
            return self._write_new(name, data, options, "CREATE TABLE")
        except DeltaError as exc:
            raise SqlError(f"cannot create {name}: {exc}") from None

    def _write_new(
        self,
        name: TableName,
        data: pa.Table | pa.RecordBatchReader,
        options: TableOptions,
        operation: str,
        metadata: dict[str, str] | None = None,
        definition: tuple[str, str] | None = None,
    ) -> bool:
        """Write a new table under a staging name and rename it to ``name`` in one step that
        fails if the name is taken (then returns False and nothing is left behind). A process
        killed midway leaves only its staging directory, which is never listed and is
        removed by the next write to the schema."""
        with self._staging(name) as staging:
            write_deltalake(
                str(staging),
                data,
                mode="error",
                partition_by=options.partition_by or None,
                description=options.comment,
                commit_properties=_commit_properties(operation, metadata),
            )
            if definition is not None:
                (staging / definition[0]).write_text(definition[1])
            if options.properties:  # delta-rs checks keys at create time; ours are free-form
                DeltaTable(str(staging)).alter.set_table_properties(
                    options.properties, raise_if_not_exists=False
                )
            return self._publish(name, staging)

    @contextlib.contextmanager
    def _staging(self, name: TableName) -> Iterator[Path]:
        """A locked staging directory in the schema of ``name``, for the block; the schema's
        leftovers of killed statements are removed first."""
        parent = self.schema_path(name.catalog, name.schema)
        parent.mkdir(parents=True, exist_ok=True)
        files.sweep(parent)
        with files.staging(parent) as path:
            yield path

    def _publish(self, name: TableName, staging: Path) -> bool:
        """Rename ``staging`` to the directory of ``name`` unless that name is taken."""
        path = self.table_path(name)
        try:
            if files.rename_no_replace(staging, path):
                return True
            if path.is_symlink() or not path.is_dir():
                return False
            try:
                path.rmdir()  # an empty directory holds no table: it does not take the name
            except FileNotFoundError:
                pass
            except OSError:
                return False
            return files.rename_no_replace(staging, path)
        except OSError as exc:
            raise SqlError(f"cannot create {name}: {exc.strerror} ({path})") from None

    def _taken(self, name: TableName, kind: str) -> TableExistsError:
        """The error for creating ``name`` (a ``kind``: table or view) over what is there."""
        path = self.table_path(name)
        if self._is_table(path):
            if kind == "table":
                return TableExistsError(
                    f"table {name} already exists (use CREATE OR REPLACE TABLE)"
                )
            return TableExistsError(f"cannot create {kind} {name}: a table of that name exists")
        if (path / VIEW_FILE).is_file():
            if kind == "view":
                return TableExistsError(f"view {name} already exists (use CREATE OR REPLACE VIEW)")
            return TableExistsError(f"cannot create {kind} {name}: a view of that name exists")
        if (path / FUNCTION_FILE).is_file():
            if kind == "function":
                return TableExistsError(
                    f"function {name} already exists (use CREATE OR REPLACE FUNCTION)"
                )
            return TableExistsError(f"cannot create {kind} {name}: a function of that name exists")
        return TableExistsError(
            f"cannot create {kind} {name}: {path} exists and is neither a table nor a view"
        )

    def drop_table(self, name: TableName, if_exists: bool = False) -> None:
        if not self.exists(name):
            if if_exists:
                return
            if self.view(name) is not None:
                raise SqlError(f"{name} is a view, not a table (use DROP VIEW)")
            raise UnknownTableError(str(name), self._all_table_names())
        if self.materialized_view(name) is not None:
            raise SqlError(f"{name} is a materialized view (use DROP MATERIALIZED VIEW)")
        self._delete(name)

    def _delete(self, name: TableName) -> None:
        """Remove the directory of a table or view: first renamed to a staging name, so the
        name is free at once and a crash midway leaves only a leftover the next write to the
        schema removes."""
        path = self.table_path(name)
        if path.is_symlink():
            raise SqlError(f"cannot drop {name}: {path} is a link, not a directory lakeinfer made")
        with self._staging(name) as staging:
            os.replace(path, staging)  # staging is an empty directory: replaced

    # -- VACUUM ----------------------------------------------------------------------------
    def vacuum(
        self,
        name: TableName,
        retain_hours: float | None = None,
        *,
        dry_run: bool = False,
        check_retention: bool = True,
        lite: bool = False,
    ) -> list[str]:
        """Delete the files of ``name`` no version within the retention still needs (data
        files of old versions, and files no commit references, such as those of a write that
        was killed; ``lite``: only the former, found from the log without listing the
        directory); returns their paths (those it would delete with ``dry_run``). The
        retention is ``retain_hours``, default the table's
        ``delta.deletedFileRetentionDuration`` (7 days); a shorter one than that is refused
        while ``check_retention`` is on, as on Databricks."""
        table = self.open(name)
        minimum = _retention_hours(table.metadata().configuration)
        if retain_hours is not None and retain_hours < 0:
            raise AnalysisError(f"VACUUM {name}: RETAIN takes a number of hours >= 0")
        if check_retention and retain_hours is not None and retain_hours < minimum:
            raise AnalysisError(
                f"VACUUM {name} RETAIN {retain_hours:g} HOURS: the retention is shorter than "
                f"the table's {minimum:g} hours (delta.deletedFileRetentionDuration), so it "
                "can delete files that running statements or time travel still read; to do "
                "it anyway, SET spark.databricks.delta.retentionDurationCheck.enabled = false"
            )
        hours = None if retain_hours is None else math.ceil(retain_hours)
        try:
            removed = table.vacuum(
                retention_hours=hours,
                dry_run=dry_run,
                enforce_retention_duration=False,
                commit_properties=_commit_properties("VACUUM"),
                full=not lite,
            )
        except DeltaError as exc:
            raise SqlError(f"cannot vacuum {name}: {exc}") from None
        if not dry_run:
            files.sweep(self.schema_path(name.catalog, name.schema))
        root = self.table_path(name)
        return sorted(str(root / relative) for relative in removed)


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


def _commit_properties(
    operation: str | None, metadata: dict[str, str] | None = None
) -> CommitProperties | None:
    if operation is None and not metadata:
        return None
    custom = dict(metadata or {})
    if operation is not None:
        custom[OPERATION_KEY] = operation
    return CommitProperties(custom_metadata=custom)


def _defines(path: Path) -> bool:
    """Whether the directory ``path`` holds a view's or a function's definition."""
    return any((path / file).is_file() for file in DEFINITION_FILES)


def _is_entry_dir(path: Path) -> bool:
    """Whether ``path`` may be listed as a catalog, schema, table or view: a directory (not a
    link) whose name follows the name rule, so staging leftovers and foreign entries never are."""
    return is_valid_name(path.name) and not path.is_symlink() and path.is_dir()


def _remove_owned(path: Path, owned: list[Path]) -> None:
    """Delete the entries ``owned`` of the schema directory ``path``, then ``path`` itself."""
    for entry in owned:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
    _remove_dir(path)


def _remove_dir(path: Path) -> None:
    """Remove the directory ``path``, emptied just before."""
    try:
        path.rmdir()
    except OSError as exc:
        raise SqlError(
            f"cannot remove {path}: {exc.strerror} (another session may have written to it "
            "while it was dropped)"
        ) from None


def _foreign_files(what: str, path: Path, names: list[str]) -> SqlError:
    shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
    return SqlError(
        f"cannot drop {what}: {path} holds files lakeinfer did not create ({shown}); nothing "
        "was dropped: move them away, then drop again"
    )


_DURATION_UNITS = {"hour": 1.0, "day": 24.0, "week": 168.0, "minute": 1 / 60, "second": 1 / 3600}


def _retention_hours(configuration: dict[str, str]) -> float:
    """``delta.deletedFileRetentionDuration`` (``interval 7 days``) in hours; 168 by default."""
    text = configuration.get("delta.deletedFileRetentionDuration", "interval 7 days")
    words = text.lower().replace("interval", "").split()
    try:
        amount, unit = float(words[0]), words[1].rstrip("s")
        return amount * _DURATION_UNITS[unit]
    except (IndexError, ValueError, KeyError):
        return 168.0
