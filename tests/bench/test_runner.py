"""Benchmarks against a local server of known latency: what is measured matches its settings."""

from __future__ import annotations

import time

import pytest

import lakeinfer
from lakeinfer.bench import run_benchmark
from lakeinfer.bench.runner import LevelResult, Sample, Target, recommend, summarize, warm_up
from lakeinfer.errors import AnalysisError, UnknownEndpointError

from .conftest import LATENCY_MS

# A shared two-core machine adds scheduling delay: latency may exceed the server's setting by
# this much, and throughput fall this far below concurrency / latency.
SLACK_MS = 45.0
MIN_SHARE = 0.45


def test_latency_and_throughput_follow_the_server_settings(bench_session):
    prompts = ["a b c", "d e f"]
    result = run_benchmark(bench_session, "llm", prompts, [4, 1], requests=16, stream=False)
    assert [lv.concurrency for lv in result.levels] == [1, 4]
    for level in result.levels:
        assert (level.requests, level.ok, level.errors, level.throttled) == (16, 16, 0, 0)
        assert LATENCY_MS <= level.latency_p50_ms <= LATENCY_MS + SLACK_MS
        assert level.latency_p50_ms <= level.latency_p90_ms <= level.latency_p99_ms
        ideal = level.concurrency * 1000 / LATENCY_MS
        assert MIN_SHARE * ideal <= level.requests_per_s <= ideal * 1.02
        # the fake server counts words: "a b c" is 3 in, "echo: a b c" 4 out
        assert (level.mean_input_tokens, level.mean_output_tokens) == (3.0, 4.0)
        assert level.output_tokens_per_s == pytest.approx(4 * level.requests_per_s)
        assert level.ttft_p50_ms is None and not level.streamed
    one, four = result.levels
    assert four.requests_per_s > 2.5 * one.requests_per_s
    assert result.recommended == 4


def test_streaming_measures_time_to_first_token(bench_session, slow_server):
    slow_server.reset()
    result = run_benchmark(bench_session, "llm", ["x y"], [2], requests=6, stream=True)
    assert slow_server.stats()["chat"] == 7  # one untimed warm-up request, then the level
    (level,) = result.levels
    assert level.streamed and not level.tokens_estimated
    assert LATENCY_MS <= level.ttft_p50_ms <= level.latency_p50_ms
    assert level.ttft_p99_ms <= level.latency_p99_ms  # the first token never comes after the last
    assert (level.mean_input_tokens, level.mean_output_tokens) == (2.0, 3.0)


def test_429s_and_errors_are_counted_not_retried(bench_session, slow_server):
    prompts = ["fine", "busy [[status:429]]", "fine too", "broken [[status:500]]"]
    result = run_benchmark(bench_session, "llm", prompts, [2], requests=8, stream=False)
    (level,) = result.levels
    assert (level.requests, level.ok, level.throttled, level.errors) == (8, 4, 2, 2)
    assert any("HTTP 500" in e for e in level.error_examples)
    assert result.recommended is None
    assert "no level ran without errors and with at most 1% 429s" in result.reason


def test_warm_up_tries_an_unreachable_endpoint_again_then_gives_up():
    import asyncio
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = Target("x", f"http://127.0.0.1:{port}/v1/chat/completions", "m")
    started = time.monotonic()
    sample = asyncio.run(warm_up(target, "hi", attempts=2, timeout_s=5))
    assert sample.status is None and "ClientConnectorError" in sample.error
    assert 1.0 <= time.monotonic() - started < 5.0  # one pause between the two attempts


def test_bad_arguments_name_the_problem(bench_session):
    with pytest.raises(UnknownEndpointError, match="nope"):
        run_benchmark(bench_session, "nope", ["x"], [1], requests=1)
    with pytest.raises(AnalysisError, match="no prompts"):
        run_benchmark(bench_session, "llm", [], [1], requests=1)
    with pytest.raises(AnalysisError, match="positive integers"):
        run_benchmark(bench_session, "llm", ["x"], [0, 2], requests=1)


def _level(concurrency: int, out_tps: float, *, errors: int = 0, p99: float = 100.0):
    return LevelResult(
        concurrency,
        100,
        100 - errors,
        errors,
        0,
        1.0,
        out_tps / 10,
        0.0,
        out_tps,
        0.0,
        10.0,
        50.0,
        80.0,
        p99,
        55.0,
        None,
        None,
        None,
        False,
        False,
    )


def test_recommendation_is_the_lowest_level_near_the_best_healthy_throughput():
    levels = [_level(1, 100), _level(8, 700), _level(32, 760), _level(128, 900, errors=5)]
    chosen, reason = recommend(levels)
    assert chosen == 8  # 700 >= 0.9 x 760; 128 is faster but fails 5% of its requests
    assert reason.startswith("concurrency 8: 700.0 output tokens/s")
    assert "best (760.0 at concurrency 32)" in reason
    assert recommend(levels, max_p99_ms=90.0)[0] is None
    assert recommend([_level(1, 100, p99=50), _level(8, 700)], max_p99_ms=60.0)[0] == 1


def test_summarize_percentiles_and_rates():
    samples = [Sample(s / 1000, 200, prompt_tokens=10, completion_tokens=5) for s in (10, 20, 30)]
    samples.append(Sample(0.5, 429, "HTTP 429: slow down"))
    level = summarize(2, samples, duration_s=0.5)
    assert (level.ok, level.throttled, level.errors) == (3, 1, 0)
    assert level.requests_per_s == 6.0
    assert level.input_tokens_per_s == 60.0 and level.output_tokens_per_s == 30.0
    assert level.latency_p50_ms == pytest.approx(20.0)
    assert level.latency_p90_ms == pytest.approx(28.0)
    assert level.bad_share == 0.25


def test_a_level_with_any_error_is_never_recommended():
    levels = [_level(1, 100), _level(8, 700, errors=1)]  # 1 failed request in 100
    assert recommend(levels)[0] == 1
    chosen, reason = recommend([_level(8, 700, errors=1)])
    assert chosen is None and reason.startswith("no level ran without errors")


def test_streaming_against_the_embedded_model_has_no_errors(tmp_path):
    """llama-server closes some kept-alive connections after a streamed answer: the next
    request on such a connection must not count as the endpoint's error."""
    with lakeinfer.connect(tmp_path / "lakehouse", progress=False, notice=lambda _: None) as s:
        result = run_benchmark(
            s,
            "databricks-meta-llama-3-1-8b-instruct",
            ["Say hi.", "Name a colour."],
            [1, 4],
            requests=16,
            stream=True,
            max_tokens=4,
        )
    for level in result.levels:
        assert (level.errors, level.ok) == (0, 16), level.error_examples
        assert level.ttft_p50_ms is not None
    assert result.recommended in (1, 4)
