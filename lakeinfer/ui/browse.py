"""The catalog as the workspace browses it: catalogs, schemas, tables, columns, versions, rows.

Everything is read through the session's :class:`~lakeinfer.catalog.delta_catalog.DeltaCatalog`
(the same one ``SHOW TABLES`` and ``DESCRIBE HISTORY`` use), straight from the Delta logs, so
browsing never waits for a statement that is running.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lakeinfer.catalog.delta_catalog import (
    OPERATION_KEY,
    DeltaCatalog,
    Namespace,
    TableName,
    TableRef,
)
from lakeinfer.output import to_jsonable
from lakeinfer.sql.types import arrow_to_ddl
from lakeinfer.ui.grid import page

PREVIEW_ROWS = 50


def tree(catalog: DeltaCatalog) -> list[dict[str, Any]]:
    """Every catalog with its schemas, and each schema's tables and views (names only)."""
    result = []
    for name in catalog.list_catalogs():
        schemas = []
        for schema in catalog.list_schemas(name):
            schemas.append(
                {
                    "name": schema,
                    "tables": catalog.list_tables(name, schema),
                    "views": catalog.list_views(name, schema),
                }
            )
        result.append({"name": name, "schemas": schemas})
    return result


def resolve(name: str) -> TableName:
    """``c.s.t`` (or a shorter name in ``main.default``) as a table name."""
    return DeltaCatalog.qualify(name.split("."), Namespace())


def table_info(catalog: DeltaCatalog, name: str) -> dict[str, Any]:
    """Columns, row count, current version, commit history and details of a table or view."""
    qualified = resolve(name)
    view = catalog.view(qualified)
    if view is not None and not catalog.exists(qualified):
        return {
            "name": str(qualified),
            "kind": "VIEW",
            "definition": view.sql,
            "comment": view.comment,
        }
    table = catalog.open(qualified)
    schema = table.schema().to_arrow()
    fields = [schema.field(i) for i in range(len(schema))]
    details = catalog.details(qualified)
    return {
        "name": str(qualified),
        "kind": "TABLE",
        "columns": [
            {
                "name": f.name,
                "type": arrow_to_ddl(_arrow_type(f.type)),
                "nullable": f.nullable,
                "comment": (f.metadata or {}).get(b"comment", b"").decode() or None,
            }
            for f in fields
        ],
        "rows": table.count(),
        "version": table.version(),
        "history": [_commit(c) for c in table.history()],
        **{k: v for k, v in details.items() if k != "version"},
    }


def preview(
    catalog: DeltaCatalog, name: str, version: int | None = None, limit: int = PREVIEW_ROWS
) -> dict[str, Any]:
    """The first ``limit`` rows of the table (of ``version`` when given: time travel)."""
    dataset = catalog.dataset(TableRef(resolve(name), version=version))
    return page(dataset.head(limit), 0, limit)


def _arrow_type(dtype: Any) -> Any:
    import pyarrow as pa

    return dtype if isinstance(dtype, pa.DataType) else pa.field(dtype).type


def _commit(commit: dict[str, Any]) -> dict[str, Any]:
    millis = commit.get("timestamp")
    when = (
        dt.datetime.fromtimestamp(millis / 1000, dt.UTC).isoformat(timespec="seconds")
        if millis is not None
        else None
    )
    metrics = commit.get("operationMetrics") or {}
    info = commit.get("userMetadata") or commit.get("operationParameters") or {}
    return {
        "version": commit.get("version"),
        "timestamp": when,
        "operation": commit.get(OPERATION_KEY) or commit.get("operation"),
        "parameters": to_jsonable(info),
        "metrics": to_jsonable(metrics),
    }


def query_history(catalog: DeltaCatalog, limit: int = 200) -> list[dict[str, Any]]:
    """The latest AI statements of ``system.ai.query_history``, newest first."""
    from lakeinfer.engine.history import HISTORY_TABLE

    if not catalog.exists(HISTORY_TABLE):
        return []
    table = catalog.dataset(HISTORY_TABLE).to_table()
    table = table.sort_by([("started_at", "descending")]).slice(0, limit)
    return [to_jsonable(row) for row in table.to_pylist()]
