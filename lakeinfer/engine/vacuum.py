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

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace
from lakeinfer.errors import AnalysisError
from lakeinfer.settings import Settings
from lakeinfer.sql.dotted_names import dotted_name
from lakeinfer.sql.parse import tokenize

#: The Databricks setting that guards against a RETAIN shorter than the table's retention.
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_USAGE = "VACUUM takes a table name, then optionally FULL or LITE, RETAIN <hours> HOURS and DRY RUN"


def vacuum(catalog: DeltaCatalog, namespace: Namespace, settings: Settings, text: str) -> pa.Table:
    """Run ``VACUUM <text>`` (``text``: what follows the keyword) and return its rows."""
    tokens = tokenize(text)
    if not tokens:
        raise AnalysisError(_USAGE)
    parts, index = dotted_name(tokens, "VACUUM")
    name = DeltaCatalog.qualify(parts, namespace)
    rest = [t.text.upper() for t in tokens[index:]]
    lite = rest[:1] == ["LITE"]
    if rest[:1] in (["LITE"], ["FULL"]):
        rest = rest[1:]
        index += 1
    retain: float | None = None
    if rest[:1] == ["RETAIN"]:
        if len(rest) < 3 or rest[2] != "HOURS":
            raise AnalysisError(f"{_USAGE}; got RETAIN {' '.join(rest[1:3])}")
        try:
            retain = float(rest[1])
        except ValueError:
            raise AnalysisError(
                f"VACUUM {name}: RETAIN takes a number of hours, got {tokens[index + 1].text!r}"
            ) from None
        rest = rest[3:]
    dry_run = rest == ["DRY", "RUN"]
    if rest and not dry_run:
        raise AnalysisError(f"{_USAGE}; unexpected {' '.join(rest)!r}")
    paths = catalog.vacuum(
        name,
        retain,
        dry_run=dry_run,
        check_retention=bool(settings.get(RETENTION_CHECK)),
        lite=lite,
    )
    return pa.table({"path": pa.array(paths, pa.string())})
