"""Structured answers of the embedded model end within their bound: the documented examples of
ai_mask, ai_extract and ai_classify asked for JSON (the path that once looped to the server's
token limit, twice), and an ai_query with a ``json_object`` responseFormat, each generate at most
their derived ``max_tokens`` per call, in at most two calls. Asserted on tokens generated, not
on time (the machine may be busy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlglot import exp

import lakeinfer
from lakeinfer.engine.structured_output import bounded_parameters
from lakeinfer.runtime.answer_bounds import QUERY_FLOOR_TOKENS
from lakeinfer.session import Session
from lakeinfer.sql.functions import bind_ai_query
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.task_functions import PARAMETERS, normalize

NAME = "databricks-meta-llama-3-3-70b-instruct"
#: the examples of docs/ai_functions.md, with the text each is asked about
TASKS = [
    ("ai_mask('John Doe lives in New York', ARRAY('person'))", "John Doe lives in New York"),
    (
        "ai_extract('John Smith called from Chicago about his order.', "
        "ARRAY('person', 'location'))",
        "John Smith called from Chicago about his order.",
    ),
    (
        "ai_classify('I was charged twice for my subscription this month.', "
        "ARRAY('billing', 'technical issue', 'shipping', 'account access'))",
        "I was charged twice for my subscription this month.",
    ),
]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = Path(tmp_path_factory.mktemp("bounds")) / "lakehouse"
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        yield session


def _bound(call_sql: str, content: str) -> int:
    """The max_tokens the task function's JSON request for ``content`` is sent with."""
    tree = parse_statements(f"SELECT {call_sql}")[0]
    normalize(tree)
    node = next(n for n in tree.find_all(exp.Anonymous) if str(n.this).lower() in PARAMETERS)
    call = bind_ai_query(node)
    return int(bounded_parameters(call.parameters, content, task=True)["max_tokens"])


@pytest.mark.parametrize(("call", "content"), TASKS, ids=[c[3:10] for c, _ in TASKS])
def test_json_task_answers_stay_within_their_bound(embedded, call, content):
    embedded.sql("SET lakeinfer.task_scoring = false")
    try:
        row = embedded.sql(f"SELECT {call} AS r").to_pylist()[0]["r"]
    finally:
        embedded.sql("SET lakeinfer.task_scoring = true")
    stats = embedded.last_stats.ai
    bound = _bound(call, content)
    assert bound < 120
    assert row is not None
    assert stats.calls <= 2 and stats.completion_tokens <= stats.calls * bound


def test_a_json_object_query_stays_within_its_bound(embedded):
    row = embedded.sql(
        f"SELECT ai_query('{NAME}', 'John Doe lives in New York. List the people.', "
        'responseFormat => \'{"type": "json_object"}\', failOnError => false) AS r'
    ).to_pylist()[0]["r"]
    stats = embedded.last_stats.ai
    assert stats.calls <= 2
    assert stats.completion_tokens <= stats.calls * QUERY_FLOOR_TOKENS
    if row["errorMessage"] is not None:  # a loop: cut at its bound, named
        assert f"reached max_tokens={QUERY_FLOOR_TOKENS}" in row["errorMessage"]
        assert "named_struct('max_tokens'" in row["errorMessage"]
    else:
        assert row["result"].lstrip().startswith("{")
