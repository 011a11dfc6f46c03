from __future__ import annotations

import threading

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.errors import ConcurrentWriteError, SqlError, TableExistsError, UnknownTableError


def test_names_are_qualified_in_the_current_namespace_and_lower_cased():
    namespace = Namespace("sales", "emea")
    assert DeltaCatalog.qualify(["Orders"], namespace) == TableName("sales", "emea", "orders")
    assert DeltaCatalog.qualify(["apac", "o"], namespace) == TableName("sales", "apac", "o")
    assert DeltaCatalog.qualify(["MAIN", "default", "t"], namespace) == TableName(
        "main", "default", "t"
    )


def test_a_table_is_a_delta_directory_and_each_write_one_commit(tmp_path):
    catalog = DeltaCatalog(tmp_path)
    name = TableName("main", "default", "t")
    catalog.create_table(name, pa.schema([("id", pa.int64())]))
    catalog.write(name, pa.table({"id": [1, 2]}), "append")
    catalog.write(name, pa.table({"id": [3]}), "overwrite")
    delta = DeltaTable(str(tmp_path / "main" / "default" / "t"))
    assert delta.version() == 2
    assert delta.to_pyarrow_table().to_pylist() == [{"id": 3}]
    with pytest.raises(TableExistsError):
        catalog.create_table(name, pa.schema([("id", pa.int64())]))


def test_a_failed_write_leaves_the_table_as_it_was(tmp_path):
    catalog = DeltaCatalog(tmp_path)
    name = TableName("main", "default", "t")
    catalog.write(name, pa.table({"id": [1]}), "append")
    with pytest.raises(SqlError, match="cannot write to main.default.t"):
        catalog.write(name, pa.table({"other": ["x"]}), "append")
    delta = DeltaTable(str(catalog.table_path(name)))
    assert delta.version() == 0 and delta.to_pyarrow_table().to_pylist() == [{"id": 1}]


def test_unknown_tables_and_schemas_are_named(tmp_path):
    catalog = DeltaCatalog(tmp_path)
    catalog.write(TableName("main", "default", "reviews"), pa.table({"id": [1]}), "append")
    with pytest.raises(UnknownTableError, match="did you mean 'main.default.reviews'"):
        catalog.open(TableName("main", "default", "review"))
    with pytest.raises(SqlError, match="schema not found: main.nope"):
        catalog.write(TableName("main", "nope", "t"), pa.table({"id": [1]}), "append")


def test_a_new_table_taken_while_its_batches_were_written_is_left_to_its_creator(tmp_path):
    catalog = DeltaCatalog(tmp_path)
    name = TableName("main", "default", "t")
    schema = pa.schema([("id", pa.int64())])

    def batches(created_by_other: list[int]):
        yield pa.RecordBatch.from_pydict({"id": [1]}, schema=schema)
        other = threading.Thread(
            target=catalog.write, args=(name, pa.table({"id": created_by_other}), "append")
        )
        other.start()
        other.join()
        yield pa.RecordBatch.from_pydict({"id": [2]}, schema=schema)

    with pytest.raises(TableExistsError, match="table main.default.t already exists"):
        catalog.write_batches(name, schema, batches([7]), "overwrite", create=True)
    catalog.drop_table(name)
    with pytest.raises(ConcurrentWriteError, match="created by another writer while this"):
        catalog.write_batches(name, schema, batches([8]), "overwrite", replace_schema=True)
    assert catalog.dataset(name).to_table().to_pylist() == [{"id": 8}]
    assert catalog.version(name) == 0
    assert sorted(p.name for p in catalog.schema_path("main", "default").iterdir()) == ["t"]
    with pytest.raises(TableExistsError, match="already exists"):
        catalog.write_batches(name, schema, iter([]), "overwrite", create=True)
