"""``VACUUM table [FULL | LITE] [RETAIN n HOURS] [DRY RUN]``, as on Databricks, backed by
delta-rs.

Deletes the files of a table that no version within the retention needs: data files that
old versions referenced and files of writes that never committed (an INSERT killed midway;
``LITE`` finds only the former, from the log, without listing the table's directory).
The retention defaults to the table's ``delta.deletedFileRetentionDuration`` (7 days); a
shorter ``RETAIN`` is refused unless ``SET
spark.databricks.delta.retentionDurationCheck.enabled = false``. The result has one row per
deleted file (``DRY RUN``: per file it would delete), in a column ``path``.
"""

from __future__ import annotations

import pyarrow as pa

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.settings import Settings
from lakeinfer.sql.dialect import Vacuum

#: The Databricks setting that guards against a RETAIN shorter than the table's retention.
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def vacuum(
    catalog: DeltaCatalog, name: TableName, settings: Settings, statement: Vacuum
) -> pa.Table:
    """Run a parsed ``VACUUM`` statement on the table ``name`` and return its rows."""
    retain = statement.args.get("retain")
    paths = catalog.vacuum(
        name,
        float(retain.name) if retain is not None else None,
        dry_run=bool(statement.args.get("dry_run")),
        check_retention=bool(settings.get(RETENTION_CHECK)),
        lite=statement.args.get("mode") == "LITE",
    )
    return pa.table({"path": pa.array(paths, pa.string())})
