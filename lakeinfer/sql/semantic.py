"""Semantic operators beyond Databricks, as rewrites onto ``ai_query``.

- ``ai_filter(content, condition [, endpoint])`` is a BOOLEAN: the model is asked whether the
  text satisfies the condition and its yes/no answer is read back (``__li_yes_no``). It becomes
  one ``ai_query`` call, so each distinct (content, condition) costs one request per statement
  and the response cache, budget and history apply. Where the endpoint takes OpenAI's
  ``response_format`` (HTTP and the embedded llama.cpp model) the answer is constrained to
  ``{"answer": "yes" | "no"}``. An answer with neither word is NULL (the row is not kept by
  WHERE); NULL content is NULL.
- ``ai_embed(content [, endpoint])`` is ``ai_query(endpoint, content)`` on an embeddings
  endpoint: ARRAY<FLOAT>, NULL for NULL.

Without an endpoint argument ``ai_filter`` uses the task endpoint (``lakeinfer.task_endpoint``
where that setting exists, else the embedded chat model) and ``ai_embed`` the embedded
all-MiniLM-L6-v2 (``databricks-gte-large-en`` without a workspace).
"""

from __future__ import annotations

import json
import re
from typing import Protocol

import duckdb
from sqlglot import exp, parse_one

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind
from lakeinfer.sql.parse import position_of

#: chat endpoint of the operators when none is named (the embedded SmolLM2 without a workspace)
DEFAULT_CHAT_ENDPOINT = "databricks-meta-llama-3-3-70b-instruct"
#: embeddings endpoint of ai_embed when none is named (the embedded all-MiniLM-L6-v2)
DEFAULT_EMBED_ENDPOINT = "databricks-gte-large-en"
YES_NO = "__li_yes_no"
#: the first of these words in an answer decides ai_filter (SQL macro and Python alike)
YES_NO_PATTERN = r"\b(yes|no|true|false)\b"
YES_NO_VALUES = {"yes": True, "true": True, "no": False, "false": False}
FILTER_MAX_TOKENS = 32  # room for {"answer": "yes"} with the whitespace models add
FILTER_PROMPT = (
    "Decide whether the text satisfies the condition. Answer with one word: yes or no.\n"
    "Condition: {condition}\nText: {content}"
)
FILTER_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "filter",
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
            "required": ["answer"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


class EndpointInfo(Protocol):
    """What the rewrite needs to know about endpoints (an ``AiEvaluator`` provides it)."""

    def task_of(self, endpoint: str) -> str | None: ...

    def takes_response_format(self, endpoint: str) -> bool: ...

    def task_endpoint(self) -> str: ...


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Install ``__li_yes_no(answer)`` on ``con``: TRUE / FALSE from the first yes, no, true
    or false word of a model's answer (plain text or ``{"answer": ...}``), else NULL."""
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO {YES_NO}(a) AS "
        f"CASE regexp_extract(lower(a), '{YES_NO_PATTERN}', 1) "
        "WHEN 'yes' THEN TRUE WHEN 'true' THEN TRUE WHEN 'no' THEN FALSE "
        "WHEN 'false' THEN FALSE ELSE NULL END"
    )


def yes_no(answer: str | None) -> bool | None:
    """``__li_yes_no`` in Python: TRUE / FALSE from the first yes, no, true or false word of
    ``answer``, else None (used where the SQL macro cannot run, e.g. on Spark)."""
    if answer is None:
        return None
    found = re.search(YES_NO_PATTERN, answer.lower())
    return None if found is None else YES_NO_VALUES[found.group(1)]


def filter_prompt(content: str, condition: str) -> str:
    """The request ``ai_filter`` sends for one row (the text its SQL concat builds)."""
    return FILTER_PROMPT.format(condition=condition, content=content)


def is_operator(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() == name


def rewrite(tree: exp.Expression, endpoints: EndpointInfo) -> exp.Expression:
    """``tree`` with every ``ai_filter`` and ``ai_embed`` replaced by its ``ai_query`` form
    (in place; innermost first, so an operator's argument may hold another)."""
    for node in reversed(list(tree.find_all(exp.Anonymous))):
        if is_operator(node, "ai_filter"):
            replacement = _filter(node, endpoints)
        elif is_operator(node, "ai_embed"):
            replacement = _embed(node, endpoints)
        else:
            continue
        if node is tree:
            return replacement
        node.replace(replacement)
    return tree


#: the optional last parameter of the operators (a string literal; default: see above)
ENDPOINT = Parameter("endpoint", Kind.STRING)
CONTENT = Parameter("content", required=True)
FILTER = Signature("ai_filter", (CONTENT, Parameter("condition", required=True), ENDPOINT))
EMBED = Signature("ai_embed", (CONTENT, ENDPOINT))


def _filter(node: exp.Anonymous, endpoints: EndpointInfo) -> exp.Expression:
    args = bind(node, FILTER)
    endpoint = args["endpoint"] if "endpoint" in args else endpoints.task_endpoint()
    if endpoints.task_of(endpoint) not in ("chat", None):
        raise AnalysisError(
            f"ai_filter{position_of(node)}: endpoint {endpoint!r} is not a chat endpoint"
        )
    head, middle = FILTER_PROMPT.split("{condition}")
    middle, tail = middle.split("{content}")
    prompt = exp.Concat(
        expressions=[
            exp.Literal.string(head),
            exp.cast(args["condition"].copy(), "STRING"),
            exp.Literal.string(middle),
            exp.cast(args["content"].copy(), "STRING"),
            exp.Literal.string(tail),
        ],
        safe=False,
    )
    options = f"named_struct('max_tokens', {FILTER_MAX_TOKENS})"
    if endpoints.takes_response_format(endpoint):
        options += f", responseFormat => '{json.dumps(FILTER_FORMAT)}'"
    call = parse_one(
        f"ai_query('{endpoint}', __li_prompt, modelParameters => {options})", read="databricks"
    )
    call.expressions[1].replace(prompt)
    call.meta.update(node.meta)  # errors point at the ai_filter call
    return exp.Anonymous(this=YES_NO, expressions=[call])


def _embed(node: exp.Anonymous, endpoints: EndpointInfo) -> exp.Expression:
    args = bind(node, EMBED)
    endpoint = args.get("endpoint", DEFAULT_EMBED_ENDPOINT)
    if endpoints.task_of(endpoint) not in ("embeddings", None):
        raise AnalysisError(
            f"ai_embed{position_of(node)}: endpoint {endpoint!r} does not serve embeddings "
            '(configure one with task = "embeddings")'
        )
    call = exp.Anonymous(
        this="ai_query",
        expressions=[exp.Literal.string(endpoint), exp.cast(args["content"].copy(), "STRING")],
    )
    call.meta.update(node.meta)
    return call
