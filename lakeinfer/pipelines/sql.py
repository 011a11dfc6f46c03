"""``CREATE [OR REFRESH] STREAMING TABLE t AS SELECT ... FROM STREAM(src)``.

The statement runs the stream once with ``availableNow``: on creation over every row of
``src``, on each refresh over the rows committed since the previous one, exactly once. The
checkpoint is kept by the lakehouse at ``<home>/_checkpoints/<catalog>/<schema>/<table>/``;
``DROP TABLE`` followed by ``CREATE`` starts over (the checkpoints of other streams into the
table, in folders below, are kept: they no longer match the table and say so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError, TableExistsError
from lakeinfer.pipelines.batch import streamed_table
from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.execution import StreamExecution, StreamSpec
from lakeinfer.pipelines.locations import table_checkpoints
from lakeinfer.pipelines.source import Limits

if TYPE_CHECKING:
    from lakeinfer.engine.statements import StatementExecutor


def checkpoint_location(catalog: DeltaCatalog, name: TableName) -> str:
    return str(table_checkpoints(catalog.home, name))


def create_streaming_table(
    executor: StatementExecutor, statement: exp.Create, ai: AiEvaluator
) -> pa.Table:
    """Create or refresh the streaming table; one row: batches run and rows inserted."""
    catalog = executor.catalog
    target = executor._table_name(statement.this)
    if isinstance(statement.this, exp.Schema) and statement.this.expressions:
        raise AnalysisError("a streaming table takes its columns from its query; drop the list")
    query, table = streamed_table(statement.expression)
    source = DeltaCatalog.qualify([p.name for p in table.parts], executor.namespace)
    catalog.open(source)  # unknown table: a clear error before anything is written
    location = checkpoint_location(catalog, target)
    refresh = bool(statement.args.get("refresh"))
    if catalog.exists(target):
        if statement.args.get("exists"):
            return _result(0, 0)
        if not refresh and not statement.args.get("replace"):
            raise TableExistsError(
                f"table {target} already exists (use CREATE OR REFRESH STREAMING TABLE)"
            )
        if statement.args.get("replace"):
            catalog.drop_table(target)
            Checkpoint(location).delete()
        elif not (catalog.home / "_checkpoints").exists() or not _has_checkpoint(location):
            raise AnalysisError(
                f"table {target} exists but is not a streaming table; drop it or pick another name"
            )
    else:
        catalog.require_schema(target.catalog, target.schema)
        Checkpoint(location).delete()  # a dropped table starts over
    spec = StreamSpec(source, target, query, location, Limits())
    execution = StreamExecution(spec, catalog, executor.runner.con, executor.namespace, lambda: ai)
    try:
        execution.prepare()
        latest = execution.latest_version()
        batches = 0
        while execution.has_data(latest):
            execution.run_once(latest)
            batches += 1
    finally:
        execution.close()
    return _result(batches, execution.total_rows)


def _has_checkpoint(location: str) -> bool:
    from pathlib import Path

    return (Path(location) / "metadata").exists()


def _result(batches: int, rows: int) -> pa.Table:
    return pa.table(
        {
            "num_batches": pa.array([batches], pa.int64()),
            "num_inserted_rows": pa.array([rows], pa.int64()),
        }
    )
