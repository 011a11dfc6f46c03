"""Prompt packing: several rows' chat requests sent as one prompt with a JSON answer per row.

With ``SET lakeinfer.pack_rows = N`` the distinct uncached requests of a call site go to the
endpoint N at a time in one chat request. The part of the rows' prompts they all share (whole
lines at the start and at the end: a task function's instruction) is written once, as a task
in which ``<INPUT>`` stands for one row's input; each row's own part follows under its key
(``### 1``, ...). The answer is bound by a ``json_schema`` response format: one
object whose keys are exactly ``"1"`` to ``"N"``, each value in the shape the row itself would
have been answered in (its own response format's schema, its ``returnType`` as a JSON type, a
string otherwise), so an endpoint that enforces structured output cannot leave a row out.

Each row gets its own :class:`Outcome` (the call's tokens shared out), so deduplication, the
response cache (per row request: packed and unpacked runs share answers), ``failOnError`` and
the per-row checks work as for single requests. A pack that fails as a whole (other than by
throttling or a timeout, which the scheduler retries as for any call) or whose answer cannot
be trusted (not JSON, a key that is no row's) has all its rows sent again, each alone; a pack
whose answer for some row is missing, of the wrong shape, or not among the row's labels has
only those rows sent again alone. A row sent alone is never packed again.

``auto`` packs :data:`AUTO_ROWS` rows of short label answers (``ai_classify``,
``ai_analyze_sentiment``, ``ai_query`` with a scalar ``returnType`` or an enum
``responseFormat``) on HTTP endpoints that do not score completions; the embedded model is not
packed under ``auto``, because packing measurably hurts its accuracy (``docs/cost.md``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakeinfer.endpoints.base import AIRequest, Outcome, Provider

if TYPE_CHECKING:
    from lakeinfer.runtime.scheduler import CallStats
    from lakeinfer.sql.functions import AiQueryCall

#: the name of a packed request's response format (how a server can tell a packed prompt)
PACK_FORMAT = "lakeinfer_pack"
#: what stands for one row's input in a packed prompt's task
INPUT = "<INPUT>"
#: rows per pack under ``pack_rows = 'auto'``
AUTO_ROWS = 8
#: a row's prompt longer than this (characters) is not packed under ``auto``
AUTO_MAX_CHARS = 1500
#: output tokens a pack reserves per row beyond the row's own ``max_tokens`` (its key, quotes)
KEY_TOKENS = 8
#: task functions whose answers are one short label, packed under ``auto``
AUTO_FUNCTIONS = frozenset({"ai_classify", "ai_analyze_sentiment"})
#: returnType of an ``ai_query`` row, as the JSON type its packed answer takes
_JSON_TYPES = {
    "INT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "SMALLINT": "integer",
    "TINYINT": "integer",
    "LONG": "integer",
    "SHORT": "integer",
    "BYTE": "integer",
    "DOUBLE": "number",
    "FLOAT": "number",
    "REAL": "number",
    "BOOLEAN": "boolean",
}
CHARS_PER_TOKEN = 4

_TASK_LINE = "Task (" + INPUT + " is one input):\n"
_HEADER = "Do the task below for each of the {n} inputs that follow it, separately.\n" + _TASK_LINE
_HEADER_PLAIN = "Answer each of the {n} prompts below separately.\n"
_FOOTER = (
    'Answer with JSON {{"1": <answer to input 1>, ..., "{n}": <answer to input {n}>}}, each '
    "answer in the form the task asks for."
)
_INPUT_LINE = re.compile(r"^### (\d+)$", re.M)
_END_INPUTS = "### end"


# -- the packed prompt -------------------------------------------------------------------------
def shared_parts(prompts: Sequence[str]) -> tuple[str, str]:
    """The whole lines every prompt starts with and ends with (prefix, suffix), so each
    prompt is ``prefix + own part + suffix``; empty when they share none."""
    first = prompts[0]
    prefix_end = len(first)
    for prompt in prompts[1:]:
        limit = min(prefix_end, len(prompt))
        index = 0
        while index < limit and first[index] == prompt[index]:
            index += 1
        prefix_end = index
    prefix = first[:prefix_end]
    prefix = prefix[: prefix.rfind("\n") + 1]  # whole lines only
    rests = [p[len(prefix) :] for p in prompts]
    shortest = min(len(r) for r in rests)
    size = 0
    while size < shortest and len({r[len(r) - size - 1] for r in rests}) == 1:
        size += 1
    suffix = rests[0][len(rests[0]) - size :] if size else ""
    newline = suffix.find("\n")
    suffix = "" if newline < 0 else suffix[newline:]  # from a line break on
    return prefix, suffix


def pack_prompt(prompts: Sequence[str]) -> str:
    """One prompt asking for the answers of all ``prompts``, keyed 1..N (see the module
    docstring); :func:`unpack_prompt` gives the prompts back."""
    n = len(prompts)
    prefix, suffix = shared_parts(prompts)
    if prefix or suffix:
        head = _HEADER.format(n=n) + prefix + INPUT + suffix + "\n"
        own = [p[len(prefix) : len(p) - len(suffix)] for p in prompts]
    else:
        head = _HEADER_PLAIN.format(n=n)
        own = list(prompts)
    body = "".join(f"### {i}\n{text}\n" for i, text in enumerate(own, start=1))
    return f"{head}{body}{_END_INPUTS}\n{_FOOTER.format(n=n)}"


def unpack_prompt(packed: str) -> list[str] | None:
    """The rows' own prompts of a prompt made by :func:`pack_prompt`; None when it is not one."""
    end = packed.rfind("\n" + _END_INPUTS + "\n")
    first = packed.find("\n### 1\n")
    if end < 0 or first < 0:
        return None
    task = INPUT
    start = packed.find("\n" + _TASK_LINE)
    if 0 <= start < first:
        task = packed[start + 1 + len(_TASK_LINE) : first]
    marks = list(_INPUT_LINE.finditer(packed, first + 1, end + 1))
    if [int(m.group(1)) for m in marks] != list(range(1, len(marks) + 1)):
        return None
    prefix, _, suffix = task.partition(INPUT)
    prompts = []
    for index, mark in enumerate(marks):
        stop = marks[index + 1].start() if index + 1 < len(marks) else end + 1
        own = packed[mark.end() + 1 : stop - 1]
        prompts.append(prefix + own + suffix)
    return prompts


# -- the answer's shape ------------------------------------------------------------------------
def answer_schema(parameters: dict[str, Any], return_ddl: str | None) -> tuple[dict, bool]:
    """The JSON schema of one row's answer in a pack, and whether the row's answer is JSON
    text (its own response format asks for JSON) rather than plain text."""
    response_format = parameters.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            return (schema if isinstance(schema, dict) else {"type": "object"}), True
        if kind == "json_object":
            return {"type": "object"}, True
    json_type = _JSON_TYPES.get((return_ddl or "").strip().upper())
    if json_type is not None:
        return {"type": json_type}, True
    return {"type": "string"}, False


def pack_format(schema: dict[str, Any], n: int, strict: bool) -> dict[str, Any]:
    """The response format of a pack of ``n`` rows: an object with exactly the keys "1".."n",
    each holding one row's answer of ``schema``."""
    keys = [str(i) for i in range(1, n + 1)]
    return {
        "type": "json_schema",
        "json_schema": {
            "name": PACK_FORMAT,
            "schema": {
                "type": "object",
                "properties": dict.fromkeys(keys, schema),
                "required": keys,
                "additionalProperties": False,
            },
            "strict": strict,
        },
    }


def read_pack(answer: Any, n: int) -> dict[int, Any] | None:
    """The answer of each row found in a pack's answer, by row number (1..n); a row left out
    is missing from it. None when the answer as a whole cannot be trusted: not JSON, not an
    object, or with a key that is no row's (beyond 1..n, twice, not a number), which says the
    answers may be shifted. Takes the keyed object asked for, and the
    ``{"answers": [{"id": 1, "answer": ...}, ...]}`` shape some models write instead."""
    if isinstance(answer, str):
        try:
            answer = json.loads(answer)
        except json.JSONDecodeError:
            return None
    if not isinstance(answer, dict):
        return None
    listed = answer.get("answers")
    if isinstance(listed, list) and len(answer) == 1:
        items = []
        for item in listed:
            if not isinstance(item, dict) or set(item) != {"id", "answer"}:
                return None
            items.append((item["id"], item["answer"]))
    else:
        items = list(answer.items())
    found: dict[int, Any] = {}
    for key, value in items:
        number = _row_number(key)
        if number is None or not 1 <= number <= n or number in found:
            return None
        found[number] = value
    return found


def _row_number(key: Any) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isdigit() and str(int(key)) == key:
        return int(key)
    return None


# -- choosing ----------------------------------------------------------------------------------
def rows_per_pack(
    setting: Any,
    call: AiQueryCall,
    task: str,
    scores_completions: bool,
    requests: Sequence[AIRequest],
) -> int:
    """How many rows of ``call`` go in one request: 1 (no packing) unless ``lakeinfer.pack_rows``
    asks for more and the requests can be packed (plain prompts to an endpoint of ``task``
    chat; ``scores_completions``: whether it is the embedded model, never packed by ``auto``)."""
    if setting in (None, 1) or task != "chat":
        return 1
    if len(requests) < 2:
        return 1
    if not all(isinstance(r.payload, str) and r.lane is None for r in requests):
        return 1  # conversations and scored completions are sent as they are
    if setting != "auto":
        return int(setting)
    return AUTO_ROWS if _auto_fits(call, scores_completions, requests) else 1


def planned_packs(rows: int, requests: Sequence[AIRequest]) -> tuple[int, int]:
    """What packing ``requests`` ``rows`` at a time would send, before sending anything: the
    calls, and their prompt tokens (characters / 4, the rows' prompts packed as they would
    be, in the order given)."""
    calls = tokens = 0
    for start in range(0, len(requests), rows):
        pack = requests[start : start + rows]
        text = pack_prompt([r.payload for r in pack]) if len(pack) > 1 else pack[0].payload
        calls += 1
        tokens += math.ceil(len(text) / CHARS_PER_TOKEN)
    return calls, tokens


def _auto_fits(call: AiQueryCall, scores_completions: bool, requests: Sequence[AIRequest]) -> bool:
    """Whether ``auto`` packs ``call``: short label answers on an endpoint that does not score
    completions (the embedded model answers packs measurably worse)."""
    if scores_completions:
        return False
    if any(len(r.payload) > AUTO_MAX_CHARS for r in requests):
        return False
    if call.task is not None:
        return call.task.function in AUTO_FUNCTIONS
    schema, _ = answer_schema(call.parameters, call.return_ddl)
    if call.parameters.get("response_format") is None:
        return call.return_ddl is not None and schema["type"] != "string"
    return _is_label(schema)


def _is_label(schema: dict[str, Any]) -> bool:
    """An enum, or an object of one enum property."""
    if schema.get("enum"):
        return True
    properties = schema.get("properties")
    return (
        isinstance(properties, dict)
        and len(properties) == 1
        and all(isinstance(p, dict) and p.get("enum") for p in properties.values())
    )


# -- sending -----------------------------------------------------------------------------------
class PackingProvider(Provider):
    """``inner`` taking up to ``rows`` requests per call and sending them as one packed
    request (see the module docstring). ``keys``: the memo key of each request to pack (by
    identity); ``check(key, value)`` says why a row's answer is unusable (None: it is fine);
    ``stats`` is counted into (packs, rows, rows sent again, tokens saved, extra calls)."""

    def __init__(
        self,
        inner: Provider,
        rows: int,
        keys: dict[int, Hashable],
        schema: dict[str, Any],
        json_answer: bool,
        stats: CallStats,
        check: Callable[[Hashable, Any], str | None] | None = None,
    ):
        self.inner = inner
        self.name = inner.name
        self.description = inner.description
        self.max_retries = inner.max_retries
        self.timeout_s = inner.timeout_s
        self.circuit_breaker = inner.circuit_breaker
        # one prompt of many rows gains nothing from prefix ordering, and its slot pinning
        # belongs to single requests
        self.capabilities = replace(inner.capabilities, max_batch=rows, prefix_caching=False)
        self.keys = keys
        self.schema = schema
        self.json_answer = json_answer
        self.stats = stats
        self.check = check
        self._alone: set[int] = set()  # requests of split packs: never packed again

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        packable = [r for r in batch if id(r) in self.keys and id(r) not in self._alone]
        if len(packable) < 2 or len(packable) != len(batch):
            return await self._alone_each(list(batch), extra_calls=len(batch) - 1)
        request = self._packed(batch)
        (outcome,) = await self.inner.infer([request])
        outcomes = self._shared(outcome, len(batch))
        if not outcome.ok and (outcome.throttled or outcome.timed_out):
            return outcomes  # the scheduler retries the pack, as any call
        answers = self._answers(batch, outcome) if outcome.ok else {}
        self._count(batch, request, outcome)
        failed = [i for i in range(len(batch)) if i not in answers]
        if failed:
            self.stats.pack_splits += len(failed)
            again = await self._alone_each([batch[i] for i in failed], extra_calls=len(failed))
            for index, single in zip(failed, again, strict=True):
                if outcome.ok:  # what the rows sent again cost beyond the pack
                    self.stats.prompt_tokens_saved -= single.prompt_tokens
                single.prompt_tokens += outcomes[index].prompt_tokens
                single.completion_tokens += outcomes[index].completion_tokens
                single.cached_tokens += outcomes[index].cached_tokens
                outcomes[index] = single
        for index, value in answers.items():
            outcomes[index].value = value
        return outcomes

    def _packed(self, batch: Sequence[AIRequest]) -> AIRequest:
        parameters = dict(batch[0].parameters)
        own = parameters.get("response_format")
        strict = isinstance(own, dict) and bool((own.get("json_schema") or {}).get("strict"))
        parameters["response_format"] = pack_format(self.schema, len(batch), strict)
        for name in ("max_tokens", "max_completion_tokens"):
            # each row's own bound (rows differ: a structured answer's bound follows its input)
            bounds = [r.parameters.get(name) for r in batch]
            if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                parameters[name] = sum(bounds) + KEY_TOKENS * len(batch)
            else:
                parameters.pop(name, None)
        return AIRequest(pack_prompt([r.payload for r in batch]), parameters)

    def _answers(self, batch: Sequence[AIRequest], outcome: Outcome) -> dict[int, Any]:
        """The usable answer of each row (by index in ``batch``) as the row's own request
        would have been answered: JSON text or plain text."""
        from lakeinfer.engine.structured_output import check_answer

        row_format = {"type": "json_schema", "json_schema": {"schema": self.schema}}
        usable: dict[int, Any] = {}
        for number, answer in (read_pack(outcome.value, len(batch)) or {}).items():
            if check_answer(row_format, json.dumps(answer)) is not None:
                continue  # the wrong shape
            value = json.dumps(answer) if self.json_answer else answer
            if self.check is not None and self.check(self.keys[id(batch[number - 1])], value):
                continue  # e.g. not one of the labels
            usable[number - 1] = value
        return usable

    @staticmethod
    def _shared(outcome: Outcome, n: int) -> list[Outcome]:
        """``outcome``'s tokens shared out over ``n`` rows (the first rows take the rest)."""

        def share(total: int, index: int) -> int:
            return total // n + (1 if index < total % n else 0)

        return [
            replace(
                outcome,
                value=None,
                prompt_tokens=share(outcome.prompt_tokens, i),
                completion_tokens=share(outcome.completion_tokens, i),
                cached_tokens=share(outcome.cached_tokens, i),
            )
            for i in range(n)
        ]

    def _count(self, batch: Sequence[AIRequest], packed: AIRequest, outcome: Outcome) -> None:
        """Count the pack, and the prompt tokens it saved: the rows' own prompts against the
        packed one, in the endpoint's tokens when it reports them, else characters / 4."""
        stats = self.stats
        stats.packed_calls += 1
        stats.packed_rows += len(batch)
        if not outcome.ok:
            return  # its rows are sent again alone: no saving, and no known cost
        alone = sum(math.ceil(len(r.payload) / CHARS_PER_TOKEN) for r in batch)
        together = math.ceil(len(packed.payload) / CHARS_PER_TOKEN)
        if outcome.prompt_tokens:
            alone = round(outcome.prompt_tokens * alone / together)
            together = outcome.prompt_tokens
        stats.prompt_tokens_saved += alone - together

    async def _alone_each(self, requests: list[AIRequest], extra_calls: int) -> list[Outcome]:
        """Each request sent by itself (the first call is the scheduler's own)."""
        self.stats.calls += max(0, extra_calls)
        self._alone.update(id(r) for r in requests)
        results = await asyncio.gather(*(self.inner.infer([r]) for r in requests))
        return [outcomes[0] for outcomes in results]

    async def aclose(self) -> None:
        """The inner provider belongs to the registry, which closes it."""


def packer(
    setting: Any,
    call: AiQueryCall,
    provider: Provider,
    missing: dict[Hashable, AIRequest],
    stats: CallStats,
    check: Callable[[Hashable, Any], str | None] | None,
) -> Provider | None:
    """The provider that packs the requests of ``call`` (``missing``, by memo key), or None
    when they are sent one per call."""
    requests = list(missing.values())
    capabilities = provider.capabilities
    rows = rows_per_pack(
        setting, call, capabilities.task, capabilities.scored_completions, requests
    )
    if rows < 2:
        return None
    schema, json_answer = answer_schema(call.parameters, call.return_ddl)
    keys = {id(request): key for key, request in missing.items()}
    return PackingProvider(provider, rows, keys, schema, json_answer, stats, check)
