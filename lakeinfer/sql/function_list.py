"""The Databricks functions lakeinfer runs with Databricks semantics.

The test suite runs a checked example of each (``tests/sql/function_examples.py``),
``docs/functions.md`` lists the same names, and ``SHOW FUNCTIONS [LIKE 'pat']`` answers from
this list. A function that is not listed may still work (DuckDB understands many
names), but its semantics have not been checked against Databricks.
"""

from __future__ import annotations

import fnmatch

import pyarrow as pa

#: Every supported name, sorted as ``SHOW FUNCTIONS`` lists them.
NAMES: tuple[str, ...] = (
    "%",
    "/",
    ":",
    "::",
    "[]",
    "abs",
    "add_months",
    "aggregate",
    "ai_agg",
    "ai_analyze_sentiment",
    "ai_classify",
    "ai_embed",
    "ai_extract",
    "ai_filter",
    "ai_fix_grammar",
    "ai_forecast",
    "ai_gen",
    "ai_mask",
    "ai_query",
    "ai_similarity",
    "ai_summarize",
    "ai_translate",
    "array",
    "array_agg",
    "array_append",
    "array_compact",
    "array_contains",
    "array_join",
    "array_max",
    "array_min",
    "array_position",
    "array_remove",
    "array_size",
    "array_sort",
    "ascii",
    "avg",
    "base64",
    "cardinality",
    "case",
    "cast",
    "ceil",
    "char_length",
    "character_length",
    "chr",
    "coalesce",
    "collect_list",
    "concat",
    "concat_ws",
    "contains",
    "count",
    "count_if",
    "current_date",
    "current_timestamp",
    "date_add",
    "date_format",
    "date_sub",
    "date_trunc",
    "datediff",
    "day",
    "dayofmonth",
    "dayofweek",
    "dense_rank",
    "div",
    "element_at",
    "endswith",
    "exp",
    "explode",
    "explode_outer",
    "filter",
    "first",
    "flatten",
    "floor",
    "format_string",
    "from_json",
    "get_json_object",
    "greatest",
    "hour",
    "if",
    "iff",
    "ifnull",
    "ilike",
    "initcap",
    "instr",
    "lag",
    "last_day",
    "lcase",
    "lead",
    "least",
    "left",
    "length",
    "like",
    "ln",
    "locate",
    "log10",
    "lower",
    "lpad",
    "ltrim",
    "make_date",
    "map",
    "map_from_arrays",
    "map_keys",
    "map_values",
    "max",
    "max_by",
    "md5",
    "median",
    "min",
    "min_by",
    "minute",
    "mod",
    "month",
    "named_struct",
    "now",
    "nullif",
    "nvl",
    "nvl2",
    "posexplode",
    "pow",
    "power",
    "printf",
    "range",
    "rank",
    "regexp_extract",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rlike",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "schema_of_json",
    "second",
    "sequence",
    "sha2",
    "sign",
    "signum",
    "size",
    "slice",
    "sort_array",
    "split",
    "split_part",
    "sqrt",
    "startswith",
    "stddev",
    "string_agg",
    "struct",
    "substr",
    "substring",
    "sum",
    "to_date",
    "to_json",
    "transform",
    "trim",
    "try_cast",
    "ucase",
    "upper",
    "year",
    "||",
)


def names() -> list[str]:
    """Every supported name, sorted as ``SHOW FUNCTIONS`` lists them."""
    return list(NAMES)


def show_functions(
    scope: str = "ALL", pattern: str | None = None, user: list[str] | None = None
) -> pa.Table:
    """``SHOW [USER | SYSTEM | ALL] FUNCTIONS [[LIKE] 'pattern']``: ``user`` are the SQL
    functions created with ``CREATE FUNCTION`` (listed before the built-in ones)."""
    scope = scope.upper()
    listed = [] if scope == "SYSTEM" else list(user or [])
    if scope != "USER":
        listed += names()
    return pa.table({"function": pa.array(matching(listed, pattern), pa.string())})


def matching(listed: list[str], pattern: str | None) -> list[str]:
    """The names of ``listed`` that a ``SHOW ... LIKE`` pattern selects (all when None), as
    Databricks matches them: ``*`` stands for any characters, ``|`` separates alternatives,
    case is ignored. A qualified name (a stored function's) matches by its last part too."""
    if pattern is None:
        return listed
    alternatives = [p.strip().lower() for p in pattern.split("|")]
    return [
        n
        for n in listed
        if any(
            fnmatch.fnmatchcase(n.lower(), p)
            or fnmatch.fnmatchcase(n.rsplit(".", 1)[-1].lower(), p)
            for p in alternatives
        )
    ]
