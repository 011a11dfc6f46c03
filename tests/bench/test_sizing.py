"""Capacity arithmetic with numbers worked out by hand."""

from __future__ import annotations

import pytest

from lakeinfer.bench.sizing import (
    Capacity,
    Workload,
    estimate_workload,
    format_duration,
    parse_duration,
    size,
)
from lakeinfer.errors import AnalysisError


def test_sizing_a_job_that_needs_six_replicas():
    # 720,000 rows in 2 h = 100 rows/s; one replica does min(4000/100, 1000/50) = 20 rows/s
    workload = Workload(720_000, 100, 50, 7200)
    capacity = Capacity(4000, 1000, 20, "llm at concurrency 32")
    sizing = size(workload, capacity, headroom=1.2, increment=4000)
    assert sizing.required_rows_per_s == 100
    assert sizing.required_input_tokens_per_s == 10_000
    assert sizing.required_output_tokens_per_s == 5_000
    assert sizing.required_tokens_per_s == 15_000
    assert sizing.replica_rows_per_s == 20
    assert sizing.limited_by == "output tokens"
    assert sizing.one_replica_s == 36_000
    assert not sizing.meets_deadline
    assert sizing.replicas == 6  # ceil(100 x 1.2 / 20), not 7 from float noise
    assert sizing.provisioned_tokens_per_s == 20_000  # 15,000 x 1.2 = 18,000 -> 20,000
    assert sizing.steps == [
        "workload: 720,000 rows x (100 input + 50 output tokens) = 108,000,000 tokens",
        "deadline: 2h = 7,200 s",
        "needed: 720,000 rows / 7,200 s = 100 rows/s",
        "  = 100 x 100 = 10,000 input tokens/s + 100 x 50 = 5,000 output tokens/s"
        " = 15,000 tokens/s",
        "one replica (llm at concurrency 32): 4,000 input tokens/s, 1,000 output tokens/s,"
        " 20 requests/s",
        "  -> min(4,000 / 100, 1,000 / 50) = 20 rows/s per replica (output tokens limit)",
        "  -> 720,000 rows / 20 rows/s = 36,000 s (10h) on one replica: misses the 2h deadline",
        "replicas: ceil(100 rows/s x 1.2 headroom / 20 rows/s) = ceil(6.00) = 6",
        "provisioned throughput: 15,000 tokens/s x 1.2 headroom = 18,000 tokens/s,"
        " rounded up to increments of 4,000 = 20,000 tokens/s",
    ]
    assert sizing.as_dict()["replicas"] == 6


def test_one_replica_meets_a_loose_deadline():
    sizing = size(Workload(3600, 10, 10, 3600), Capacity(100, 100, 10, "x"), headroom=1.0)
    assert sizing.replica_rows_per_s == 10
    assert sizing.one_replica_s == 360
    assert sizing.meets_deadline and sizing.replicas == 1
    assert sizing.provisioned_tokens_per_s == 20


def test_headroom_can_tip_the_verdict():
    sizing = size(Workload(1000, 10, 10, 100), Capacity(100, 100, 10, "x"), headroom=1.2)
    assert sizing.one_replica_s == 100  # exactly on time without headroom
    assert sizing.replicas == 2 and not sizing.meets_deadline
    assert "(within it without headroom)" in sizing.steps[6]


def test_requests_only_capacity_and_bad_input():
    sizing = size(Workload(100, 0, 0, 10), Capacity(0, 0, 5, "x"), headroom=1.0)
    assert sizing.limited_by == "requests" and sizing.replicas == 2
    with pytest.raises(AnalysisError, match="headroom must be at least 1"):
        size(Workload(1, 1, 1, 1), Capacity(1, 1, 1, "x"), headroom=0.5)
    with pytest.raises(AnalysisError, match="measured no throughput"):
        size(Workload(1, 1, 1, 1), Capacity(0, 0, 0, "x"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("1h30m", 5400),
        ("45m", 2700),
        ("90s", 90),
        ("1.5h", 5400),
        ("2d", 172800),
        ("600", 600),
        ("1H 15M", 4500),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "soon", "0s", "-5", ""])
def test_parse_duration_rejects_unclear_text(text):
    with pytest.raises(AnalysisError, match="duration"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(7200) == "2h"
    assert format_duration(5400) == "1h30m"
    assert format_duration(42.5) == "42.5s"
    assert format_duration(2 * 86400 + 3600) == "2d1h"


def test_workload_estimated_from_a_table(tmp_path):
    import lakeinfer

    with lakeinfer.connect(tmp_path / "lh", progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, body STRING)")
        session.sql(f"INSERT INTO docs VALUES (1, '{'a' * 29}'), (2, '{'b' * 49}'), (3, NULL)")
        # ("Summarize: " is 11 characters): (40 + 60) / 2 = 50 characters = 12.5 tokens
        workload = estimate_workload(session, "docs", 3600, prompt="Summarize: ", output_tokens=20)
        assert workload == Workload(3, 12.5, 20, 3600)
        scaled = estimate_workload(
            session, "SELECT body FROM docs WHERE id = 1", 60, rows=10**6, output_tokens=5
        )
        assert scaled == Workload(10**6, 29 / 4, 5, 60)
        with pytest.raises(AnalysisError, match="no column 'text'"):
            estimate_workload(session, "docs", 60, column="text", output_tokens=1)
