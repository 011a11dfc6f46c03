"""The idempotent Delta sink: a batch id is written once per stream."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.pipelines.sink import DeltaSink


def test_the_sink_writes_a_batch_id_once(tmp_path: Path):
    catalog = DeltaCatalog(tmp_path)
    name = TableName("main", "default", "out")
    sink = DeltaSink(catalog, name, app_id="stream-1")
    sink.ensure(pa.schema([("id", pa.int64()), ("answer", pa.string())]))
    batch = pa.table({"answer": ["a", "b"], "id": [1, 2]})  # columns matched by name
    assert sink.commit(0, batch) is True
    assert sink.commit(0, batch) is False  # a replay after a crash
    assert sink.committed_version() == 0
    assert sink.commit(1, batch.slice(0, 1)) is True
    table = DeltaTable(str(catalog.table_path(name)))
    assert table.transaction_version("stream-1") == 1
    assert sorted(pa.table(table.to_pyarrow_table()).column("id").to_pylist()) == [1, 1, 2]
    other = DeltaSink(catalog, name, app_id="stream-2")
    assert other.committed_version() == -1  # transactions are per stream
