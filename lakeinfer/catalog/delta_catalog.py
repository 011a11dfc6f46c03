"""Three-part names (``catalog.schema.table``) backed by Delta tables on disk.

Layout: ``<home>/<catalog>/<schema>/<table>/`` is a Delta table written only through delta-rs
(``deltalake``), so any Delta reader can open it. Catalogs and schemas are directories. Names are
case-insensitive, as in Databricks, and stored lower-case. ``main``, ``main.default`` and
``system`` always exist. Every write is exactly one Delta commit: a statement that fails
before its commit leaves the table (and its history) as it was.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from lakeinfer.errors import (
    AnalysisError,
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

    def dataset(self, name: TableName) -> pads.Dataset:
        """A lazily scanned Arrow dataset of the table's current version."""
        return self.open(name).to_pyarrow_dataset()

    def schema(self, name: TableName) -> pa.Schema:
        return pa.schema(self.open(name).schema().to_arrow())

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
    ) -> bool:
        """Create an empty table; returns False when it existed and ``if_not_exists`` is set."""
        self.require_schema(name.catalog, name.schema)
        if self.exists(name):
            if if_not_exists:
                return False
            if not replace:
                raise TableExistsError(f"table {name} already exists (use CREATE OR REPLACE TABLE)")
            self.write(name, schema.empty_table(), "overwrite", replace_schema=True)
            return True
        self._write_new(name, schema.empty_table())
        return True

    def write(
        self, name: TableName, data: pa.Table, mode: WriteMode, *, replace_schema: bool = False
    ) -> None:
        """One atomic commit of ``data`` (append, or overwrite of the whole table)."""
        data = data.cast(storable_schema(data.schema))
        if not self.exists(name):
            self.require_schema(name.catalog, name.schema)
            self._write_new(name, data)
            return
        try:
            write_deltalake(
                str(self.table_path(name)),
                data,
                mode=mode,
                schema_mode="overwrite" if replace_schema else None,
            )
        except DeltaError as exc:
            raise SqlError(f"cannot write to {name}: {exc}") from None

    def write_batches(
        self,
        name: TableName,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        mode: WriteMode,
        *,
        replace_schema: bool = False,
    ) -> int:
        """One atomic commit of every batch of ``batches`` (declared as ``schema``); returns
        the rows written.

        The batches are consumed while the data files are written, so memory holds about one
        batch; the commit happens only after the last one. When producing a batch fails, that
        error is raised, no commit is made (the table keeps its version and history) and a
        table that did not exist before is not created.
        """
        target = storable_schema(schema)
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
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.parent / f".{name.table}.{uuid.uuid4().hex}.writing"
        try:
            if new:
                write_deltalake(str(staging), reader, mode="error")
                try:
                    staging.rename(path)
                except OSError as exc:
                    raise TableExistsError(f"cannot create {name}: {exc}") from None
            else:
                write_deltalake(
                    str(path),
                    reader,
                    mode=mode,
                    schema_mode="overwrite" if replace_schema else None,
                )
        except BaseException as exc:
            if new:
                shutil.rmtree(staging, ignore_errors=True)
            if failure:
                raise failure[0] from None
            if isinstance(exc, DeltaError):
                verb = "create" if new else "write to"
                raise SqlError(f"cannot {verb} {name}: {exc}") from None
            raise
        return rows

    def _write_new(self, name: TableName, data: pa.Table) -> None:
        path = self.table_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_deltalake(str(path), data.cast(storable_schema(data.schema)), mode="error")
        except DeltaError as exc:
            raise SqlError(f"cannot create {name}: {exc}") from None

    def drop_table(self, name: TableName, if_exists: bool = False) -> None:
        if not self.exists(name):
            if if_exists:
                return
            raise UnknownTableError(str(name), self._all_table_names())
        shutil.rmtree(self.table_path(name))
