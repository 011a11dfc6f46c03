"""The ``lakeinfer`` SQL dialect: each statement lakeinfer adds parses into its own node with named
parts, prints back as the same SQL, and a malformed one is a syntax error with a position."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

import lakeinfer
from lakeinfer import features
from lakeinfer.engine.extensions import EXTENSIONS, GROUP, Extensions
from lakeinfer.engine.statements import StatementResult
from lakeinfer.errors import AnalysisError, SqlSyntaxError, StatementSyntaxError
from lakeinfer.sql import dialect
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.syntax import INTERNAL_MARKERS
from lakeinfer.vector import syntax as vector


@pytest.fixture(autouse=True, scope="module")
def _builtins() -> None:
    """The features' grammars (CREATE VECTOR INDEX, ...) registered, as a session does."""
    features.load()


def one(sql: str) -> exp.Expression:
    (statement,) = parse_statements(sql)
    return statement


def _name(node: exp.Expression | None) -> str | None:
    if node is None:
        return None
    if isinstance(node, exp.Table):
        return ".".join(p.name for p in node.parts)
    return node.name


#: statement -> its node class and named parts (names as dotted text, flags as booleans)
PARSED = {
    "CREATE CATALOG sales": (dialect.CreateCatalog, {"this": "sales", "exists": False}),
    "create catalog if not exists `my sales`": (
        dialect.CreateCatalog,
        {"this": "my sales", "exists": True},
    ),
    "DROP CATALOG IF EXISTS sales CASCADE": (
        dialect.DropCatalog,
        {"this": "sales", "exists": True, "cascade": True},
    ),
    "DROP CATALOG sales RESTRICT": (
        dialect.DropCatalog,
        {"this": "sales", "exists": False, "cascade": False},
    ),
    "VACUUM t": (dialect.Vacuum, {"this": "t", "mode": None, "retain": None, "dry_run": False}),
    "VACUUM main.`..`.t LITE RETAIN 1.5 HOURS DRY RUN": (
        dialect.Vacuum,
        {"this": "main....t", "mode": "LITE", "retain": "1.5", "dry_run": True},
    ),
    "VACUUM c.s.t FULL": (dialect.Vacuum, {"this": "c.s.t", "mode": "FULL"}),
    "SHOW CATALOGS": (dialect.ShowCatalogs, {"like": None}),
    "SHOW CATALOGS LIKE 'ma*'": (dialect.ShowCatalogs, {"like": "ma*"}),
    "SHOW DATABASES FROM sales": (dialect.ShowSchemas, {"this": "sales", "like": None}),
    "SHOW SCHEMAS 'e*'": (dialect.ShowSchemas, {"this": None, "like": "e*"}),
    "SHOW TABLES": (dialect.ShowTables, {"this": None}),
    "SHOW TABLES IN sales.emea LIKE 'o*|p*'": (
        dialect.ShowTables,
        {"this": "sales.emea", "like": "o*|p*"},
    ),
    "SHOW TBLPROPERTIES c.s.t": (dialect.ShowTblProperties, {"this": "c.s.t"}),
    "SHOW FUNCTIONS": (dialect.ShowFunctions, {"scope": "ALL", "like": None}),
    "SHOW SYSTEM FUNCTIONS LIKE 'ai*'": (dialect.ShowFunctions, {"scope": "SYSTEM", "like": "ai*"}),
    "SET": (dialect.SetConfig, {"this": None, "expression": None}),
    "SET lakeinfer.budget_tokens": (
        dialect.SetConfig,
        {"this": "lakeinfer.budget_tokens", "expression": None},
    ),
    "SET lakeinfer.endpoints.my-llm.timeout_s = '5'": (
        dialect.SetConfig,
        {"this": "lakeinfer.endpoints.my-llm.timeout_s", "expression": "5"},
    ),
    "RESET": (dialect.ResetConfig, {"this": None}),
    "RESET lakeinfer.budget_tokens": (dialect.ResetConfig, {"this": "lakeinfer.budget_tokens"}),
    "CREATE VECTOR INDEX docs_idx ON docs (body)": (
        vector.CreateVectorIndex,
        {"this": "docs_idx", "table": "docs", "column": "body", "endpoint": None},
    ),
    "CREATE OR REPLACE VECTOR INDEX IF NOT EXISTS c.s.i ON `c`.s.`t` (`the body`) USING emb": (
        vector.CreateVectorIndex,
        {
            "this": "c.s.i",
            "table": "c.s.t",
            "column": "the body",
            "endpoint": "emb",
            "exists": True,
            "replace": True,
        },
    ),
    "DROP VECTOR INDEX IF EXISTS i": (vector.DropVectorIndex, {"this": "i", "exists": True}),
    "REFRESH VECTOR INDEX s.i": (vector.RefreshVectorIndex, {"this": "s.i"}),
    "SHOW VECTOR INDEXES": (vector.ShowVectorIndexes, {}),
}


@pytest.mark.parametrize("sql", PARSED)
def test_each_statement_parses_to_its_node_with_named_parts(sql):
    kind, parts = PARSED[sql]
    statement = one(sql)
    assert type(statement) is kind
    assert isinstance(statement, dialect.LakeStatement)
    for key, expected in parts.items():
        value = statement.args.get(key)
        if isinstance(value, exp.Expression):
            value = _name(value)
        assert (bool(value) if isinstance(expected, bool) else value) == expected, key
    assert statement.meta["line"] == 1  # where it is, for messages about it


@pytest.mark.parametrize("sql", PARSED)
def test_each_statement_prints_back_as_sql_that_parses_to_the_same_node(sql):
    statement = one(sql)
    printed = statement.sql(dialect=dialect.NAME)
    assert one(printed) == statement
    assert statement.sql(dialect="databricks") == printed  # only lakeinfer's dialect has it
    assert printed.split()[0] == sql.split()[0].upper()


def test_explain_holds_the_parsed_statement_and_prints_it_back():
    statement = one("EXPLAIN CREATE TABLE t AS SELECT a FROM u WHERE a > 1")
    assert isinstance(statement, dialect.Explain)
    assert isinstance(statement.this, exp.Create)
    assert isinstance(statement.this.expression, exp.Select)
    assert statement.sql(dialect="lakeinfer") == (
        "EXPLAIN CREATE TABLE t AS SELECT a FROM u WHERE a > 1"
    )


def test_the_dialect_is_registered_with_sqlglot_by_name():
    parsed = sqlglot.parse_one("VACUUM t RETAIN 200 HOURS", read="lakeinfer")
    assert isinstance(parsed, dialect.Vacuum)
    assert parsed.args["retain"].name == "200"


def test_words_of_statements_stay_names_elsewhere():
    statement = one("SELECT vacuum, explain, reset FROM show")
    assert isinstance(statement, exp.Select)
    assert [c.name for c in statement.expressions] == ["vacuum", "explain", "reset"]


def test_set_keeps_the_key_and_value_as_written_and_no_comment():
    statement = one("SET spark.databricks.delta.retentionDurationCheck.enabled = false -- off")
    assert isinstance(statement, dialect.SetConfig)
    assert statement.setting == "spark.databricks.delta.retentionDurationCheck.enabled"
    assert statement.value == "false"


def test_a_show_nothing_models_stays_text():
    statement = one("SHOW GRANTS ON TABLE t")
    assert isinstance(statement, exp.Command)
    assert statement.this == "SHOW"


#: malformed statement -> (what the message says, line, column)
MALFORMED = {
    "VACUUM": ("VACUUM takes a table name", 1, 7),
    "VACUUM t RETAIN x HOURS": ("VACUUM t: RETAIN takes a number of hours, got 'x'", 1, 17),
    "VACUUM t RETAIN 1 DAYS": ("got RETAIN 1 DAYS", 1, 19),
    "VACUUM t FULL NOW": ("unexpected 'NOW'", 1, 15),
    "VACUUM a.b.c.d": ("a name has at most three parts", 1, 13),
    "VACUUM a.": ("expected a name after '.'", 1, 9),
    "CREATE CATALOG": ("CREATE CATALOG takes a name, but the statement ends here", 1, 15),
    "CREATE CATALOG a.b": ("CREATE CATALOG takes one name, found '.' after it", 1, 17),
    "DROP CATALOG a b": ("DROP CATALOG takes one name, then CASCADE or RESTRICT; found 'b'", 1, 16),
    "SHOW TABLES IN": ("SHOW TABLES IN takes a schema name", 1, 15),
    "SHOW TABLES IN s x": ("unexpected 'x' in SHOW TABLES", 1, 18),
    "SHOW FUNCTIONS LIKE": ("SHOW FUNCTIONS LIKE takes a quoted pattern", 1, 20),
    "SHOW FUNCTIONS LIKE 'a*' 'b*'": ("SHOW FUNCTIONS takes one quoted pattern", 1, 26),
    "SHOW TBLPROPERTIES": ("SHOW TBLPROPERTIES takes a table name", 1, 19),
    "EXPLAIN": ("EXPLAIN takes one statement", 1, 8),
    "CREATE VECTOR INDEX i docs (body)": ("expected ON after the index name", 1, 23),
    "CREATE VECTOR INDEX i ON docs body": ("expected one (column) after the table name", 1, 31),
    "CREATE VECTOR INDEX i ON docs (a, b)": ("expected one (column) after the table name", 1, 33),
    "CREATE VECTOR INDEX i ON docs (body) USING": ("expected an endpoint name after USING", 1, 43),
    "CREATE VECTOR INDEX i ON docs (body) USING e x": ("unexpected 'x'", 1, 46),
    "DROP VECTOR INDEX": ("expected a name: DROP VECTOR INDEX name", 1, 18),
    "REFRESH VECTOR INDEX i j": ("unexpected 'j' after REFRESH VECTOR INDEX i", 1, 24),
    "SHOW VECTOR INDEXES now": ("SHOW VECTOR INDEXES takes nothing after it", 1, 21),
    # the position is in the whole text, not in the statement
    "SELECT 1;\n  VACUUM t DRY": ("unexpected 'DRY'", 2, 12),
}


@pytest.mark.parametrize("sql", MALFORMED)
def test_malformed_statements_are_syntax_errors_at_the_token_at_fault(sql):
    problem, line, column = MALFORMED[sql]
    with pytest.raises(StatementSyntaxError) as caught:
        parse_statements(sql)
    error = caught.value
    assert problem in error.problem
    assert (error.line, error.column) == (line, column), str(error)
    assert "^" in (error.snippet or "")
    assert not any(marker in str(error) for marker in INTERNAL_MARKERS)
    assert isinstance(error, AnalysisError)  # as these statements' mistakes always were


def test_an_error_inside_explain_points_into_the_explained_statement():
    with pytest.raises(SqlSyntaxError) as caught:
        parse_statements("EXPLAIN SELECT a, FROM t")
    assert (caught.value.line, caught.value.column) == (1, 19)
    assert "expected an expression after ','" in caught.value.problem
    with pytest.raises(SqlSyntaxError, match="unknown type 'STRNG'; did you mean STRING"):
        parse_statements("EXPLAIN CREATE TABLE t (a STRNG)")


def test_show_patterns_select_catalogs_schemas_and_tables(session):
    session.sql(
        "CREATE CATALOG sales; CREATE SCHEMA sales.emea; CREATE SCHEMA sales.apac; "
        "CREATE TABLE sales.emea.orders (id INT); CREATE TABLE sales.emea.parts (id INT); "
        "CREATE TABLE sales.emea.stock (id INT)"
    )

    def show(sql: str, column: str) -> list[str]:
        return [r[column] for r in session.sql(sql).to_pylist()]

    assert show("SHOW CATALOGS LIKE 'sal*'", "catalog") == ["sales"]
    assert show("SHOW SCHEMAS IN sales LIKE 'e*'", "databaseName") == ["emea"]
    assert show("SHOW TABLES IN sales.emea LIKE 'o*|P*'", "tableName") == ["orders", "parts"]
    assert show("SHOW TABLES IN sales.emea", "tableName") == ["orders", "parts", "stock"]
    with pytest.raises(AnalysisError, match="invalid schema name 'a.b.c'"):
        session.sql("SHOW TABLES IN a.b.c")


def test_a_malformed_statement_stops_the_text_before_anything_runs(session):
    with pytest.raises(StatementSyntaxError, match="line 2, column 17"):
        session.sql("CREATE TABLE t (id INT);\nCREATE CATALOG a.b")
    assert session.sql("SHOW TABLES").to_pylist() == []


class CountWords(dialect.LakeStatement):
    """``COUNT WORDS 'text'``, a statement of a package outside lakeinfer."""

    arg_types = {"this": True}

    def to_sql(self, generator) -> str:
        return f"COUNT WORDS {generator.sql(self, 'this')}"


def _count_words(parser: dialect.Parser) -> exp.Expression | None:
    if not parser.words("WORDS"):
        return None
    text = parser.string()
    if text is None:
        parser.fail("COUNT WORDS takes a quoted text")
    parser.expect_end("COUNT WORDS takes one quoted text; found {found}")
    return CountWords(this=text)


def _run_count_words(executor, statement: exp.Expression, ai) -> StatementResult:
    words = len(statement.this.name.split())
    return StatementResult(pa.table({"words": [words]}), is_query=True)


def register_count_words(extensions: Extensions) -> None:
    """The package's entry point in the ``lakeinfer.extensions`` group."""
    extensions.add_statement(
        "count words", CountWords, _run_count_words, syntax=[("COUNT", _count_words)]
    )


@pytest.fixture
def count_words() -> Iterator[None]:
    register_count_words(EXTENSIONS)
    yield
    EXTENSIONS.remove("count words")


def test_a_package_adds_a_statement_with_its_grammar_and_node_class(home, count_words):
    assert isinstance(one("count words 'a b c'"), CountWords)
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        assert session.sql("COUNT WORDS 'lakes hold data'").to_pylist() == [{"words": 3}]
        with pytest.raises(StatementSyntaxError, match="COUNT WORDS takes a quoted text") as e:
            session.sql("SELECT 1; COUNT WORDS 42")
    assert (e.value.line, e.value.column) == (1, 23)


def test_a_removed_statement_is_unknown_again(home, count_words):
    EXTENSIONS.remove("count words")
    with pytest.raises(SqlSyntaxError, match="unknown statement 'COUNT'"):
        parse_statements("COUNT WORDS 'a'")


def test_an_installed_package_statement_is_read_on_first_use(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    dist = tmp_path / "site" / "count_words-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: count-words\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{GROUP}]\ncount = tests.sql.test_dialect:register_count_words\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    try:
        with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
            assert session.sql("COUNT WORDS 'a b'").to_pylist() == [{"words": 2}]
    finally:
        EXTENSIONS.remove("count words")
