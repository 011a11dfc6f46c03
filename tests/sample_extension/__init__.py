"""A small extension package, as a third party would write one: a provider that answers in
capitals, a table function ``split_words(text)`` with one row per word, and a statement
``REFRESH WORD COUNTS 'text'`` answering the number of words."""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from lakeinfer.endpoints.base import Capabilities, Outcome, Provider
from lakeinfer.endpoints.providers import ProviderKind
from lakeinfer.engine.extensions import Extensions, command_words
from lakeinfer.engine.statements import StatementResult
from lakeinfer.engine.table_functions import bind
from lakeinfer.errors import AnalysisError


class Shouter(Provider):
    """Answers each chat prompt in capitals, followed by the endpoint's ``suffix`` option."""

    def __init__(self, name, config):
        self.name = name
        self.suffix = config.options.get("suffix", "")
        self.capabilities = Capabilities(task="chat", max_batch=8)

    async def infer(self, batch):
        return [Outcome(value=str(r.payload).upper() + self.suffix) for r in batch]


def create(name, config) -> Provider:
    return Shouter(name, config)


#: the provider, as registered through the table's API (chat only, no required fields)
SHOUTER = ProviderKind("shouter", ("chat",), (), create)


def split_words(runner, node: exp.Expression, namespace, ai) -> pa.Table:
    """``split_words(text [, min_length])``: one row (pos, word) per word of ``text``."""
    args = bind("split_words", node, ("text", "min_length"), ("text",))
    values = [
        runner.con.sql(f"SELECT {a.sql(dialect='duckdb')}").fetchall()[0][0] for a in args.values()
    ]
    text, min_length = values[0], values[1] if len(values) > 1 else 0
    if not isinstance(text, str):
        raise AnalysisError("split_words: text must be a string")
    words = [w for w in text.split() if len(w) >= min_length]
    return pa.table({"pos": list(range(1, len(words) + 1)), "word": words})


def is_word_counts(statement: exp.Expression) -> bool:
    words = (
        [w.upper() for w in command_words(statement)[:3]]
        if isinstance(statement, exp.Command)
        else []
    )
    return words == ["REFRESH", "WORD", "COUNTS"]


def word_counts(executor, statement: exp.Expression, ai) -> StatementResult:
    text = command_words(statement)[3].strip("'")
    return StatementResult(pa.table({"words": [len(text.split())]}), is_query=True)


def register(extensions: Extensions) -> None:
    """The entry point of the ``lakeinfer.extensions`` group."""
    extensions.add_table_function("split_words", split_words)
    extensions.add_statement("word counts", is_word_counts, word_counts)
