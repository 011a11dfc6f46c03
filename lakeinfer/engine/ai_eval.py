"""Answers the requests of one ``ai_query`` call site, as Arrow arrays.

Within one statement identical requests (same endpoint, request, returnType and parameters) cost
one call, NULL requests make no call and give NULL, and answers keep the order of the input.
Before calling, answers are looked up in the persistent response cache (unless
``lakeinfer.cache`` is false) and the token budget is checked; new answers are cached as they
arrive. Under ``failOnError => true`` the first row that fails (an error after its retries, or
an answer that cannot be cast to ``returnType``) fails the statement as soon as it arrives,
naming endpoint and row: no more requests are sent and those in flight are cancelled. Under
``false`` each row gets ``STRUCT<result, errorMessage>``. Whatever stops a statement, the calls
it made are counted.

Answers to a JSON ``response_format`` are checked against it; one that does not fit is asked
for once more and then becomes that row's error. Task functions (``ai_summarize``, ...) are
answered by the session's task endpoint and finished into their result type here.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lakeinfer.endpoints.base import AIRequest, Outcome, Provider
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine.structured_output import bounded_parameters, check_answer, retry_payload
from lakeinfer.errors import (
    AnalysisError,
    BudgetExceededError,
    EndpointError,
)
from lakeinfer.runtime.cache import ResponseCache, cache_keys
from lakeinfer.runtime.cancel import CancelToken
from lakeinfer.runtime.loop import BackgroundLoop
from lakeinfer.runtime.progress import Progress, ProgressObserver
from lakeinfer.settings import Settings
from lakeinfer.sql.functions import DEFAULT_TEMPERATURE, AiQueryCall
from lakeinfer.sql.task_specs import AnswerError
from lakeinfer.sql.types import ddl_to_arrow

if TYPE_CHECKING:
    from lakeinfer.engine.batch_mode import BatchRun
    from lakeinfer.engine.batch_records import BatchRecords
    from lakeinfer.runtime.scheduler import CallStats

CHARS_PER_TOKEN = 4


def _new_stats() -> CallStats:
    # the scheduler (and asyncio with it) loads when a statement first counts model calls
    from lakeinfer.runtime.scheduler import CallStats

    return CallStats()


@dataclass
class EndpointUsage:
    """What one statement cost at one endpoint: ``stats`` of the online calls, ``batch`` of
    the requests answered through the batch API (``batch_ids``)."""

    stats: CallStats = field(default_factory=_new_stats)
    cache_hits: int = 0
    batch: CallStats = field(default_factory=_new_stats)
    batch_ids: list[str] = field(default_factory=list)


class AiEvaluator:
    """Per-statement memo, cache, budget and accounting around the endpoint registry."""

    def __init__(
        self,
        registry: EndpointRegistry,
        loop: BackgroundLoop,
        settings: Settings,
        cache: Callable[[], ResponseCache] | None = None,
        progress: bool | None = None,
        observer: ProgressObserver | None = None,
        cancel: CancelToken | None = None,
        batches: BatchRecords | None = None,
    ):
        self.registry = registry
        self.loop = loop
        self.settings = settings
        self._cache_factory = cache
        self.cache: ResponseCache | None = None
        self.progress = progress
        self.observer = observer  # told of every answer (live views)
        self.cancel = cancel  # stops the calls of this statement when set
        #: where submitted batches are recorded (None: batch mode is not used)
        self.batches = batches
        #: the statement writes a table (CREATE TABLE AS, INSERT): batch_mode 'auto' applies
        self.accepts_latency = False
        #: the statement's text, kept in the records of its batches
        self.sql: str | None = None
        self.usage: dict[str, EndpointUsage] = {}
        #: rows for system.ai.inference_log (endpoints with log_requests = true)
        self.log_rows: list[dict[str, Any]] = []
        self._memo: dict[Hashable, Outcome] = {}
        self._lock = threading.Lock()
        self._tokens_spent = 0
        self._bars: dict[str, Progress] = {}

    # -- accounting ------------------------------------------------------------------------
    @property
    def stats(self) -> CallStats:
        """All endpoints together."""
        total = _new_stats()
        for usage in self.usage.values():
            total.add(usage.stats)
            total.add(usage.batch)
        return total

    def stream_rows(self) -> int | None:
        """Rows a statement with AI calls reads at a time when batch mode may answer them (a
        table is written and batch mode is on somewhere): many, so they make few large
        batches; None: the default."""
        if self.batches is None or not self.accepts_latency:
            return None
        from lakeinfer.engine.batch_mode import STATEMENT_ROWS, may_use_batch

        return STATEMENT_ROWS if may_use_batch(self.settings, self.registry) else None

    @property
    def cache_hits(self) -> int:
        return sum(u.cache_hits for u in self.usage.values())

    def resolve(self, call: AiQueryCall) -> AiQueryCall:
        """``call`` with its endpoint: a task function's is the session's
        ``lakeinfer.task_endpoint`` (``lakeinfer.embedding_endpoint`` for ai_similarity).
        On an endpoint that scores completions, a task function with a scored recipe uses it."""
        if call.task is None or call.endpoint:
            return call
        similarity = call.task.kind == "similarity"
        setting = "embedding_endpoint" if similarity else "task_endpoint"
        endpoint = self.settings.get(setting)
        wanted = "embeddings" if similarity else "chat"
        kind = self.registry.task_of(endpoint)
        if kind != wanted:
            raise AnalysisError(
                f"{call.task.function}: lakeinfer.{setting} = {endpoint!r} is a {kind} "
                f"endpoint; it must be a {wanted} endpoint (SET lakeinfer.{setting} = '<name>')"
            )
        scored = call.task.scored
        if (
            scored is not None
            and self.settings.get("task_scoring")
            and self.registry.scores_completions(endpoint)
        ):
            parameters = {"temperature": DEFAULT_TEMPERATURE, **scored.parameters}
            return replace(call, endpoint=endpoint, task=scored, parameters=parameters)
        return replace(call, endpoint=endpoint)

    def task_of(self, call: AiQueryCall) -> str:
        return self.registry.task_of(self.resolve(call).endpoint)

    def result_type(self, call: AiQueryCall) -> pa.DataType:
        """The Arrow type of a successful answer: ``returnType``, else STRING for chat and
        ARRAY<FLOAT> for embeddings, else the custom endpoint's own (its model signature)."""
        call = self.resolve(call)
        task = self.task_of(call)
        if call.return_ddl is not None or task != "custom":
            return call.result_type(task)
        ddl = self.registry.return_ddl_of(call.endpoint)
        if ddl is None:
            raise AnalysisError(
                f"ai_query: endpoint {call.endpoint!r} serves a custom model without a "
                f"signature, so returnType is required, e.g. "
                f"ai_query('{call.endpoint}', request, returnType => 'DOUBLE')"
            )
        return ddl_to_arrow(ddl)

    def output_type(self, call: AiQueryCall) -> pa.DataType:
        """The SQL type of the call: the result, or STRUCT<result, errorMessage>."""
        result = self.result_type(call)
        if call.fail_on_error:
            return result
        return pa.struct([pa.field("result", result), pa.field("errorMessage", pa.string())])

    # -- answering -------------------------------------------------------------------------
    def answer(
        self,
        call: AiQueryCall,
        requests: pa.Array | pa.ChunkedArray,
        row_offset: int = 0,
        json_requests: bool = False,
    ) -> pa.Array:
        """Answer each element of ``requests``; returns an array of :meth:`output_type`.

        Only the distinct requests become Python objects (dictionary encoding); answers are
        mapped back to rows in Arrow, so repeated requests cost neither calls nor memory.
        ``json_requests``: the requests are JSON texts of the real values (structs passed
        through DuckDB functions), decoded before they are sent.
        """
        call = self.resolve(call)
        task = self.task_of(call)
        self.result_type(call)  # a custom model without signature or returnType fails here
        if isinstance(requests, pa.ChunkedArray):
            requests = requests.combine_chunks()
        if call.task is not None and call.task.kind == "similarity":
            return self._similarity(call, requests, row_offset)
        distinct, indices = _distinct(requests)
        if json_requests:
            distinct = [None if v is None else json.loads(v) for v in distinct]
        prefix = call.cache_key_prefix()
        keys = [(prefix, _request_key(value)) for value in distinct]
        # DuckDB may call from several threads; one batch at a time keeps dedup exact
        with self._lock:
            missing: dict[Hashable, AIRequest] = {}
            originals: dict[Hashable, Any] = {}
            for key, value in zip(keys, distinct, strict=True):
                if key not in self._memo and key not in missing:
                    try:
                        payload = _task_payload(call, value, task)
                    except AnswerError as exc:  # a row the function cannot ask (bad to_lang)
                        self._memo[key] = Outcome(error=str(exc))
                        continue
                    parameters = bounded_parameters(call.parameters, value, call.task is not None)
                    missing[key] = AIRequest(payload, parameters)
                    originals[key] = value
            if missing:
                fail_fast = None
                if call.fail_on_error:
                    fail_fast = self._fail_fast(call, originals, keys, indices, row_offset)
                self._resolve(call, missing, _checker(call, originals), fail_fast)
            outcomes = [self._memo[key] for key in keys]
            if self._cache_usable(call):
                # answers are in the response cache now, so a repeat in a later batch of the
                # statement is a cache hit; the memo keeps only failures (never cached), and
                # memory stays bounded by a batch rather than the whole result
                memo = self._memo
                for key, outcome in zip(keys, outcomes, strict=True):
                    if outcome.error is None:
                        memo.pop(key, None)
        return self._to_array(call, task, outcomes, indices, row_offset, distinct)

    def _fail_fast(
        self,
        call: AiQueryCall,
        originals: dict[Hashable, Any],
        keys: list[Hashable],
        rows: pa.Array,
        row_offset: int,
    ) -> Callable[[Hashable, Outcome], None]:
        """What raises, as soon as it arrives, the first answer that would fail the statement
        (an error, or a value that does not fit the result type), naming its first row."""
        import pyarrow.compute as pc  # loaded on use: it is slow to import

        result_type = self.result_type(call)

        def check(key: Hashable, outcome: Outcome) -> None:
            _, error = _finish(call, result_type, outcome, originals.get(key))
            if error is not None:
                index = keys.index(key)
                row = pc.index(rows, pa.scalar(index, rows.type)).as_py()
                raise EndpointError(call.endpoint, error, row=row_offset + row + 1)

        return check

    def _similarity(self, call: AiQueryCall, requests: pa.Array, row_offset: int) -> pa.Array:
        """ai_similarity: both texts embedded by the embeddings endpoint (deduplicated, cached
        like any request), then the cosine of each pair; identical texts are 1.0."""
        distinct, indices = _distinct(requests)
        pairs = [json.loads(value) for value in distinct]
        texts = list(
            dict.fromkeys(t for p in pairs if p["expr1"] != p["expr2"] for t in p.values())
        )
        embed = AiQueryCall(node=call.node, endpoint=call.endpoint, request=call.request)
        vectors: dict[str, np.ndarray] = {}
        if texts:
            answers = self.answer(embed, pa.array(texts, pa.string()), row_offset)
            for text, vector in zip(texts, answers.to_pylist(), strict=True):
                vectors[text] = np.asarray(vector, dtype=np.float64)
        scores: list[float | None] = []
        for pair in pairs:
            if pair["expr1"] == pair["expr2"]:
                scores.append(1.0)
                continue
            a, b = vectors[pair["expr1"]], vectors[pair["expr2"]]
            norm = float(np.linalg.norm(a) * np.linalg.norm(b))
            scores.append(None if norm == 0.0 else float(np.clip(a @ b / norm, -1.0, 1.0)))
        return pa.array(scores, type=pa.float32()).take(indices)

    def _resolve(
        self,
        call: AiQueryCall,
        missing: dict[Hashable, AIRequest],
        check: Callable[[Hashable, Any], str | None] | None = None,
        fail_fast: Callable[[Hashable, Outcome], None] | None = None,
    ) -> None:
        """Put an outcome for each of ``missing`` in the memo: from the response cache, else
        from the endpoint, within the token budget; ``check`` says why an answer does not fit
        the response format (it is asked once more), ``fail_fast`` raises on the first answer
        that fails the statement."""
        endpoint = call.endpoint
        usage = self.usage.setdefault(endpoint, EndpointUsage())
        cache_keys = self._answer_from_cache(call, missing, usage)
        if not missing:
            return
        self._check_budget(missing)
        provider = self.registry.get(endpoint)
        limits = self.settings.limits(endpoint, self.registry.limits_of(endpoint))
        # prompt packing: several rows per request when lakeinfer.pack_rows asks for it
        from lakeinfer.engine.packing import packer

        pack_rows = self.settings.get("pack_rows")
        sender = packer(pack_rows, call, provider, missing, usage.stats, check) or provider
        feed = _BudgetedFeed(self, self._call_order(sender, missing))
        record = _Recorder(
            self,
            endpoint,
            missing,
            cache_keys,
            check=check,
            fail_fast=fail_fast,
            log=self.registry.logs_requests(endpoint),
            bar=self._bar(endpoint, len(feed.items)),
        )

        # the usage is counted into as calls are made, so a statement that is stopped,
        # cancelled or interrupted (Ctrl-C) still records what it cost
        def call_endpoint(sender: Provider) -> None:
            from lakeinfer.runtime.scheduler import pacer_for, run_requests

            pacer = pacer_for(provider, limits)  # a packing sender paces as its endpoint
            self.loop.run(
                run_requests(
                    sender,
                    feed(),
                    record,
                    limits=limits,
                    pacer=pacer,
                    cancel=self.cancel,
                    stats=usage.stats,
                )
            )

        try:
            batch = self._batch_run(call, provider, usage, record.bar, len(feed.items))
            if batch is not None:
                try:
                    feed.items = self.loop.run(batch.run(feed.items, record))
                finally:
                    usage.batch_ids += batch.batch_ids
            call_endpoint(sender)
            if record.retry and not feed.stopped:
                feed.items = record.take_retries()
                call_endpoint(provider)
        finally:
            if self.cache is not None:
                self.cache.flush()
        if feed.stopped:
            raise BudgetExceededError(
                f"the statement used {self._tokens_spent} tokens, over "
                f"lakeinfer.budget_tokens = {feed.budget}; it was stopped and nothing was "
                f"written (answers received so far are cached)"
            )

    def _batch_run(
        self, call: AiQueryCall, provider: Provider, usage: EndpointUsage, bar: Progress, n: int
    ) -> BatchRun | None:
        """The batch run for ``n`` uncached requests of ``call``, when batch mode applies."""
        from lakeinfer.engine.batch_mode import BatchRun, uses_batch

        if self.batches is None or not uses_batch(
            self.settings, self.registry, call.endpoint, provider, n, self.accepts_latency
        ):
            return None
        api = provider.batch_api()
        assert api is not None
        return BatchRun(
            api,
            self.batches,
            endpoint=call.endpoint,
            identity=self.registry.identity_of(call.endpoint),
            settings=self.settings,
            stats=usage.batch,
            bar=bar,
            cancel=self.cancel,
            statement=self.sql,
        )

    def _answer_from_cache(
        self, call: AiQueryCall, missing: dict[Hashable, AIRequest], usage: EndpointUsage
    ) -> dict[Hashable, str]:
        """Move the requests the response cache answers from ``missing`` to the memo; returns
        the cache key of each request (empty when the cache is not used for ``call``)."""
        keys = self._cache_keys(call, missing)
        wanted = len(missing)
        if keys:
            for memo_key, answer in self._cached(keys).items():
                self._memo[memo_key] = Outcome(value=answer.value)
                del missing[memo_key]
                usage.cache_hits += 1
        if self.observer is not None:
            self.observer.on_requests(call.endpoint, wanted, wanted - len(missing))
        return keys

    def _call_order(
        self, provider: Provider, missing: dict[Hashable, AIRequest]
    ) -> list[tuple[Hashable, AIRequest]]:
        """The requests in the order to send them: grouped by shared prefix when the runtime
        caches prompts (so its prompt cache hits), else as they came."""
        items = list(missing.items())
        if provider.capabilities.prefix_caching and self.settings.get("prefix_ordering"):
            items = provider.arrange(items)
        return items

    def _bar(self, endpoint: str, requests: int) -> Progress:
        """The statement's progress bar for ``endpoint``, grown by ``requests`` (one bar
        across the batches of a streamed statement)."""
        bar = self._bars.get(endpoint)
        if bar is None:
            bar = Progress(requests, f"ai_query {endpoint}", self.progress)
            self._bars[endpoint] = bar
        else:
            bar.grow(requests)
        return bar

    def close(self) -> None:
        """Close the progress bars; called once the statement is over."""
        bars, self._bars = list(self._bars.values()), {}
        for bar in bars:
            bar.close()

    def preview(self, call: AiQueryCall, requests: pa.Array | pa.ChunkedArray) -> dict[str, int]:
        """What answering ``requests`` would take, without calling anything: rows, distinct
        requests, how many are cached, the calls the rest take (fewer when prompt packing
        would pack them ``pack_rows`` per call) and their estimated input/output tokens."""
        task = self.task_of(call)
        call = self.resolve(call)
        values = requests.to_pylist()
        distinct: dict[Hashable, AIRequest] = {}
        for value in values:
            if value is not None:
                try:
                    payload = _task_payload(call, value, task)
                except AnswerError:
                    continue
                distinct.setdefault(_request_key(value), AIRequest(payload, call.parameters))
        keys = self._cache_keys(call, distinct)
        hits = self._cached(keys) if keys else {}
        uncached = [request for key, request in distinct.items() if key not in hits]
        tokens_in, calls, pack_rows = input_tokens(uncached), len(uncached), 1
        setting = self.settings.get("pack_rows")
        if setting not in (None, 1) and task == "chat":
            from lakeinfer.engine.packing import planned_packs, rows_per_pack

            scores = self.registry.scores_completions(call.endpoint)
            pack_rows = rows_per_pack(setting, call, task, scores, uncached)
            if pack_rows > 1:
                calls, tokens_in = planned_packs(pack_rows, uncached)
        return {
            "rows": len(values),
            "distinct": len(distinct),
            "cached": len(hits),
            "calls": calls,
            "pack_rows": pack_rows,
            "input_tokens": tokens_in,
            "output_tokens": output_tokens(uncached, self.settings.get("default_max_tokens")),
        }

    def cost_note(self, call: AiQueryCall, preview: dict[str, int]) -> tuple[str, float, float]:
        """What EXPLAIN adds about a call's batch mode and price, from its :meth:`preview`
        (empty when batch mode is off and no price is configured); with the estimated USD
        online and at the price it would be answered at (0.0 unpriced)."""
        from lakeinfer.engine.batch_mode import mode_of, uses_batch

        endpoint = self.resolve(call).endpoint
        tokens_in, tokens_out = preview["input_tokens"], preview["output_tokens"]
        mode = mode_of(self.settings, self.registry, endpoint)
        parts, batched = [], False
        if mode != "off" and self.task_of(call) == "chat":
            provider = self.registry.get(endpoint)
            to_call = preview["distinct"] - preview["cached"]
            batched = uses_batch(
                self.settings, self.registry, endpoint, provider, to_call, self.accepts_latency
            )
            parts.append(f"batch mode {mode}: {'batch' if batched else 'online'}")
        price_in, price_out = self.registry.prices_of(endpoint)
        if price_in is None and price_out is None:
            return "; ".join(parts), 0.0, 0.0
        batch_in, batch_out = self.registry.batch_prices_of(endpoint)
        online = tokens_in / 1e6 * (price_in or 0.0) + tokens_out / 1e6 * (price_out or 0.0)
        batch = tokens_in / 1e6 * (batch_in or 0.0) + tokens_out / 1e6 * (batch_out or 0.0)
        if parts:
            parts.append(f"price online ~${online:.4f}, batch ~${batch:.4f}")
        else:
            parts.append(f"price ~${online:.4f}")
        return "; ".join(parts), online, batch if batched else online

    def _cache_usable(self, call: AiQueryCall) -> bool:
        """Whether answers of ``call`` are looked up in and written to the response cache."""
        if self._cache_factory is None or not self.settings.get("cache"):
            return False
        if not self.registry.cacheable(call.endpoint):
            return False
        temperature = call.parameters.get("temperature", 0.0)
        return not temperature or bool(self.settings.get("cache_nonzero_temperature"))

    def _cache_keys(
        self, call: AiQueryCall, missing: dict[Hashable, AIRequest]
    ) -> dict[Hashable, str]:
        if not self._cache_usable(call):
            return {}
        if self.cache is None:
            assert self._cache_factory is not None
            self.cache = self._cache_factory()
        identity = self.registry.identity_of(call.endpoint)
        hashed = cache_keys(
            call.endpoint,
            identity,
            (request.payload for request in missing.values()),
            call.parameters,
        )
        return dict(zip(missing, hashed, strict=True))

    def _cached(self, keys: dict[Hashable, str]) -> dict[Hashable, Any]:
        assert self.cache is not None
        found = self.cache.get_many(keys.values())
        return {memo_key: found[k] for memo_key, k in keys.items() if k in found}

    def _check_budget(self, missing: dict[Hashable, AIRequest]) -> None:
        budget = self.settings.get("budget_tokens")
        if budget is None:
            return
        estimate = estimate_tokens(missing.values(), self.settings.get("default_max_tokens"))
        if self._tokens_spent + estimate > budget:
            raise BudgetExceededError(
                f"{len(missing)} requests are estimated at {estimate} tokens "
                f"(input by characters/{CHARS_PER_TOKEN}, output by max_tokens), over "
                f"lakeinfer.budget_tokens = {budget}; no model was called. Raise the budget "
                f"(SET lakeinfer.budget_tokens = N), add a LIMIT, or set max_tokens"
            )

    # -- results ---------------------------------------------------------------------------
    def _to_array(
        self,
        call: AiQueryCall,
        task: str,
        outcomes: list[Outcome],
        rows: pa.Array,
        row_offset: int,
        requests: list[Any] | None = None,
    ) -> pa.Array:
        """Answers of the distinct requests, ``take``n into row order (NULL rows stay NULL)."""
        import pyarrow.compute as pc  # loaded on use: it is slow to import

        result_type = self.result_type(call)
        results: list[Any] = []
        errors: list[str | None] = []
        for index, outcome in enumerate(outcomes):
            request = requests[index] if requests else None
            value, error = _finish(call, result_type, outcome, request)
            if error is not None and call.fail_on_error:
                row = pc.index(rows, pa.scalar(index, rows.type)).as_py()
                raise EndpointError(call.endpoint, error, row=row_offset + row + 1)
            results.append(value if error is None else None)
            errors.append(error)
        result_array = pa.array(results, type=result_type).take(rows)
        if call.fail_on_error:
            return result_array
        error_array = pa.array(errors, type=pa.string()).take(rows)
        return pa.StructArray.from_arrays(
            [result_array, error_array], names=["result", "errorMessage"]
        )


class _BudgetedFeed:
    """The requests to send, cut off once the statement's tokens pass
    ``lakeinfer.budget_tokens`` (``stopped`` then says so)."""

    def __init__(self, evaluator: AiEvaluator, items: list[tuple[Hashable, AIRequest]]):
        self.evaluator = evaluator
        self.items = items
        self.budget = evaluator.settings.get("budget_tokens")
        self.stopped = False

    def __call__(self) -> Iterator[tuple[Hashable, AIRequest]]:
        for item in self.items:
            if self.budget is not None and self.evaluator._tokens_spent > self.budget:
                self.stopped = True
                return
            yield item


class _Recorder:
    """Takes each outcome as it arrives: an answer that does not fit the response format is
    set aside to be asked once more (then it is the row's error); every other outcome goes to
    the memo, the token count, the response cache, the request log, the progress bar and the
    observer, and then to the fail-fast check."""

    def __init__(
        self,
        evaluator: AiEvaluator,
        endpoint: str,
        requests: dict[Hashable, AIRequest],
        cache_keys: dict[Hashable, str],
        *,
        check: Callable[[Hashable, Any], str | None] | None,
        fail_fast: Callable[[Hashable, Outcome], None] | None,
        log: bool,
        bar: Progress,
    ):
        self.evaluator = evaluator
        self.endpoint = endpoint
        self.requests = requests
        self.cache_keys = cache_keys
        self.check = check
        self.fail_fast = fail_fast
        self.log = log
        self.bar = bar
        #: answers that did not fit the response format, to ask once more
        self.retry: dict[Hashable, AIRequest] = {}
        #: the requests asked again, with the reason
        self.retried: dict[Hashable, str] = {}

    def take_retries(self) -> list[tuple[Hashable, AIRequest]]:
        items = list(self.retry.items())
        self.retry.clear()
        return items

    def __call__(self, key: Hashable, outcome: Outcome) -> None:
        if outcome.ok and self.check is not None:
            fitted = self._fit(key, outcome)
            if fitted is None:
                return  # asked again
            outcome = fitted
        self._keep(key, outcome)

    def _fit(self, key: Hashable, outcome: Outcome) -> Outcome | None:
        """``outcome`` if its answer fits the response format; None when it is to be asked
        again; else the outcome turned into an error."""
        assert self.check is not None
        reason = self.check(key, outcome.value)
        if reason is None:
            return outcome
        self.evaluator._tokens_spent += outcome.prompt_tokens + outcome.completion_tokens
        request = self.requests[key]
        payload = None if key in self.retried else retry_payload(request.payload, reason)
        if payload is not None:
            self.retry[key] = AIRequest(payload, request.parameters)
            self.retried[key] = reason
            return None
        again = " after a retry" if key in self.retried else ""
        return replace(
            outcome,
            value=None,
            error=f"the answer does not fit the response format{again}: {reason}",
        )

    def _keep(self, key: Hashable, outcome: Outcome) -> None:
        evaluator = self.evaluator
        evaluator._memo[key] = outcome
        evaluator._tokens_spent += outcome.prompt_tokens + outcome.completion_tokens
        if outcome.ok and key in self.cache_keys and key not in self.retried:
            assert evaluator.cache is not None
            evaluator.cache.put(
                self.cache_keys[key],
                self.endpoint,
                outcome.value,
                outcome.prompt_tokens,
                outcome.completion_tokens,
            )
        if self.log:
            evaluator.log_rows.append(_log_row(self.endpoint, self.requests[key], outcome))
        self.bar.advance(outcome.ok)
        if evaluator.observer is not None:
            evaluator.observer.on_outcome(self.endpoint, outcome)
        if self.fail_fast is not None:
            self.fail_fast(key, outcome)  # raises: the run stops


def input_tokens(requests: Iterable[AIRequest]) -> int:
    """Estimated input tokens: characters / 4 (no tokenizer is assumed)."""
    total = 0
    for request in requests:
        text = request.payload if isinstance(request.payload, str) else json.dumps(request.payload)
        total += math.ceil(len(text) / CHARS_PER_TOKEN)
    return total


def output_tokens(requests: Iterable[AIRequest], default_max_tokens: int) -> int:
    """Output tokens reserved: each request's ``max_tokens``, else the default."""
    return sum(int(r.parameters.get("max_tokens") or default_max_tokens) for r in requests)


def estimate_tokens(requests: Iterable[AIRequest], default_max_tokens: int) -> int:
    """Input plus output tokens of ``requests`` (see :func:`input_tokens`, :func:`output_tokens`)."""
    requests = list(requests)
    return input_tokens(requests) + output_tokens(requests, default_max_tokens)


def _log_row(endpoint: str, request: AIRequest, outcome: Outcome) -> dict[str, Any]:
    return {
        "logged_at": time.time(),
        "endpoint": endpoint,
        "request": request.payload
        if isinstance(request.payload, str)
        else json.dumps(request.payload),
        "response": None
        if outcome.value is None
        else outcome.value
        if isinstance(outcome.value, str)
        else json.dumps(outcome.value),
        "error": outcome.error,
        "status": "OK" if outcome.ok else "ERROR",
        "attempts": outcome.attempts,
        "latency_ms": round(outcome.latency_s * 1000.0, 3),
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
    }


def _request_key(value: Any) -> Hashable:
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _distinct(requests: pa.Array) -> tuple[list[Any], pa.Array]:
    """The distinct values of ``requests`` and, per row, the index of its value (NULL rows get
    a NULL index). Dictionary encoding where Arrow has it; structs and lists by their JSON."""
    import pyarrow.compute as pc  # loaded on use: it is slow to import

    try:
        encoded = pc.dictionary_encode(requests)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        values: list[Any] = []
        seen: dict[Hashable, int] = {}
        indices: list[int | None] = []
        for value in requests.to_pylist():
            if value is None:
                indices.append(None)
                continue
            key = _request_key(value)
            if key not in seen:
                seen[key] = len(values)
                values.append(value)
            indices.append(seen[key])
        return values, pa.array(indices, type=pa.int32())
    return encoded.dictionary.to_pylist(), encoded.indices


def _task_payload(call: AiQueryCall, value: Any, task: str) -> Any:
    """The request sent for ``value``: a task function's prompt, else the value itself."""
    if call.task is not None and call.task.kind == "similarity":
        return value  # both texts (embedded separately; estimates count one request)
    if call.task is not None:
        return call.task.prompt(value if isinstance(value, str) else json.dumps(value))
    return _payload(value, task)


def _checker(
    call: AiQueryCall, originals: dict[Hashable, Any]
) -> Callable[[Hashable, Any], str | None] | None:
    """Why an answer is unusable (None: it is fine): the response format's check, and for a
    task function whether its result can be made from the answer."""
    response_format = call.parameters.get("response_format")
    spec = call.task
    if spec is None and not isinstance(response_format, dict):
        return None

    def check(key: Hashable, answer: Any) -> str | None:
        if spec is not None:
            try:
                spec.finish(answer, originals.get(key, ""))
            except AnswerError as exc:
                return str(exc)
            except (ValueError, KeyError, TypeError) as exc:
                return f"{type(exc).__name__}: {exc}"
            return None  # the task parses leniently; its own checks decide
        return check_answer(response_format, answer)

    return check


def _payload(value: Any, task: str) -> Any:
    if isinstance(value, str) or task == "custom":
        return _plain_request(value)
    raise AnalysisError(
        f"the request of a {task} endpoint must be a STRING, got {type(value).__name__}"
    )


def _plain_request(value: Any) -> Any:
    """Decimals as floats, dates and times as ISO text: what a model and JSON can take."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain_request(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_request(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _finish(
    call: AiQueryCall, result_type: pa.DataType, outcome: Outcome, request: Any
) -> tuple[Any, str | None]:
    """A row's value and error from its answer: a task function's result made from the answer,
    then the value fitted to the call's result type."""
    value, error = outcome.value, outcome.error
    spec = call.task
    if spec is not None:
        if error is None:
            try:
                value = spec.finish(value, request if request is not None else "")
            except AnswerError as exc:
                error = str(exc)
        if error is not None and spec.errors_in_result:
            value, error = spec.error_value(error), None
        elif error is not None:
            error = f"{spec.function}: {error}"
    if error is None:
        value, error = _convert(value, result_type, call.return_ddl)
    return value, error


def _convert(value: Any, target: pa.DataType, ddl: str | None) -> tuple[Any, str | None]:
    """Fit a model answer to the call's type; a failed cast is a per-row error."""
    if pa.types.is_string(target):
        return (value if isinstance(value, str) or value is None else json.dumps(value)), None
    candidate = value
    if isinstance(value, str):
        try:
            candidate = json.loads(value)
        except json.JSONDecodeError:
            candidate = value
    try:
        pa.array([candidate], type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        shown = value if len(str(value)) < 200 else str(value)[:200] + "..."
        return None, f"cannot cast the model's answer {shown!r} to {ddl or target}"
    return candidate, None
