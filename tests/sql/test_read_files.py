"""read_files(...) in SQL, and parameter markers bound from Python."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import AnalysisError, SqlSyntaxError


@pytest.fixture
def s(home):
    with lakeinfer.connect(home, progress=False) as session:
        yield session


def test_read_files_formats_options_and_directories(s, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("id;text\n1;x\n")
    (data / "b.csv").write_text("id;text\n2;y\n")
    rows = s.sql(
        f"SELECT * FROM read_files('{data}', format => 'csv', header => true, sep => ';') "
        "ORDER BY id"
    ).to_pylist()
    assert rows == [{"id": 1, "text": "x"}, {"id": 2, "text": "y"}]
    (tmp_path / "one.json").write_text('[{"id": 5, "nested": {"k": "v"}}]')
    rows = s.sql(
        f"SELECT id, nested.k AS k FROM read_files('{tmp_path / 'one.json'}', multiLine => true)"
    ).to_pylist()
    assert rows == [{"id": 5, "k": "v"}]
    s.sql(f"CREATE TABLE landed AS SELECT * FROM read_files('{data / 'a.csv'}', header => true)")
    assert s.sql("SELECT text FROM landed").to_pylist() == [{"text": "x"}]


def test_read_files_errors_name_the_problem(s, tmp_path):
    with pytest.raises(AnalysisError, match="no such file or directory"):
        s.sql(f"SELECT * FROM read_files('{tmp_path / 'missing.csv'}')").to_pylist()
    (tmp_path / "x.bin").write_text("?")
    with pytest.raises(AnalysisError, match="cannot tell the format"):
        s.sql(f"SELECT * FROM read_files('{tmp_path / 'x.bin'}')").to_pylist()
    with pytest.raises(AnalysisError, match="format 'avro' is not supported"):
        s.sql(f"SELECT * FROM read_files('{tmp_path}', format => 'avro')").to_pylist()
    with pytest.raises(AnalysisError, match="option 'bogus' is not supported for csv"):
        s.sql(
            f"SELECT * FROM read_files('{tmp_path / 'x.bin'}', format => 'csv', bogus => 1)"
        ).to_pylist()


def test_parameter_markers_named_and_positional(s):
    s.sql("CREATE TABLE t AS SELECT * FROM VALUES (1, 'en'), (2, 'ja') AS v(id, lang)")
    assert s.sql("SELECT id FROM t WHERE lang = :lang", args={"lang": "ja"}).to_pylist() == [
        {"id": 2}
    ]
    assert s.sql("SELECT id FROM t WHERE id > ? AND lang = ?", args=[0, "en"]).to_pylist() == [
        {"id": 1}
    ]
    # a value is data, never SQL
    assert s.sql(
        "SELECT count(*) AS n FROM t WHERE lang = :l", args={"l": "x' OR '1'='1"}
    ).to_pylist() == [{"n": 0}]
    with pytest.raises(SqlSyntaxError, match="parameter :lang has no value"):
        s.sql("SELECT id FROM t WHERE lang = :lang")
    with pytest.raises(SqlSyntaxError, match="positional parameter \\? number 2"):
        s.sql("SELECT ? + ?", args=[1])
