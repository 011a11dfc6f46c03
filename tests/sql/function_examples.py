"""A checked example of each supported function: its query runs through ``Session.sql`` and
must return ``expected`` (the first column's values, in order; ``unordered`` entries are
compared as sorted lists)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Supported:
    """One supported function: its name, its group in the docs, and a checked example."""

    name: str
    group: str
    query: str
    expected: list[Any]
    unordered: bool = False


def _f(name: str, group: str, expression: str, *expected: Any, source: str = "") -> Supported:
    return Supported(name, group, f"SELECT {expression} AS v {source}".strip(), list(expected))


_T = "FROM VALUES (1, 'a'), (2, 'b'), (NULL, 'c'), (2, 'd') AS t(x, s)"
_TO = _T + " ORDER BY s"
_A = "FROM VALUES ('a'), (NULL) AS t(s)"
_TS = "TIMESTAMP '2024-05-06 07:08:09'"

SUPPORTED: tuple[Supported, ...] = (
    # AI
    _f("ai_query", "AI", "ai_query('chat', 'hi')", "echo: hi"),
    # task functions: NULL in gives NULL out without a model call (docs/ai_functions.md)
    _f("ai_analyze_sentiment", "AI", "ai_analyze_sentiment(CAST(NULL AS STRING))", None),
    _f("ai_classify", "AI", "ai_classify(CAST(NULL AS STRING), ARRAY('a', 'b'))", None),
    _f("ai_extract", "AI", "ai_extract(CAST(NULL AS STRING), ARRAY('person'))", None),
    _f("ai_fix_grammar", "AI", "ai_fix_grammar(CAST(NULL AS STRING))", None),
    _f("ai_gen", "AI", "ai_gen(CAST(NULL AS STRING))", None),
    _f("ai_mask", "AI", "ai_mask(CAST(NULL AS STRING), ARRAY('email'))", None),
    _f("ai_similarity", "AI", "ai_similarity('Apache Spark', 'Apache Spark')", 1.0),
    _f("ai_summarize", "AI", "ai_summarize(CAST(NULL AS STRING), 20)", None),
    _f("ai_translate", "AI", "ai_translate(CAST(NULL AS STRING), 'de')", None),
    # JSON
    _f("from_json", "JSON", "from_json('{\"a\": 1}', 'a INT, b STRING')", {"a": 1, "b": None}),
    _f("to_json", "JSON", "to_json(named_struct('a', 1, 'b', NULL))", '{"a":1}'),
    _f("schema_of_json", "JSON", "schema_of_json('[{\"a\": 1.5}]')", "ARRAY<STRUCT<a: DOUBLE>>"),
    _f("get_json_object", "JSON", 'get_json_object(\'{"a": {"b": "x"}}\', \'$.a.b\')', "x"),
    _f(":", "JSON", '\'{"a": [{"b": 7}]}\':a[0].b::int', 7),
    # strings
    _f("concat", "string", "concat('a', 'b', NULL)", None),
    _f("||", "string", "'a' || 'b'", "ab"),
    _f("concat_ws", "string", "concat_ws(' ', 'Spark', NULL, 'SQL')", "Spark SQL"),
    _f("lower", "string", "lower('AbC')", "abc"),
    _f("lcase", "string", "lcase('AbC')", "abc"),
    _f("upper", "string", "upper('abc')", "ABC"),
    _f("ucase", "string", "ucase('abc')", "ABC"),
    _f("initcap", "string", "initcap('hello wORLD')", "Hello World"),
    _f("length", "string", "length('héllo')", 5),
    _f("char_length", "string", "char_length('héllo')", 5),
    _f("character_length", "string", "character_length('héllo')", 5),
    _f("trim", "string", "trim('  a  ')", "a"),
    _f("ltrim", "string", "ltrim('  a ')", "a "),
    _f("rtrim", "string", "rtrim(' a  ')", " a"),
    _f("substring", "string", "substring('Spark SQL', 5)", "k SQL"),
    _f("substr", "string", "substr('Spark SQL', -3, 2)", "SQ"),
    _f("left", "string", "left('Spark', 2)", "Sp"),
    _f("right", "string", "right('Spark', 2)", "rk"),
    _f("replace", "string", "replace('ABCabc', 'abc', 'DEF')", "ABCDEF"),
    _f("split", "string", "split('oneAtwoBthreeC', '[ABC]')", ["one", "two", "three", ""]),
    _f("split_part", "string", "split_part('a,b,c', ',', 2)", "b"),
    _f("regexp_replace", "string", "regexp_replace('100-200', '(\\\\d+)', 'num')", "num-num"),
    _f("regexp_extract", "string", "regexp_extract('100-200', '(\\\\d+)-(\\\\d+)', 2)", "200"),
    _f("rlike", "string", "'abc' RLIKE '^a'", True),
    _f("like", "string", "'abc' LIKE 'a%'", True),
    _f("ilike", "string", "'ABC' ILIKE 'a%'", True),
    _f("instr", "string", "instr('SparkSQL', 'SQL')", 6),
    _f("locate", "string", "locate('bar', 'foobarbar')", 4),
    _f("lpad", "string", "lpad('hi', 5, '??')", "???hi"),
    _f("rpad", "string", "rpad('hi', 5, '??')", "hi???"),
    _f("reverse", "string", "reverse('abc')", "cba"),
    _f("repeat", "string", "repeat('ab', 2)", "abab"),
    _f("startswith", "string", "startswith('Spark', 'Sp')", True),
    _f("endswith", "string", "endswith('Spark', 'rk')", True),
    _f("contains", "string", "contains('Spark', 'par')", True),
    _f("format_string", "string", "format_string('%s has %d', 'Ada', 3)", "Ada has 3"),
    _f("printf", "string", "printf('%s has %d', 'Ada', 3)", "Ada has 3"),
    _f("ascii", "string", "ascii('2')", 50),
    _f("chr", "string", "chr(65)", "A"),
    _f("md5", "string", "md5('Spark')", "8cde774d6f7333752ed72cacddb05126"),
    _f(
        "sha2",
        "string",
        "sha2('Spark', 256)",
        "529bc3b07127ecb7e53a4dcf1991d9152c24537d919178022b2c42657f79a26b",
    ),
    _f("base64", "string", "base64('Spark SQL')", "U3BhcmsgU1FM"),
    # numbers
    _f("abs", "math", "abs(-1)", 1),
    _f("round", "math", "round(2.5)", 3),
    _f("ceil", "math", "ceil(-0.1)", 0),
    _f("floor", "math", "floor(-0.1)", -1),
    _f("sqrt", "math", "sqrt(4)", 2.0),
    _f("pow", "math", "pow(2, 3)", 8.0),
    _f("power", "math", "power(2, 3)", 8.0),
    _f("exp", "math", "exp(0)", 1.0),
    _f("ln", "math", "ln(1)", 0.0),
    _f("log10", "math", "log10(100)", 2.0),
    _f("mod", "math", "mod(7, 3)", 1),
    _f("%", "math", "7 % 3", 1),
    _f("/", "math", "7 / 2", 3.5),
    _f("div", "math", "7 div 2", 3),
    _f("greatest", "math", "greatest(1, 3, 2)", 3),
    _f("least", "math", "least(1, 3, 2)", 1),
    _f("sign", "math", "sign(-5)", -1),
    _f("signum", "math", "signum(-5)", -1),
    # conditionals and casts
    _f("coalesce", "conditional", "coalesce(NULL, 1)", 1),
    _f("nullif", "conditional", "nullif(1, 1)", None),
    _f("if", "conditional", "if(1 > 0, 'y', 'n')", "y"),
    _f("iff", "conditional", "iff(false, 'y', 'n')", "n"),
    _f("ifnull", "conditional", "ifnull(NULL, 2)", 2),
    _f("nvl", "conditional", "nvl(NULL, 3)", 3),
    _f("nvl2", "conditional", "nvl2(NULL, 1, 2)", 2),
    _f("case", "conditional", "CASE WHEN 1 = 2 THEN 'a' ELSE 'b' END", "b"),
    _f("cast", "conditional", "cast('12' AS INT)", 12),
    _f("::", "conditional", "'12'::bigint", 12),
    _f("try_cast", "conditional", "try_cast('x' AS INT)", None),
    # arrays, maps, structs
    _f("array", "collection", "array(1, 2)", [1, 2]),
    _f("size", "collection", "size(array(1, 2))", 2),
    _f("cardinality", "collection", "cardinality(array(1, 2))", 2),
    _f("array_size", "collection", "array_size(array(1, 2))", 2),
    _f("array_contains", "collection", "array_contains(array(1, 2), 2)", True),
    _f("sort_array", "collection", "sort_array(array(3, 1, 2), false)", [3, 2, 1]),
    _f("array_sort", "collection", "array_sort(array(2, 1))", [1, 2]),
    _f("element_at", "collection", "element_at(array(1, 2, 3), -1)", 3),
    _f("array_join", "collection", "array_join(array('a', 'b'), ',')", "a,b"),
    _f("flatten", "collection", "flatten(array(array(1), array(2, 3)))", [1, 2, 3]),
    _f("slice", "collection", "slice(array(1, 2, 3, 4), 2, 2)", [2, 3]),
    _f("array_max", "collection", "array_max(array(1, 3))", 3),
    _f("array_min", "collection", "array_min(array(1, 3))", 1),
    _f("array_position", "collection", "array_position(array(3, 2, 1), 1)", 3),
    _f("array_remove", "collection", "array_remove(array(1, 2, 1), 1)", [2]),
    _f("array_append", "collection", "array_append(array(1), 2)", [1, 2]),
    _f("array_compact", "collection", "array_compact(array(1, NULL))", [1]),
    _f("sequence", "collection", "sequence(1, 5, 2)", [1, 3, 5]),
    _f("[]", "collection", "array(10, 20)[1]", 20),
    _f("map", "collection", "map('a', 1)['a']", 1),
    _f("map_keys", "collection", "map_keys(map('a', 1))", ["a"]),
    _f("map_values", "collection", "map_values(map('a', 1))", [1]),
    _f("map_from_arrays", "collection", "map_from_arrays(array('a'), array(1))['a']", 1),
    _f("named_struct", "collection", "named_struct('a', 1, 'b', 'x')", {"a": 1, "b": "x"}),
    _f("struct", "collection", "struct(1 AS a, 'x' AS b).b", "x"),
    _f("transform", "collection", "transform(array(1, 2), x -> x + 1)", [2, 3]),
    _f("filter", "collection", "filter(array(1, 2, 3), x -> x % 2 = 1)", [1, 3]),
    _f("aggregate", "collection", "aggregate(array(1, 2, 3), 0, (acc, x) -> acc + x)", 6),
    # generators
    _f("explode", "generator", "explode(array(1, 2))", 1, 2),
    Supported(
        "posexplode",
        "generator",
        "SELECT pos AS v FROM (SELECT posexplode(array('a', 'b')))",
        [0, 1],
    ),
    _f("explode_outer", "generator", "explode_outer(array())", None),
    Supported("range", "generator", "SELECT id AS v FROM range(1, 7, 2)", [1, 3, 5]),
    # dates and times
    _f("current_timestamp", "datetime", "current_timestamp() IS NOT NULL", True),
    _f("now", "datetime", "now() = current_timestamp()", True),
    _f("current_date", "datetime", "current_date() = current_date", True),
    _f("date_add", "datetime", "date_add(DATE '2024-01-31', 1)", dt.date(2024, 2, 1)),
    _f("date_sub", "datetime", "date_sub(DATE '2024-03-01', 1)", dt.date(2024, 2, 29)),
    _f("datediff", "datetime", "datediff(DATE '2024-03-01', DATE '2024-02-01')", 29),
    _f("add_months", "datetime", "add_months(DATE '2024-01-31', 1)", dt.date(2024, 2, 29)),
    _f("last_day", "datetime", "last_day(DATE '2024-02-10')", dt.date(2024, 2, 29)),
    _f("make_date", "datetime", "make_date(2024, 5, 6)", dt.date(2024, 5, 6)),
    _f("to_date", "datetime", "to_date('06/05/2024', 'dd/MM/yyyy')", dt.date(2024, 5, 6)),
    _f("year", "datetime", "year(DATE '2024-05-06')", 2024),
    _f("month", "datetime", "month(DATE '2024-05-06')", 5),
    _f("day", "datetime", "day(DATE '2024-05-06')", 6),
    _f("dayofmonth", "datetime", "dayofmonth(DATE '2024-05-06')", 6),
    _f("dayofweek", "datetime", "dayofweek(DATE '2024-05-06')", 2),
    _f("hour", "datetime", f"hour({_TS})", 7),
    _f("minute", "datetime", f"minute({_TS})", 8),
    _f("second", "datetime", f"second({_TS})", 9),
    _f("date_format", "datetime", f"date_format({_TS}, 'yyyy-MM-dd HH:mm')", "2024-05-06 07:08"),
    _f(
        "date_trunc",
        "datetime",
        f"date_trunc('MONTH', {_TS}) = TIMESTAMP '2024-05-01 00:00:00'",
        True,
    ),
    # aggregates
    _f("count", "aggregate", "count(x)", 3, source=_T),
    _f("sum", "aggregate", "sum(x)", 5, source=_T),
    _f("min", "aggregate", "min(x)", 1, source=_T),
    _f("max", "aggregate", "max(x)", 2, source=_T),
    _f("avg", "aggregate", "avg(x)", 5 / 3, source=_T),
    _f("count_if", "aggregate", "count_if(x > 1)", 2, source=_T),
    _f("collect_list", "aggregate", "collect_list(x)", [1, 2, 2], source=_T),
    _f("array_agg", "aggregate", "array_agg(x)", [1, 2, 2], source=_T),
    _f("string_agg", "aggregate", "string_agg(s, ',')", "a,b,c,d", source=_T),
    _f("first", "aggregate", "first(s)", "a", source=_T),
    _f("max_by", "aggregate", "max_by(x, s)", 2, source=_T),
    _f("min_by", "aggregate", "min_by(x, s)", 1, source=_T),
    _f("stddev", "aggregate", "stddev(x)", 0.5773502691896258, source=_T),
    _f("median", "aggregate", "median(x)", 2.0, source=_T),
    # window
    _f("row_number", "window", "row_number() OVER (ORDER BY s)", 1, 2, 3, 4, source=_TO),
    _f("rank", "window", "rank() OVER (ORDER BY x NULLS LAST)", 1, 2, 4, 2, source=_TO),
    _f("dense_rank", "window", "dense_rank() OVER (ORDER BY x NULLS LAST)", 1, 2, 3, 2, source=_TO),
    _f("lag", "window", "lag(s) OVER (ORDER BY s)", None, "a", "b", "c", source=_TO),
    _f("lead", "window", "lead(s) OVER (ORDER BY s)", "b", "c", "d", None, source=_TO),
    # AI beyond Databricks (and Databricks' ai_forecast table function)
    _f("ai_filter", "AI", "ai_filter('great [[answer:yes]]', 'is positive', 'chat')", True),
    _f("ai_embed", "AI", "cardinality(ai_embed('hello', 'emb'))", 8),
    _f("ai_agg", "AI", "ai_agg(s, 'List', 'chat')", "echo: List\n\nTexts:\n- a", source=_A),
    Supported(
        "ai_forecast",
        "AI",
        "SELECT round(v_forecast, 2) AS v FROM ai_forecast(TABLE(SELECT * FROM VALUES "
        "(DATE'2024-01-01', 5), (DATE'2024-01-02', 5), (DATE'2024-01-03', 5) AS t(d, v)), "
        "horizon => 2, time_col => 'd', value_col => 'v')",
        [5.0, 5.0],
    ),
)
