"""Benchmark a chat endpoint at several concurrency levels.

For each level ``C``, exactly ``C`` clients send requests back to back (each waits for its answer
before sending the next) until ``requests`` have been sent, over one connection pool of ``C``
connections. Nothing is retried and nothing is cached: a 429 is counted as a 429, an error as an
error. Measured per level: requests/s and input/output tokens/s over the level's wall time,
latency percentiles (p50/p90/p99) of successful requests, and time to first token when the
endpoint streams (``"stream": true``; an endpoint that answers with plain JSON instead gets no
TTFT). Token counts come from the endpoint's ``usage``; where it reports none they are estimated
(characters / 4, or one token per streamed chunk) and the level says so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lakeinfer.endpoints import stale_connections
from lakeinfer.errors import AnalysisError
from lakeinfer.evaluation.metrics import percentile

CHARS_PER_TOKEN = 4
#: A level is healthy when none of its requests failed and at most this share were throttled.
MAX_BAD_SHARE = 0.01
#: The recommended level is the lowest that reaches this share of the best throughput.
TARGET_SHARE = 0.9


@dataclass(frozen=True)
class Target:
    """Where and how to send chat requests: the endpoint's URL, headers and body extras."""

    endpoint: str
    url: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One request's outcome."""

    latency_s: float
    status: int | None
    error: str | None = None
    ttft_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LevelResult:
    """What one concurrency level measured. Latencies in milliseconds."""

    concurrency: int
    requests: int
    ok: int
    errors: int
    throttled: int
    duration_s: float
    requests_per_s: float
    input_tokens_per_s: float
    output_tokens_per_s: float
    mean_input_tokens: float
    mean_output_tokens: float
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    latency_mean_ms: float | None
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    ttft_p99_ms: float | None
    streamed: bool
    tokens_estimated: bool
    error_examples: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        """Share of requests that failed (429s included)."""
        return (self.errors + self.throttled) / self.requests if self.requests else 1.0


def summarize(concurrency: int, samples: Sequence[Sample], duration_s: float) -> LevelResult:
    """Aggregate the samples of one level (``duration_s``: its wall time)."""
    ok = [s for s in samples if s.ok]
    throttled = sum(1 for s in samples if s.status == 429)
    errors = len(samples) - len(ok) - throttled
    latencies = [s.latency_s * 1000 for s in ok]
    ttfts = [s.ttft_s * 1000 for s in ok if s.ttft_s is not None]
    prompt = sum(s.prompt_tokens for s in ok)
    completion = sum(s.completion_tokens for s in ok)
    rate = 1 / duration_s if duration_s > 0 else 0.0
    examples = list(dict.fromkeys(s.error for s in samples if s.error))[:3]
    return LevelResult(
        concurrency=concurrency,
        requests=len(samples),
        ok=len(ok),
        errors=errors,
        throttled=throttled,
        duration_s=duration_s,
        requests_per_s=len(ok) * rate,
        input_tokens_per_s=prompt * rate,
        output_tokens_per_s=completion * rate,
        mean_input_tokens=prompt / len(ok) if ok else 0.0,
        mean_output_tokens=completion / len(ok) if ok else 0.0,
        latency_p50_ms=percentile(latencies, 50),
        latency_p90_ms=percentile(latencies, 90),
        latency_p99_ms=percentile(latencies, 99),
        latency_mean_ms=sum(latencies) / len(latencies) if latencies else None,
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p90_ms=percentile(ttfts, 90),
        ttft_p99_ms=percentile(ttfts, 99),
        streamed=bool(ttfts),
        tokens_estimated=any(s.estimated_tokens for s in ok),
        error_examples=[e for e in examples if e],
    )


def recommend(
    levels: Sequence[LevelResult], max_p99_ms: float | None = None
) -> tuple[int | None, str]:
    """The concurrency to run at, and why.

    Among healthy levels (no errors, at most 1% 429s, p99 latency within ``max_p99_ms`` when
    given), the lowest concurrency that reaches 90% of the best output tokens/s (requests/s when
    the endpoint reports no tokens): more clients past that point mostly add latency.
    """
    healthy = [
        level
        for level in levels
        if level.errors == 0
        and level.bad_share <= MAX_BAD_SHARE
        and (max_p99_ms is None or (level.latency_p99_ms or 0.0) <= max_p99_ms)
    ]
    if not healthy:
        limit = f" and p99 latency <= {max_p99_ms:g} ms" if max_p99_ms is not None else ""
        return None, f"no level ran without errors and with at most {MAX_BAD_SHARE:.0%} 429s{limit}"
    by_tokens = any(level.output_tokens_per_s > 0 for level in healthy)
    unit = "output tokens/s" if by_tokens else "requests/s"

    def metric(level: LevelResult) -> float:
        return level.output_tokens_per_s if by_tokens else level.requests_per_s

    best = max(healthy, key=metric)
    chosen = min(
        (level for level in healthy if metric(level) >= TARGET_SHARE * metric(best)),
        key=lambda level: level.concurrency,
    )
    return chosen.concurrency, (
        f"concurrency {chosen.concurrency}: {metric(chosen):,.1f} {unit}, the lowest level within "
        f"{TARGET_SHARE:.0%} of the best ({metric(best):,.1f} at concurrency {best.concurrency})"
        f" without errors and with at most {MAX_BAD_SHARE:.0%} 429s"
        + (f" and p99 <= {max_p99_ms:g} ms" if max_p99_ms is not None else "")
    )


async def send(
    client: aiohttp.ClientSession,
    target: Target,
    prompt: str,
    *,
    stream: bool,
    max_tokens: int | None,
) -> Sample:
    """One chat request, timed; never raises for endpoint or network failures."""
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0.0,
        **target.extra_body,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    started = time.perf_counter()
    try:
        async with await stale_connections.post(
            client, target.url, data=json.dumps(body)
        ) as response:
            if response.status >= 400:
                text = await response.text()
                return Sample(
                    time.perf_counter() - started,
                    response.status,
                    f"HTTP {response.status}: {' '.join(text.split())[:200]}",
                )
            if "text/event-stream" in response.headers.get("Content-Type", ""):
                return await _read_stream(response, prompt, started)
            data = json.loads(await response.text())
            elapsed = time.perf_counter() - started
            content = data["choices"][0]["message"]["content"] or ""
            return _with_tokens(
                Sample(elapsed, response.status), data.get("usage"), prompt, content, None
            )
    except TimeoutError:
        return Sample(time.perf_counter() - started, None, "timed out")
    except aiohttp.ClientError as exc:
        return Sample(time.perf_counter() - started, None, f"{exc.__class__.__name__}: {exc}")
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return Sample(time.perf_counter() - started, None, f"unexpected response: {exc}")


async def _read_stream(response: aiohttp.ClientResponse, prompt: str, started: float) -> Sample:
    ttft = None
    chunks = 0
    parts: list[str] = []
    usage = None
    async for raw in response.content:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        event = json.loads(payload)
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices") or []:
            text = (choice.get("delta") or {}).get("content")
            if text:
                if ttft is None:
                    ttft = time.perf_counter() - started
                chunks += 1
                parts.append(text)
    sample = Sample(time.perf_counter() - started, response.status, ttft_s=ttft)
    return _with_tokens(sample, usage, prompt, "".join(parts), chunks)


def _with_tokens(
    sample: Sample, usage: dict[str, Any] | None, prompt: str, content: str, chunks: int | None
) -> Sample:
    usage = usage or {}
    if usage.get("prompt_tokens"):
        sample.prompt_tokens = int(usage["prompt_tokens"])
    else:
        sample.prompt_tokens = max(1, len(prompt) // CHARS_PER_TOKEN)
        sample.estimated_tokens = True
    if usage.get("completion_tokens"):
        sample.completion_tokens = int(usage["completion_tokens"])
    else:
        sample.completion_tokens = chunks if chunks else len(content) // CHARS_PER_TOKEN
        sample.estimated_tokens = True
    return sample


async def run_level(
    target: Target,
    prompts: Sequence[str],
    concurrency: int,
    requests: int,
    *,
    stream: bool = True,
    max_tokens: int | None = None,
    timeout_s: float = 120.0,
) -> LevelResult:
    """Send ``requests`` requests with ``concurrency`` clients (prompts taken in turn)."""
    if concurrency < 1 or requests < 1:
        raise AnalysisError("concurrency and requests per level must be at least 1")
    samples: list[Sample] = []
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(
        headers=target.headers, timeout=timeout, connector=connector
    ) as client:

        async def worker() -> None:
            for index in counter:
                prompt = prompts[index % len(prompts)]
                samples.append(
                    await send(client, target, prompt, stream=stream, max_tokens=max_tokens)
                )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
        duration = time.perf_counter() - started
    return summarize(concurrency, samples, duration)


async def warm_up(
    target: Target, prompt: str, *, attempts: int = 5, timeout_s: float = 120.0
) -> Sample:
    """One untimed request before the levels, so the first level does not pay for a model
    loading or a server still starting: network failures are tried again (up to ``attempts``,
    a second apart); the last sample is returned either way."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(headers=target.headers, timeout=timeout) as client:
        sample = Sample(0.0, None, "not sent")
        for attempt in range(attempts):
            sample = await send(client, target, prompt, stream=False, max_tokens=1)
            if sample.status is not None:
                return sample
            if attempt + 1 < attempts:
                await asyncio.sleep(1.0)
        return sample


def resolve_target(session: Any, endpoint: str) -> Target:
    """The chat target behind a configured (or pre-provisioned) endpoint name."""
    from lakeinfer.endpoints.openai_http import OpenAIProvider

    if session.registry.task_of(endpoint) != "chat":
        raise AnalysisError(f"endpoint {endpoint!r} is not a chat endpoint; bench measures chat")
    provider = session.registry.get(endpoint)
    if not isinstance(provider, OpenAIProvider):
        raise AnalysisError(f"endpoint {endpoint!r} is not served over HTTP; cannot benchmark it")
    return Target(
        endpoint,
        provider.base_url + "/chat/completions",
        provider.model,
        provider.headers,
        provider.extra_body,
    )
