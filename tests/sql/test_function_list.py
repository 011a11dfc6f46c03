"""Every function in the supported list runs with its documented result, the docs list exactly
these names, and SHOW FUNCTIONS answers from the list."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.function_list import names
from tests.sql.function_examples import SUPPORTED

DOCS = Path(__file__).resolve().parents[2] / "docs" / "functions.md"


def _same(got: object, expected: object) -> bool:
    if isinstance(got, float) and isinstance(expected, float):
        return math.isclose(got, expected)
    return got == expected


def test_every_listed_function_gives_its_databricks_result(session):
    failures = []
    for entry in SUPPORTED:
        try:
            got = session.sql(entry.query).to_arrow().column(0).to_pylist()
        except Exception as exc:  # report every failure at once
            failures.append(f"{entry.name}: {entry.query}: {exc}")
            continue
        expected = entry.expected
        if entry.unordered:
            got, expected = sorted(got), sorted(expected)
        if len(got) != len(expected) or not all(map(_same, got, expected)):
            failures.append(f"{entry.name}: {entry.query}: got {got}, expected {expected}")
    assert failures == []


def test_every_supported_function_has_an_example():
    assert sorted({entry.name for entry in SUPPORTED}) == names()


def test_docs_list_exactly_the_supported_functions():
    cells = re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(), flags=re.M)
    listed = {cell.replace("\\|", "|") for cell in cells}
    assert listed == set(names())


def test_show_functions(session):
    def show(sql: str) -> list[str]:
        return [r["function"] for r in session.sql(sql).to_pylist()]

    assert show("SHOW FUNCTIONS") == names()
    ai_functions = show("SHOW FUNCTIONS LIKE 'ai*'")
    assert ai_functions == [n for n in names() if n.startswith("ai")]
    assert {
        "ai_query",
        "ai_filter",
        "ai_agg",
        "ai_summarize",
        "ai_classify",
        "ai_similarity",
    } <= set(ai_functions)
    assert show("SHOW SYSTEM FUNCTIONS 'TO_*|from_*'") == ["from_json", "to_date", "to_json"]
    assert show("SHOW USER FUNCTIONS") == []
    with pytest.raises(AnalysisError, match="one quoted pattern"):
        session.sql("SHOW FUNCTIONS LIKE 'a*' 'b*'")
