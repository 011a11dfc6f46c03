"""One name rule for catalogs, schemas, tables and views, and no path outside the home."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

import lakeinfer
from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.catalog.names import check_name, is_valid_name
from lakeinfer.errors import AnalysisError, SqlError


def tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (links not followed): files with their bytes, dirs as None."""
    found: dict[str, bytes | None] = {}
    for directory, dirs, names in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), root)] = None
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = (
                b"link" if os.path.islink(path) else Path(path).read_bytes()
            )
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the home with a victim schema, table and file in it."""
    victim = tmp_path / "outside" / "victim"
    (victim / "t" / "_delta_log").mkdir(parents=True)
    (victim / "t" / "_delta_log" / "00000000000000000000.json").write_text("{}")
    (victim / "notes.txt").write_text("precious")
    return tmp_path / "outside"


@pytest.fixture
def s(home: Path):
    with lakeinfer.connect(home, progress=False) as session:
        yield session


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "names cannot be empty"),
        (".", "names cannot contain '.'"),
        ("..", "names cannot contain '.'"),
        (".hidden", "names cannot contain '.'"),
        ("a.b", "names cannot contain '.'"),
        ("a/b", "names cannot contain '/'"),
        ("/etc", "names cannot contain '/'"),
        ("a\\b", "names cannot contain '\\\\'"),
        ("a\x00b", "control characters (U+0000)"),
        ("line\nbreak", "control characters (U+000A)"),
        ("del\x7f", "control characters (U+007F)"),
        ("_delta_log", "names cannot start with '_'"),
        ("%2e%2e", "names cannot contain '%'"),
        ("a[0]", "names cannot contain '['"),
        ("a|b", "names cannot contain '|'"),
        ("x" * 256, "at most 255 bytes"),
        ("é" * 128, "at most 255 bytes long in UTF-8 (this one has 256)"),
    ],
)
def test_each_broken_rule_is_named(name, rule):
    assert not is_valid_name(name)
    with pytest.raises(AnalysisError, match="invalid table name") as caught:
        check_name(name, "table")
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    "name", ["reviews", "Sales 2024", "a-b", "x" * 255, "\u2215etc", "\uff0e\uff0e", "çà", "1"]
)
def test_names_that_are_one_plain_path_component_are_valid(name):
    assert check_name(name, "schema") == name


def test_qualify_refuses_a_bad_part_before_any_path_exists():
    with pytest.raises(AnalysisError, match=r"invalid catalog name '\.\.': names cannot contain"):
        DeltaCatalog.qualify(["..", "..", "x"], Namespace())
    with pytest.raises(AnalysisError, match="invalid table name '': names cannot be empty"):
        DeltaCatalog.qualify(["main", "default", ""], Namespace())
    with pytest.raises(AnalysisError, match="invalid schema name"):
        TableName("main", "a/b", "t")


def test_names_that_escaped_the_home_are_refused_and_touch_nothing(s, home, tmp_path, outside):
    before = tree(tmp_path / "outside")
    statements = {
        "CREATE TABLE `..`.`..`.`x` AS SELECT 42": "invalid catalog name '..'",
        f"CREATE CATALOG `{outside}/new`": "names cannot contain '/'",
        f"DROP SCHEMA `{outside}`.`victim` CASCADE": "invalid catalog name",
        f"DROP CATALOG `{outside}` CASCADE": "names cannot contain '/'",
        "CREATE TABLE main.default.`a/b` AS SELECT 1": "invalid table name 'a/b'",
        "CREATE TABLE main.`..`.`outside` (id INT)": "invalid schema name '..'",
        "INSERT INTO main.default.`..` VALUES (1)": "invalid table name '..'",
        "DROP TABLE main.`..`.`outside`": "invalid schema name '..'",
        "CREATE SCHEMA main.`_checkpoints`": "names cannot start with '_'",
        "DROP CATALOG `_cache` CASCADE": "names cannot start with '_'",
    }
    for sql, message in statements.items():
        with pytest.raises(SqlError) as caught:
            s.sql(sql)
        assert message in str(caught.value), sql
    assert tree(tmp_path / "outside") == before
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
    assert s.sql("SHOW TABLES").to_pylist() == []


def test_an_empty_name_cannot_turn_a_schema_into_a_table_or_drop_it(s, home):
    with pytest.raises(AnalysisError, match="invalid table name '': names cannot be empty"):
        s.sql("CREATE TABLE main.default.`` AS SELECT 1 AS x")
    assert not (home / "main" / "default" / "_delta_log").exists()
    s.sql("CREATE TABLE main.default.kept AS SELECT 1 AS x")
    with pytest.raises(AnalysisError, match="names cannot be empty"):
        s.sql("DROP TABLE main.default.``")
    with pytest.raises(AnalysisError, match="names cannot be empty"):
        s.sql("DROP SCHEMA main.`` CASCADE")
    assert s.sql("SELECT x FROM main.default.kept").to_pylist() == [{"x": 1}]


def test_a_link_out_of_the_home_is_never_followed(s, home, outside):
    s.sql("CREATE SCHEMA main.sales")
    (home / "main" / "sales" / "t").symlink_to(outside / "victim" / "t")
    (home / "elsewhere").symlink_to(outside)
    before = tree(outside)
    for sql in (
        "DROP TABLE main.sales.t",
        "INSERT INTO main.sales.t VALUES (1)",
        "SELECT * FROM main.sales.t",
        "DROP SCHEMA elsewhere.victim CASCADE",
        "CREATE TABLE elsewhere.victim.x AS SELECT 1 AS x",
        "DROP CATALOG elsewhere CASCADE",
    ):
        with pytest.raises(SqlError, match="outside the lakehouse"):
            s.sql(sql).to_pylist()
    assert tree(outside) == before
    assert s.sql("SHOW TABLES IN main.sales").to_pylist() == []
    assert "elsewhere" not in [r["catalog"] for r in s.sql("SHOW CATALOGS").to_pylist()]


def test_drop_schema_cascade_deletes_what_lakeinfer_made_and_refuses_foreign_files(s, home):
    s.sql("CREATE SCHEMA main.sales; CREATE TABLE main.sales.t AS SELECT 1 AS x")
    s.sql("CREATE VIEW main.sales.v AS SELECT x FROM main.sales.t")
    schema = home / "main" / "sales"
    (schema / ".0123.writing" / "_delta_log").mkdir(parents=True)  # a killed CTAS's leftover
    (schema / "report.csv").write_text("a,b\n")
    (schema / "stuff").mkdir()
    (schema / "stuff" / "data.bin").write_bytes(b"\x00")
    with pytest.raises(SqlError) as caught:
        s.sql("DROP SCHEMA main.sales CASCADE")
    message = str(caught.value)
    assert "holds files lakeinfer did not create" in message
    assert "'report.csv'" in message and "'stuff'" in message and "nothing was dropped" in message
    assert s.sql("SELECT x FROM main.sales.v").to_pylist() == [{"x": 1}]
    (schema / "report.csv").unlink()
    (schema / "stuff" / "data.bin").unlink()  # an empty directory is harmless
    with pytest.raises(SqlError, match="is not empty; use DROP SCHEMA ... CASCADE"):
        s.sql("DROP SCHEMA main.sales")
    s.sql("DROP SCHEMA main.sales CASCADE")
    assert not schema.exists()


def test_drop_schema_without_cascade_also_counts_views(s):
    s.sql("CREATE SCHEMA main.v_only; CREATE VIEW main.v_only.v AS SELECT 1 AS x")
    with pytest.raises(SqlError, match="is not empty"):
        s.sql("DROP SCHEMA main.v_only")


def test_drop_catalog_cascade_refuses_foreign_files_anywhere_in_it(s, home):
    s.sql("CREATE CATALOG sales; CREATE SCHEMA sales.emea; CREATE TABLE sales.emea.t (id INT)")
    (home / "sales" / "emea" / "keep.parquet").write_bytes(b"PAR1")
    with pytest.raises(SqlError, match=r"holds files lakeinfer did not create \('emea/keep"):
        s.sql("DROP CATALOG sales CASCADE")
    assert s.sql("SHOW TABLES IN sales.emea").to_pylist()[0]["tableName"] == "t"
    (home / "sales" / "emea" / "keep.parquet").unlink()
    (home / "sales" / "README").write_text("mine")
    with pytest.raises(SqlError, match=r"\('README'\)"):
        s.sql("DROP CATALOG sales CASCADE")
    (home / "sales" / "README").unlink()
    s.sql("DROP CATALOG sales CASCADE")
    assert not (home / "sales").exists()


def test_catalog_methods_check_names_too(tmp_path):
    catalog = DeltaCatalog(tmp_path / "home")
    for call in (
        lambda: catalog.create_catalog("../x"),
        lambda: catalog.create_schema("main", ".."),
        lambda: catalog.drop_schema("..", "x", cascade=True),
        lambda: catalog.drop_catalog("", cascade=True),
        lambda: catalog.list_tables("main", "a\\b"),
        lambda: catalog.catalog_exists("_jobs"),
    ):
        with pytest.raises(AnalysisError, match="invalid (catalog|schema) name"):
            call()
    catalog.write(TableName("main", "default", "ok"), pa.table({"id": [1]}), "append")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
