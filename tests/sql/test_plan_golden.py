"""Golden-file tests for the SQL rewrite (table names + AI staging).

Each ``golden/*.sql`` file holds one input statement (or a line ``-- statement: PATH`` naming a
file of the package that holds it, such as the demo's seed statements), a line ``-- expect:``,
and the expected rewrite: the base query DuckDB runs, each staged AI call (endpoint and request over staged
columns), and each AI-bearing output. ``LAKEINFER_UPDATE_GOLDEN=1 pytest`` rewrites them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.catalog.delta_catalog import Namespace
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.plan import ai_calls, rewrite_tables, stage_select

GOLDEN = Path(__file__).parent / "golden"
PACKAGE = Path(lakeinfer.__file__).parent
MARKER = "-- expect:\n"
INCLUDE = "-- statement: "


def statement_of(source: str) -> str:
    """The golden file's statement: its text, or the package file it names."""
    if source.startswith(INCLUDE):
        return (PACKAGE / source[len(INCLUDE) :].strip()).read_text()
    return source


def render(sql: str) -> str:
    (statement,) = parse_statements(sql)
    tree, relations = rewrite_tables(statement, Namespace())
    lines = [f"tables: {', '.join(sorted(str(n) for n in relations.values())) or '-'}"]
    plan = stage_select(tree)
    if plan is None:
        calls = ai_calls(tree)
        lines.append(f"staged: no ({len(calls)} ai_query call(s) run as functions)")
        lines.append(f"query: {tree.sql(dialect='duckdb')}")
        return "\n".join(lines) + "\n"
    lines.append("staged: yes")
    lines.append(f"base: {plan.base.sql(dialect='duckdb')}")
    for call in plan.calls:
        c = call.call
        lines.append(
            f"call {call.index}: endpoint={c.endpoint} request={call.request.sql(dialect='duckdb')}"
            f" failOnError={c.fail_on_error} returnType={c.return_ddl} params={c.parameters}"
        )
    for out in plan.outputs:
        lines.append(
            f"output {out.placeholder} as {out.name!r}: {out.expression.sql(dialect='duckdb')}"
        )
    return "\n".join(lines) + "\n"


CASES = sorted(GOLDEN.glob("*.sql"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rewrite_matches_golden(path: Path) -> None:
    text = path.read_text()
    source, _, expected = text.partition(MARKER)
    actual = render(statement_of(source))
    if os.environ.get("LAKEINFER_UPDATE_GOLDEN"):
        path.write_text(source + MARKER + actual)
        expected = actual
    assert actual == expected


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 8
