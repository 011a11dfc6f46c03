"""The grammar of the vector index statements, in the ``lakeinfer`` SQL dialect::

    CREATE [OR REPLACE] VECTOR INDEX [IF NOT EXISTS] name ON table (column) [USING endpoint]
    DROP VECTOR INDEX [IF EXISTS] name
    REFRESH VECTOR INDEX name
    SHOW VECTOR INDEXES

Each parses into its own node; :data:`SYNTAX` is what the feature registers with the engine.
This module imports only the dialect, so registering it costs no more than sqlglot.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.generator import Generator

from lakeinfer.sql.dialect import Grammar, LakeStatement, Parser

USAGE = "CREATE [OR REPLACE] VECTOR INDEX [IF NOT EXISTS] name ON table (column) [USING endpoint]"


class CreateVectorIndex(LakeStatement):
    """``CREATE VECTOR INDEX``: ``this`` the index's name, ``table``, ``column``, ``endpoint``
    (None: the default embedding model), ``exists`` (IF NOT EXISTS), ``replace``."""

    arg_types = {
        "this": True,
        "table": True,
        "column": True,
        "endpoint": False,
        "exists": False,
        "replace": False,
    }

    def to_sql(self, generator: Generator) -> str:
        replace = " OR REPLACE" if self.args.get("replace") else ""
        exists = " IF NOT EXISTS" if self.args.get("exists") else ""
        endpoint = generator.sql(self, "endpoint")
        using = f" USING {endpoint}" if endpoint else ""
        return (
            f"CREATE{replace} VECTOR INDEX{exists} {generator.sql(self, 'this')} "
            f"ON {generator.sql(self, 'table')} ({generator.sql(self, 'column')}){using}"
        )


class DropVectorIndex(LakeStatement):
    """``DROP VECTOR INDEX [IF EXISTS] name``."""

    arg_types = {"this": True, "exists": False}

    def to_sql(self, generator: Generator) -> str:
        exists = " IF EXISTS" if self.args.get("exists") else ""
        return f"DROP VECTOR INDEX{exists} {generator.sql(self, 'this')}"


class RefreshVectorIndex(LakeStatement):
    """``REFRESH VECTOR INDEX name``."""

    arg_types = {"this": True}

    def to_sql(self, generator: Generator) -> str:
        return f"REFRESH VECTOR INDEX {generator.sql(self, 'this')}"


class ShowVectorIndexes(LakeStatement):
    """``SHOW VECTOR INDEXES``."""

    arg_types: dict[str, bool] = {}

    def to_sql(self, generator: Generator) -> str:
        return "SHOW VECTOR INDEXES"


#: The statements' node classes.
NODES = (CreateVectorIndex, DropVectorIndex, RefreshVectorIndex, ShowVectorIndexes)


def _create(parser: Parser) -> exp.Expression | None:
    replace = parser.words("OR", "REPLACE")
    if not parser.words("VECTOR", "INDEX"):
        return None
    exists = parser.words("IF", "NOT", "EXISTS")
    name = parser.name(f"expected a name: {USAGE}")
    if not parser.words("ON"):
        parser.fail(f"expected ON after the index name: {USAGE}")
    table = parser.name(f"expected a name: {USAGE}")
    if not parser.words("("):
        parser.fail(f"expected one (column) after the table name: {USAGE}")
    column = parser.identifier(f"expected one (column) after the table name: {USAGE}")
    if not parser.words(")"):
        parser.fail(f"expected one (column) after the table name: {USAGE}")
    endpoint = None
    if parser.words("USING"):
        endpoint = parser.string() or parser.identifier(
            f"expected an endpoint name after USING: {USAGE}"
        )
    parser.expect_end(f"unexpected {{found}}: {USAGE}")
    return CreateVectorIndex(
        this=name, table=table, column=column, endpoint=endpoint, exists=exists, replace=replace
    )


def _drop(parser: Parser) -> exp.Expression | None:
    if not parser.words("VECTOR", "INDEX"):
        return None
    exists = parser.words("IF", "EXISTS")
    name = parser.name("expected a name: DROP VECTOR INDEX name")
    parser.expect_end(f"unexpected {{found}} after DROP VECTOR INDEX {name.sql()}")
    return DropVectorIndex(this=name, exists=exists)


def _refresh(parser: Parser) -> exp.Expression | None:
    if not parser.words("VECTOR", "INDEX"):
        return None
    name = parser.name("expected a name: REFRESH VECTOR INDEX name")
    parser.expect_end(f"unexpected {{found}} after REFRESH VECTOR INDEX {name.sql()}")
    return RefreshVectorIndex(this=name)


def _show(parser: Parser) -> exp.Expression | None:
    if not parser.words("VECTOR", "INDEXES"):
        return None
    parser.expect_end("SHOW VECTOR INDEXES takes nothing after it; found {found}")
    return ShowVectorIndexes()


#: The statements' grammars, by first word.
SYNTAX: tuple[tuple[str, Grammar], ...] = (
    ("CREATE", _create),
    ("DROP", _drop),
    ("REFRESH", _refresh),
    ("SHOW", _show),
)
