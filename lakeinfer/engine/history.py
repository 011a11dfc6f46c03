"""What each AI statement cost, recorded where users can query it with SQL.

``system.ai.query_history``: one row per statement that called (or would have called) a model:
requests, calls, cache hits, retries, throttled and timed-out calls, errors, tokens, wall time,
estimated cost, status; what prompt packing did (packed calls and rows, prompt tokens saved)
and what went through a batch API (requests, batches, and the cost at the online price).
``system.ai.inference_log``: one row per request, for endpoints with ``log_requests = true``.
Both are ordinary Delta tables in the lakehouse, appended with one commit per statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName, declare_system_table
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.redaction import redact

if TYPE_CHECKING:
    from lakeinfer.runtime.scheduler import CallStats

HISTORY_TABLE = TableName("system", "ai", "query_history")
LOG_TABLE = TableName("system", "ai", "inference_log")

HISTORY_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("duration_s", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("statement", pa.string()),
        ("endpoints", pa.list_(pa.string())),
        ("requests", pa.int64()),
        ("calls", pa.int64()),
        ("cache_hits", pa.int64()),
        ("retries", pa.int64()),
        ("errors", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("estimated_cost_usd", pa.float64()),
        # added later: a history table written by older versions gains them on its next write
        ("throttled", pa.int64()),
        ("timeouts", pa.int64()),
        ("packed_calls", pa.int64()),
        ("packed_rows", pa.int64()),
        ("prompt_tokens_saved", pa.int64()),
        ("batch_requests", pa.int64()),
        ("batches", pa.int64()),
        ("online_cost_usd", pa.float64()),
    ]
)

LOG_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("logged_at", pa.timestamp("us", tz="UTC")),
        ("endpoint", pa.string()),
        ("request", pa.string()),
        ("response", pa.string()),
        ("error", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int64()),
        ("latency_ms", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
    ]
)

declare_system_table(HISTORY_TABLE, HISTORY_SCHEMA)
declare_system_table(LOG_TABLE, LOG_SCHEMA)


@dataclass
class StatementStats:
    """What the AI calls of one statement cost."""

    sql: str
    ai: CallStats
    seconds: float
    cache_hits: int = 0
    cost_usd: float | None = None
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "FINISHED"
    #: requests answered through the provider's batch API, and in how many batches
    batch_requests: int = 0
    batches: int = 0
    #: what the same tokens cost at the online price (set when some went in a batch)
    online_cost_usd: float | None = None

    def summary(self) -> str:
        """The one-line summary printed after a statement."""
        ai = self.ai
        parts = [
            f"{ai.requests + self.cache_hits} requests",
            f"{ai.calls} calls",
            *(
                [
                    f"{self.batch_requests} in {self.batches} batch{'es' if self.batches != 1 else ''}"
                ]
                if self.batches
                else []
            ),
            f"{self.cache_hits} cached",
            f"{ai.retries} retries",
            *([f"{ai.throttled} throttled"] if ai.throttled else []),
            *([f"{ai.timeouts} timeouts"] if ai.timeouts else []),
            f"{ai.errors} errors",
            f"{ai.prompt_tokens} in + {ai.completion_tokens} out tokens",
            # prompt tokens the endpoint answered from its own prompt cache (shared prefixes)
            *([f"{ai.cached_tokens} in from the prompt cache"] if ai.cached_tokens else []),
            *([_packing(ai)] if ai.packed_calls else []),
        ]
        if self.cost_usd is not None:
            cost = f"~${self.cost_usd:.4f}"
            if self.online_cost_usd is not None:
                cost += f" (online price ~${self.online_cost_usd:.4f})"
            parts.append(cost)
        parts.append(f"{self.seconds:.1f}s")
        return "ai: " + ", ".join(parts)


def _packing(ai: CallStats) -> str:
    """What prompt packing did: rows per packed call, rows sent again alone, tokens saved."""
    again = f", {ai.pack_splits} sent again alone" if ai.pack_splits else ""
    return (
        f"{ai.packed_rows} rows in {ai.packed_calls} packed calls{again}, "
        f"~{ai.prompt_tokens_saved} prompt tokens saved"
    )


def statement_stats(
    sql: str, evaluator: AiEvaluator, registry: EndpointRegistry, seconds: float, status: str
) -> StatementStats:
    cost: float | None = None
    online: float | None = None
    batch_requests = batches = 0
    for endpoint, usage in evaluator.usage.items():
        batch_requests += usage.batch.requests
        batches += len(set(usage.batch_ids))
        price_in, price_out = registry.prices_of(endpoint)
        if price_in is None and price_out is None:
            continue
        batch_in, batch_out = registry.batch_prices_of(endpoint)
        spent = _priced(usage.stats, price_in, price_out) + _priced(
            usage.batch, batch_in, batch_out
        )
        cost = (cost or 0.0) + spent
        if usage.batch.requests:
            at_online = _priced(usage.stats, price_in, price_out)
            at_online += _priced(usage.batch, price_in, price_out)
            online = (online or 0.0) + at_online
    return StatementStats(
        sql,
        evaluator.stats,
        seconds,
        evaluator.cache_hits,
        cost,
        status=status,
        batch_requests=batch_requests,
        batches=batches,
        online_cost_usd=online,
    )


def _priced(stats: CallStats, price_in: float | None, price_out: float | None) -> float:
    return stats.prompt_tokens / 1e6 * (price_in or 0.0) + stats.completion_tokens / 1e6 * (
        price_out or 0.0
    )


def record(
    catalog: DeltaCatalog,
    stats: StatementStats,
    evaluator: AiEvaluator,
    started_at: dt.datetime,
    error: str | None,
) -> None:
    """Append the statement to the query history (and its requests to the inference log)."""
    catalog.create_schema(HISTORY_TABLE.catalog, HISTORY_TABLE.schema, if_not_exists=True)
    ai = stats.ai
    row = {
        "query_id": stats.query_id,
        "started_at": started_at,
        "duration_s": stats.seconds,
        "status": stats.status,
        "error": None if error is None else redact(error),
        "statement": redact(stats.sql),
        "endpoints": sorted(evaluator.usage),
        "requests": ai.requests + stats.cache_hits,
        "calls": ai.calls,
        "cache_hits": stats.cache_hits,
        "retries": ai.retries,
        "throttled": ai.throttled,
        "timeouts": ai.timeouts,
        "errors": ai.errors,
        "prompt_tokens": ai.prompt_tokens,
        "completion_tokens": ai.completion_tokens,
        "estimated_cost_usd": stats.cost_usd,
        "packed_calls": ai.packed_calls,
        "packed_rows": ai.packed_rows,
        "prompt_tokens_saved": ai.prompt_tokens_saved if ai.packed_calls else None,
        "batch_requests": stats.batch_requests,
        "batches": stats.batches,
        "online_cost_usd": stats.online_cost_usd,
    }
    history = pa.Table.from_pylist([row], schema=HISTORY_SCHEMA)
    catalog.write(HISTORY_TABLE, history, "append", merge_schema=True)
    if evaluator.log_rows:
        rows = [
            {
                **r,
                **{k: redact(r[k]) for k in ("request", "response", "error") if r[k]},
                "query_id": stats.query_id,
                "logged_at": dt.datetime.fromtimestamp(r["logged_at"], dt.UTC),
            }
            for r in evaluator.log_rows
        ]
        catalog.write(LOG_TABLE, pa.Table.from_pylist(rows, schema=LOG_SCHEMA), "append")
