"""Databricks' task functions (``ai_summarize``, ``ai_classify``, ...) as ``ai_query`` calls.

Each call site is bound here, from the AST, to an :class:`~lakeinfer.sql.functions.AiQueryCall`
that carries a :class:`~lakeinfer.sql.task_specs.TaskSpec` (prompt, response format, how the
answer becomes the result). From there on a task function is an ``ai_query`` call like any
other: staged, deduplicated, cached, budgeted and retried by the same machinery. Its endpoint
is left empty and chosen by the evaluator from the session settings
(``lakeinfer.task_endpoint``, ``lakeinfer.embedding_endpoint`` for ``ai_similarity``).

Signatures (as in Databricks)::

    ai_analyze_sentiment(content)                 -> STRING: positive|negative|neutral|mixed
    ai_classify(content, ARRAY(labels))           -> STRING, one of 2-20 labels
    ai_classify(content, '["a","b"]' | '{"a": "description"}' [, MAP(options)])
                                                  -> STRING {"response": [...], "error_message"}
    ai_extract(content, ARRAY(labels))            -> STRUCT<label: STRING, ...>
    ai_extract(content, '<schema JSON>' [, MAP(options)])
                                                  -> STRING {"response": {...}, "error_message"}
    ai_fix_grammar(content) / ai_gen(prompt)      -> STRING
    ai_mask(content, ARRAY(labels))               -> STRING with entities as [MASKED]
    ai_similarity(expr1, expr2)                   -> FLOAT (cosine of embeddings)
    ai_summarize(content [, max_words = 50])      -> STRING (0: no word limit)
    ai_translate(content, to_lang)                -> STRING (en, de, fr, it, pt, hi, es, th)

NULL in any input gives NULL without a model call. Labels, schemas and options must be
literals; their limits are checked before any model is called, with errors naming the
function, the argument and the position in the statement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.sql import task_scoring as scoring
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind
from lakeinfer.sql.languages import UnknownLanguage, language_name
from lakeinfer.sql.parse import position_of
from lakeinfer.sql.task_specs import (
    SENTIMENTS,
    V2_RESULT,
    AnswerError,
    TaskSpec,
    enum_schema,
    json_answer,
    label_from_answer,
    limit_words,
    mask_text,
    object_schema,
    pick_label,
)

DEFAULT_MAX_WORDS = 50


def _signature(function: str, *parameters: Parameter) -> Signature:
    return Signature(function, parameters)


_CONTENT = Parameter("content", required=True)
_LABELS = Parameter("labels", required=True)
SIGNATURES: dict[str, Signature] = {
    s.function: s
    for s in (
        _signature("ai_analyze_sentiment", _CONTENT),
        _signature("ai_classify", _CONTENT, _LABELS, Parameter("options")),
        _signature("ai_extract", _CONTENT, _LABELS, Parameter("options")),
        _signature("ai_fix_grammar", _CONTENT),
        _signature("ai_gen", Parameter("prompt", required=True)),
        _signature("ai_mask", _CONTENT, _LABELS),
        _signature(
            "ai_similarity", Parameter("expr1", required=True), Parameter("expr2", required=True)
        ),
        _signature(
            "ai_summarize", _CONTENT, Parameter("max_words", Kind.COUNT, note="0: no limit")
        ),
        _signature("ai_translate", _CONTENT, Parameter("to_lang", required=True)),
    )
}
#: each task function's parameter names, in order
PARAMETERS: dict[str, tuple[str, ...]] = {name: s.names for name, s in SIGNATURES.items()}
TASK_FUNCTIONS = tuple(PARAMETERS)
#: sqlglot parses these into typed nodes; they are turned back into plain calls
_TYPED = {"AIClassify": "ai_classify", "AISimilarity": "ai_similarity"}

CLASSIFY_V1_LABELS = (2, 20)
CLASSIFY_V2_LABELS = (2, 500)
LABEL_CHARS, DESCRIPTION_CHARS, INSTRUCTION_CHARS = 100, 1000, 20_000
EXTRACT_PROPERTIES, EXTRACT_DEPTH, EXTRACT_NAME_CHARS = 128, 7, 150
EXTRACT_ENUM_LABELS, EXTRACT_ENUM_CHARS = 500, 7_500
EXTRACT_TYPES = ("string", "integer", "number", "boolean", "enum", "array", "object")
EXTRACT_KEYWORDS = ("type", "description", "items", "properties", "labels")
LABEL_TOKENS, TEXT_TOKENS, EXTRACT_TOKENS = 64, 512, 384
#: output tokens allowed per span copied from the input by a scored extraction or mask
SPAN_TOKENS = 12


def normalize(tree: exp.Expression) -> None:
    """Turn sqlglot's typed nodes for task functions back into plain calls, in place."""
    for node in list(tree.find_all(exp.Func)):
        name = _TYPED.get(type(node).__name__)
        if name is None:
            continue
        args = [node.this] if node.args.get("this") is not None else []
        args += list(node.expressions)
        args += [node.args[k] for k in ("categories", "config") if node.args.get(k) is not None]
        call = exp.Anonymous(this=name, expressions=[a.copy() for a in args])
        call.meta.update(node.meta)
        node.replace(call)


def bind_task(node: exp.Expression) -> tuple[exp.Expression, TaskSpec]:
    """The request expression and the :class:`TaskSpec` of a task function call site."""
    function = str(node.this).lower()
    where = f"{function}{position_of(node)}"
    args = bind(node, SIGNATURES[function])
    if function == "ai_analyze_sentiment":
        return args["content"], _sentiment()
    if function == "ai_classify":
        labels = args["labels"]
        if _is_array(labels):
            _no_options(args, where, "an ARRAY of labels (use a JSON string for options)")
            return args["content"], _classify_v1(_string_array(labels, where, "labels"), where)
        return args["content"], _classify_v2(labels, args.get("options"), where)
    if function == "ai_extract":
        labels = args["labels"]
        if _is_array(labels):
            _no_options(args, where, "an ARRAY of labels (use a JSON schema for options)")
            return args["content"], _extract_v1(_string_array(labels, where, "labels"), where)
        return args["content"], _extract_v2(labels, args.get("options"), where)
    if function == "ai_fix_grammar":
        return args["content"], TaskSpec(
            function,
            pa.string(),
            "Correct the grammar and spelling of the text below. Keep its meaning and wording "
            "otherwise. Answer with the corrected text only.",
            parameters={"max_tokens": TEXT_TOKENS},
        )
    if function == "ai_gen":
        return args["prompt"], TaskSpec(
            function,
            pa.string(),
            "",
            parameters={"max_tokens": TEXT_TOKENS},
            template=lambda spec, v: v["content"],
        )
    if function == "ai_mask":
        labels = _string_array(args["labels"], where, "labels", at_least=1)
        return args["content"], _mask(labels)
    if function == "ai_similarity":
        return _pair(args["expr1"], args["expr2"], ("expr1", "expr2")), TaskSpec(
            function, pa.float32(), "", kind="similarity", inputs=("expr1", "expr2")
        )
    if function == "ai_summarize":
        return args["content"], _summarize(args.get("max_words", DEFAULT_MAX_WORDS))
    return _translate(args["content"], args["to_lang"], where)


# -- arguments ------------------------------------------------------------------------------
def _is_array(node: exp.Expression) -> bool:
    return isinstance(node, exp.Array) or (
        isinstance(node, exp.Anonymous) and str(node.this).lower() == "array"
    )


def _string_array(node: exp.Expression, where: str, what: str, at_least: int = 1) -> list[str]:
    if not _is_array(node):
        raise AnalysisError(
            f"{where}: {what} must be an ARRAY of string literals, e.g. ARRAY('a', 'b'), got "
            f"{node.sql(dialect='databricks')}"
        )
    values = []
    for item in node.expressions:
        if not (isinstance(item, exp.Literal) and item.is_string):
            raise AnalysisError(
                f"{where}: {what} must be string literals, got {item.sql(dialect='databricks')}"
            )
        values.append(item.this)
    if len(values) < at_least:
        raise AnalysisError(f"{where}: {what} needs at least {at_least} label(s)")
    for value in values:
        if not value.strip():
            raise AnalysisError(f"{where}: {what} contains an empty label")
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise AnalysisError(f"{where}: {what} repeats {', '.join(map(repr, duplicates))}")
    return values


def _string_literal(node: exp.Expression, where: str, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    raise AnalysisError(
        f"{where}: {what} must be a string literal, got {node.sql(dialect='databricks')}"
    )


def _options(node: exp.Expression | None, where: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if node is None:
        return {}
    if isinstance(node, exp.VarMap):
        keys, values = node.args["keys"].expressions, node.args["values"].expressions
    elif isinstance(node, (exp.Map, exp.Anonymous)) and len(node.expressions) % 2 == 0:
        keys, values = node.expressions[::2], node.expressions[1::2]
    else:
        raise AnalysisError(
            f"{where}: options must be MAP('key', 'value', ...), got "
            f"{node.sql(dialect='databricks')}"
        )
    options: dict[str, str] = {}
    for key, value in zip(keys, values, strict=True):
        name = _string_literal(key, where, "an option name").lower()
        if name not in allowed:
            raise AnalysisError(
                f"{where}: options: unknown option {name!r}; expected one of {', '.join(allowed)}"
            )
        options[name] = _string_literal(value, where, f"option {name!r}")
    version = options.get("version", "2.0")
    if version not in ("2", "2.0"):
        raise AnalysisError(f"{where}: options: version must be '2.0' here, got {version!r}")
    if len(options.get("instructions", "")) > INSTRUCTION_CHARS:
        raise AnalysisError(
            f"{where}: options: instructions has {len(options['instructions'])} characters, "
            f"more than {INSTRUCTION_CHARS}"
        )
    return options


def _no_options(args: dict[str, exp.Expression], where: str, why: str) -> None:
    if "options" in args:
        raise AnalysisError(f"{where}: options need the JSON form of labels, not {why}")


def _pair(first: exp.Expression, second: exp.Expression, names: tuple[str, str]) -> exp.Expression:
    """``CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE to_json({names: a, b}) END``."""
    struct = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(names[0]), expression=exp.cast(first, "VARCHAR")),
            exp.PropertyEQ(
                this=exp.to_identifier(names[1]), expression=exp.cast(second, "VARCHAR")
            ),
        ]
    )
    as_json = exp.cast(exp.Anonymous(this="to_json", expressions=[struct]), "VARCHAR")
    either_null = exp.or_(first.copy().is_(exp.null()), second.copy().is_(exp.null()))
    return exp.Case(ifs=[exp.If(this=either_null, true=exp.null())], default=as_json)


# -- the functions --------------------------------------------------------------------------
def _sentiment() -> TaskSpec:
    labels = list(SENTIMENTS)
    return TaskSpec(
        "ai_analyze_sentiment",
        pa.string(),
        "What is the sentiment of the text below? Answer positive, negative, neutral or mixed "
        '(both positive and negative), as JSON: {"sentiment": "..."}.',
        response_format=enum_schema("sentiment", "sentiment", labels),
        parameters={"max_tokens": LABEL_TOKENS},
        parse=lambda raw, _: label_from_answer(raw, labels, "sentiment"),
        scored=_scored_choice(
            "ai_analyze_sentiment",
            labels,
            scoring.sentiment_prompt,
            {label: list(scoring.SENTIMENT_PROTOTYPES[label]) for label in labels},
        ),
    )


def _scored_choice(
    function: str,
    labels: list[str],
    prompt: Callable[[str], str],
    similar: dict[str, list[str]] | None = None,
    similar_only: bool = False,
) -> TaskSpec:
    """``function`` as a scored completion: the label the model finds likeliest after
    ``prompt(text)``, corrected by its prior (see :mod:`lakeinfer.sql.task_scoring`), plus,
    where the endpoint has an embedding model, the text's similarity to the ``similar`` texts
    of each label (alone when ``similar_only``)."""
    grammar = scoring.choice_grammar([" " + label for label in labels])
    prior_prompt = prompt(scoring.CONTENT_FREE)

    def parse(raw: Any, _: dict[str, Any]) -> str:
        answer = scoring.answer_of(raw)
        probs, similarity = answer["probs"], answer["similarity"]
        if not probs and not similarity:
            return pick_label(answer["content"].strip(), labels)
        prior = {label: scoring.label_logprob(" " + label, answer["prior"]) for label in labels}
        return scoring.best_label(labels, probs, prior, similarity, scoring.SIMILARITY_WEIGHT)

    def template(spec: TaskSpec, values: dict[str, Any]) -> Any:
        text = values["content"]
        wanted = {"text": text, "options": similar, "enough": similar_only} if similar else None
        return scoring.completion(prompt(text), grammar, prior_prompt, wanted)

    return TaskSpec(
        function,
        pa.string(),
        prompt("") + grammar + json.dumps([similar, similar_only]),
        # enough tokens to spell the longest label; scoring needs only the first few
        parameters={"max_tokens": min(LABEL_TOKENS, 2 + max(map(len, labels)) // 2)},
        parse=parse,
        template=template,
    )


def _classify_v1(labels: list[str], where: str) -> TaskSpec:
    low, high = CLASSIFY_V1_LABELS
    if not low <= len(labels) <= high:
        raise AnalysisError(f"{where}: labels must hold {low} to {high} labels, got {len(labels)}")
    return TaskSpec(
        "ai_classify",
        pa.string(),
        f"Classify the text below into exactly one of these labels: {', '.join(labels)}. "
        'Answer as JSON: {"label": "..."}.',
        response_format=enum_schema("classification", "label", labels),
        parameters={"max_tokens": LABEL_TOKENS},
        parse=lambda raw, _: label_from_answer(raw, labels, "label"),
        scored=_scored_choice(
            "ai_classify",
            labels,
            lambda text: scoring.classify_prompt(text, labels),
            {label: [label] for label in labels},
            similar_only=True,
        ),
    )


def _classify_v2(node: exp.Expression, options_node: exp.Expression | None, where: str) -> TaskSpec:
    text = _string_literal(node, where, "labels (a JSON array or object)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{where}: labels is not valid JSON ({exc.msg})") from None
    if isinstance(value, list):
        descriptions = {}
        for label in value:
            if not isinstance(label, str):
                raise AnalysisError(f"{where}: labels must be strings, got {label!r}")
        labels = value
    elif isinstance(value, dict):
        labels = list(value)
        descriptions = value
        for label, description in value.items():
            if not isinstance(description, str) or len(description) > DESCRIPTION_CHARS:
                raise AnalysisError(
                    f"{where}: the description of label {label!r} must be a string of at most "
                    f"{DESCRIPTION_CHARS} characters"
                )
    else:
        raise AnalysisError(
            f'{where}: labels must be a JSON array \'["a", "b"]\' or object '
            '\'{"a": "description"}\''
        )
    low, high = CLASSIFY_V2_LABELS
    if not low <= len(labels) <= high:
        raise AnalysisError(f"{where}: labels must hold {low} to {high} labels, got {len(labels)}")
    for label in labels:
        if not 1 <= len(label) <= LABEL_CHARS:
            raise AnalysisError(
                f"{where}: label {label[:40]!r} must have 1 to {LABEL_CHARS} characters"
            )
    if len(set(labels)) != len(labels):
        raise AnalysisError(f"{where}: labels repeat a label")
    options = _options(options_node, where, ("version", "instructions", "multilabel"))
    multilabel = options.get("multilabel", "false").lower()
    if multilabel not in ("true", "false"):
        raise AnalysisError(f"{where}: options: multilabel must be 'true' or 'false'")
    many = multilabel == "true"
    listing = "\n".join(
        f"- {label}: {descriptions[label]}" if descriptions.get(label) else f"- {label}"
        for label in labels
    )
    ask = (
        'every label that applies, as JSON: {"labels": ["..."]}'
        if many
        else 'exactly one label, as JSON: {"labels": ["..."]} with one element'
    )
    instruction = f"Classify the text below with {ask}. Labels:\n{listing}"
    if options.get("instructions"):
        instruction += f"\n\nInstructions: {options['instructions']}"

    def parse(raw: str, _: dict[str, Any]) -> str:
        answer = json_answer(raw)
        chosen = answer.get("labels") if isinstance(answer, dict) else answer
        if isinstance(chosen, str):
            chosen = [chosen]
        if not isinstance(chosen, list):
            raise AnswerError(f"no labels in the answer {raw[:120]!r}")
        picked = list(dict.fromkeys(pick_label(c, labels) for c in chosen))
        if not many:
            picked = picked[:1]
        return json.dumps({"response": picked, "error_message": None})

    return TaskSpec(
        "ai_classify",
        V2_RESULT,
        instruction,
        response_format=enum_schema(
            "classification", "labels", labels, many=True, most=None if many else 1
        ),
        parameters={"max_tokens": LABEL_TOKENS * (4 if many else 1)},
        errors_in_result=True,
        parse=parse,
    )


def _extract_v1(labels: list[str], where: str) -> TaskSpec:
    if len(labels) > EXTRACT_PROPERTIES:
        raise AnalysisError(
            f"{where}: labels must hold at most {EXTRACT_PROPERTIES} labels, got {len(labels)}"
        )
    properties = {label: {"type": ["string", "null"]} for label in labels}

    def parse(raw: str, _: dict[str, Any]) -> dict[str, str | None]:
        answer = json_answer(raw)
        if not isinstance(answer, dict):
            raise AnswerError(f"the answer is not a JSON object: {raw[:120]!r}")
        return {label: _text_or_none(answer.get(label)) for label in labels}

    return TaskSpec(
        "ai_extract",
        pa.struct([pa.field(label, pa.string()) for label in labels]),
        f"Extract these from the text below: {', '.join(labels)}. Copy each value from the "
        "text; use null when the text has none. Answer as JSON with exactly these keys.",
        response_format=object_schema("extraction", properties),
        parameters={"max_tokens": EXTRACT_TOKENS},
        parse=parse,
        scored=_scored_extract(labels),
    )


def _scored_extract(labels: list[str]) -> TaskSpec:
    """ai_extract (ARRAY labels) as a scored completion: each field ``none`` or a span copied
    from the text, cut where the model nearly as much wanted to end it."""

    def parse(raw: Any, _: dict[str, Any]) -> dict[str, str | None]:
        answer = scoring.answer_of(raw)
        content = scoring.shortest_likely(answer["probs"]) if answer["probs"] else answer["content"]
        found = scoring.parse_fields(content, labels)
        return {label: (found[label][0] if found.get(label) else None) for label in labels}

    return TaskSpec(
        "ai_extract",
        pa.struct([pa.field(label, pa.string()) for label in labels]),
        scoring.fields_prompt("", labels),
        parameters={"max_tokens": _span_tokens(len(labels), 1)},
        parse=parse,
        template=lambda spec, v: scoring.completion(
            scoring.fields_prompt(v["content"], labels),
            scoring.fields_grammar(labels, v["content"]),
        ),
    )


def _span_tokens(fields: int, per_field: int) -> int:
    """Output tokens for ``fields`` lines of at most ``per_field`` spans of a few words
    (:data:`~lakeinfer.sql.task_scoring.SPAN_WORDS`): the answer's length is bounded by the
    number of fields, whatever the text."""
    return fields * (4 + per_field * SPAN_TOKENS)


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _extract_v2(node: exp.Expression, options_node: exp.Expression | None, where: str) -> TaskSpec:
    text = _string_literal(node, where, "schema (a JSON array or object)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnalysisError(f"{where}: schema is not valid JSON ({exc.msg})") from None
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) for v in value):
            raise AnalysisError(f"{where}: schema as a JSON array must list field names")
        fields: dict[str, Any] = {name: {"type": "string"} for name in value}
    elif isinstance(value, dict):
        fields = value.get("properties") if value.get("type") == "object" else value
        if not isinstance(fields, dict) or not fields:
            raise AnalysisError(f"{where}: schema must describe at least one field")
    else:
        raise AnalysisError(f"{where}: schema must be a JSON array of field names or an object")
    counter = [0]
    properties = {
        name: _extract_field(name, spec, where, 1, counter, in_array=False)
        for name, spec in fields.items()
    }
    options = _options(options_node, where, ("version", "instructions"))
    instruction = (
        "Extract the fields of this JSON schema from the text below. Copy values from the "
        "text; use null when the text has none. Answer as JSON.\n"
        f"Schema: {json.dumps(fields)}"
    )
    if options.get("instructions"):
        instruction += f"\n\nInstructions: {options['instructions']}"
    response_format = object_schema("extraction", properties)
    validator = _validator(response_format["json_schema"]["schema"])

    def parse(raw: str, _: dict[str, Any]) -> str:
        answer = json_answer(raw)
        errors = sorted(validator.iter_errors(answer), key=lambda e: list(e.path))
        if errors:
            path = "/".join(str(p) for p in errors[0].path) or "(top)"
            raise AnswerError(f"the answer does not fit the schema at {path}: {errors[0].message}")
        return json.dumps({"response": answer, "error_message": None})

    return TaskSpec(
        "ai_extract",
        V2_RESULT,
        instruction,
        response_format=response_format,
        parameters={"max_tokens": EXTRACT_TOKENS * 2},
        errors_in_result=True,
        parse=parse,
    )


def _extract_field(
    name: str, spec: Any, where: str, depth: int, counter: list[int], in_array: bool
) -> dict[str, Any]:
    """The nullable JSON schema of one ai_extract v2 field, after Databricks' checks."""
    if not isinstance(name, str) or not 1 <= len(name) <= EXTRACT_NAME_CHARS:
        raise AnalysisError(
            f"{where}: schema: field names must have 1 to {EXTRACT_NAME_CHARS} characters"
        )
    if name.startswith("_"):
        raise AnalysisError(f"{where}: schema: field name {name!r} must not start with '_'")
    counter[0] += 1
    if counter[0] > EXTRACT_PROPERTIES:
        raise AnalysisError(f"{where}: schema: more than {EXTRACT_PROPERTIES} properties")
    if depth > EXTRACT_DEPTH:
        raise AnalysisError(f"{where}: schema: nesting deeper than {EXTRACT_DEPTH} levels")
    if not isinstance(spec, dict):
        raise AnalysisError(f"{where}: schema: field {name!r} must be an object with a type")
    unknown = sorted(set(spec) - set(EXTRACT_KEYWORDS))
    if unknown:
        raise AnalysisError(f"{where}: schema: Unsupported keyword(s): {', '.join(unknown)}")
    kind = spec.get("type")
    if kind not in EXTRACT_TYPES:
        raise AnalysisError(
            f"{where}: schema: Unsupported type(s): {kind!r} (field {name!r}); "
            f"expected {', '.join(EXTRACT_TYPES)}"
        )
    schema = _field_type(name, spec, kind, where, depth, counter, in_array)
    if spec.get("description"):
        schema["description"] = str(spec["description"])
    return schema


def _field_type(
    name: str,
    spec: dict[str, Any],
    kind: str,
    where: str,
    depth: int,
    counter: list[int],
    in_array: bool,
) -> dict[str, Any]:
    if kind in ("string", "integer", "number", "boolean"):
        return {"type": [kind, "null"]}
    if kind == "enum":
        labels = spec.get("labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) for x in labels)
        ):
            raise AnalysisError(f"{where}: schema: enum field {name!r} needs a list of labels")
        if len(labels) > EXTRACT_ENUM_LABELS or sum(map(len, labels)) > EXTRACT_ENUM_CHARS:
            raise AnalysisError(
                f"{where}: schema: enum field {name!r} allows at most {EXTRACT_ENUM_LABELS} "
                f"labels and {EXTRACT_ENUM_CHARS} characters"
            )
        return {"enum": [*labels, None]}
    if kind == "array":
        if in_array:
            raise AnalysisError(f"{where}: schema: field {name!r}: nested arrays are not supported")
        items = spec.get("items")
        item = _extract_field(name, items, where, depth + 1, counter, in_array=True)
        return {"anyOf": [{"type": "array", "items": item}, {"type": "null"}]}
    properties = spec.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise AnalysisError(f"{where}: schema: object field {name!r} needs properties")
    inner = {
        key: _extract_field(key, value, where, depth + 1, counter, in_array)
        for key, value in properties.items()
    }
    shape = {
        "type": "object",
        "properties": inner,
        "required": list(inner),
        "additionalProperties": False,
    }
    return {"anyOf": [shape, {"type": "null"}]}


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema)


def _mask(labels: list[str]) -> TaskSpec:
    schema = {"entities": {"type": "array", "items": {"type": "string"}}}

    def parse(raw: str, values: dict[str, Any]) -> str:
        answer = json_answer(raw)
        entities = answer.get("entities") if isinstance(answer, dict) else answer
        if not isinstance(entities, list):
            raise AnswerError(f"no entity list in the answer {raw[:120]!r}")
        return mask_text(values["content"], [e for e in entities if isinstance(e, str)], labels)

    return TaskSpec(
        "ai_mask",
        pa.string(),
        f"List every span of the text below that is one of: {', '.join(labels)}. Copy each "
        'span exactly as written. Answer as JSON: {"entities": ["..."]}.',
        response_format=object_schema("entities", schema),
        parameters={"max_tokens": EXTRACT_TOKENS},
        parse=parse,
        scored=_scored_mask(labels),
    )


def _scored_mask(labels: list[str]) -> TaskSpec:
    """ai_mask as a scored completion: up to a few spans per label, copied from the text."""
    per_label = scoring.MASK_SPANS_PER_LABEL

    def parse(raw: Any, values: dict[str, Any]) -> str:
        found = scoring.parse_fields(scoring.answer_of(raw)["content"], labels)
        entities = [span for spans in found.values() for span in spans]
        return mask_text(values["content"], entities, labels)

    return TaskSpec(
        "ai_mask",
        pa.string(),
        scoring.fields_prompt("", labels),
        parameters={"max_tokens": _span_tokens(len(labels), per_label)},
        parse=parse,
        template=lambda spec, v: scoring.completion(
            scoring.fields_prompt(v["content"], labels),
            scoring.fields_grammar(labels, v["content"], per_label),
        ),
    )


def _summarize(max_words: int) -> TaskSpec:
    limit = f" in at most {max_words} words" if max_words else ""
    return TaskSpec(
        "ai_summarize",
        pa.string(),
        f"Summarize the text below{limit}. Answer with the summary only.",
        parameters={"max_tokens": max(64, max_words * 3) if max_words else TEXT_TOKENS},
        parse=lambda raw, _: limit_words(raw, max_words),
    )


def _translate(
    content: exp.Expression, to_lang: exp.Expression, where: str
) -> tuple[exp.Expression, TaskSpec]:
    if isinstance(to_lang, exp.Literal):
        try:
            language = language_name(to_lang.this)
        except UnknownLanguage as exc:
            raise AnalysisError(
                f"{where}: to_lang {to_lang.this!r} is not supported: {exc}"
            ) from None
        return content, TaskSpec(
            "ai_translate",
            pa.string(),
            f"Translate the text below to {language}. Answer with the translation only.",
            parameters={"max_tokens": TEXT_TOKENS},
        )

    def template(spec: TaskSpec, values: dict[str, Any]) -> str:
        try:
            language = language_name(str(values["to_lang"]))
        except UnknownLanguage as exc:
            raise AnswerError(
                f"ai_translate: to_lang {values['to_lang']!r} is not supported: {exc}"
            ) from None
        return (
            f"Translate the text below to {language}. Answer with the translation "
            f"only.\n\nText:\n{values['content']}"
        )

    return _pair(content, to_lang, ("content", "to_lang")), TaskSpec(
        "ai_translate",
        pa.string(),
        "translate",
        inputs=("content", "to_lang"),
        parameters={"max_tokens": TEXT_TOKENS},
        template=template,
    )
