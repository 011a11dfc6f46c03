"""Appends micro-batches to a Delta table exactly once.

Each append carries a Delta application transaction ``(app_id, batch_id)``, where ``app_id``
is the stream's checkpoint id. Before writing, the table's recorded transaction version for
``app_id`` is read: a batch already written (a crash after the Delta commit but before the
checkpoint's commit file) is not written again. delta-rs commits a replayed transaction version
a second time, so the check is ours; on a conflicting concurrent commit the table is reloaded and
checked again.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.catalog.delta_log import commit_versions, read_commit
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.sql.types import CAST_ERRORS, arrow_to_ddl, storable_schema

MAX_COMMIT_ATTEMPTS = 5


class DeltaSink:
    """The target table of one stream."""

    def __init__(self, catalog: DeltaCatalog, name: TableName, app_id: str):
        self.catalog = catalog
        self.name = name
        self.app_id = app_id

    @property
    def path(self) -> str:
        return str(self.catalog.table_path(self.name))

    def committed_version(self) -> int:
        """The last batch id this stream wrote to the table (-1: none)."""
        if not self.catalog.exists(self.name):
            return -1
        version = DeltaTable(self.path).transaction_version(self.app_id)
        return -1 if version is None else version

    def table_id(self) -> str | None:
        """The Delta table id of the target (None: no table); a re-created table has a new one."""
        if not self.catalog.exists(self.name):
            return None
        return DeltaTable(self.path).metadata().id

    def written_rows(self, batch_id: int) -> int | None:
        """The rows the table's commit of batch ``batch_id`` added (None: no such commit in
        the table's log). Read from the log, newest commit first: a batch looked up is
        usually one of the last."""
        for version in commit_versions(self.path):
            try:
                commit = read_commit(self.path, version)
            except (OSError, ValueError, KeyError):
                continue
            if commit is None or commit.transactions.get(self.app_id) != batch_id:
                continue
            if any(a.rows is None for a in commit.added):
                return None
            return sum(a.rows or 0 for a in commit.added)
        return None

    def ensure(self, schema: pa.Schema) -> None:
        """Create the table, empty, when it does not exist."""
        if not self.catalog.exists(self.name):
            self.catalog.create_table(self.name, storable_schema(schema), if_not_exists=True)

    def commit(self, batch_id: int, data: pa.Table) -> bool:
        """Append ``data`` as batch ``batch_id``; False when that batch was already written."""
        data = self._align(data)
        properties = CommitProperties(app_transactions=[Transaction(self.app_id, batch_id)])
        for _ in range(MAX_COMMIT_ATTEMPTS):
            if self.committed_version() >= batch_id:
                return False
            try:
                write_deltalake(self.path, data, mode="append", commit_properties=properties)
                return True
            except CommitFailedError:
                continue  # someone else committed: reload and check again
            except DeltaError as exc:
                raise StreamingError(
                    f"cannot write batch {batch_id} to {self.name}: {exc}"
                ) from None
        raise StreamingError(
            f"cannot write batch {batch_id} to {self.name}: {MAX_COMMIT_ATTEMPTS} commit conflicts"
        )

    def _align(self, data: pa.Table) -> pa.Table:
        """The batch in the table's schema, by column name."""
        target = self.catalog.schema(self.name)
        given = {name.lower(): i for i, name in enumerate(data.column_names)}
        wanted = [f.name.lower() for f in target]
        if sorted(given) != sorted(wanted):
            raise StreamingError(
                f"the stream's output columns ({', '.join(data.column_names)}) do not match "
                f"the columns of {self.name} ({', '.join(target.names)})"
            )
        columns = []
        for field in target:
            column = data.column(given[field.name.lower()])
            try:
                columns.append(column.cast(field.type))
            except CAST_ERRORS:
                raise StreamingError(
                    f"column {field.name!r} of the stream is {arrow_to_ddl(column.type)}, "
                    f"which does not fit {arrow_to_ddl(field.type)} in {self.name}"
                ) from None
        return pa.Table.from_arrays(columns, schema=target)
