"""Prompt packing end to end on the fake OpenAI-compatible server, which answers a packed
prompt with a keyed JSON object, each row as its own prompt would be answered (and drops,
garbles or breaks rows that ask for it): calls made, results equal to unpacked runs, malformed
packs split into single rows, the response cache shared with unpacked runs."""

from __future__ import annotations

import json

import pytest

import lakeinfer
from lakeinfer.engine.packing import (
    PACK_FORMAT,
    pack_prompt,
    read_pack,
    shared_parts,
    unpack_prompt,
)
from lakeinfer.errors import AnalysisError, EndpointError
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

LABELS = ("billing", "shipping", "other")


def _texts(session, rows: int, marked: dict[int, str] | None = None) -> None:
    """Table ``t(id, text)`` with ``rows`` rows; ``marked`` adds a marker to some rows."""
    marked = marked or {}
    values = ", ".join(f"({i}, 'ticket {i} {marked.get(i, '')}'{''})" for i in range(rows))
    session.sql("CREATE OR REPLACE TABLE t (id BIGINT, text STRING)")
    session.sql(f"INSERT INTO t VALUES {values}")


def _packed_bodies(stats: dict) -> list[dict]:
    return [
        b
        for b in stats["bodies"]
        if (b.get("response_format") or {}).get("json_schema", {}).get("name") == PACK_FORMAT
    ]


def _single_prompts(stats: dict) -> list[str]:
    return sorted(
        b["messages"][-1]["content"] for b in stats["bodies"] if b not in _packed_bodies(stats)
    )


CLASSIFY = f"SELECT id, ai_classify(text, ARRAY{LABELS}) AS label FROM t ORDER BY id"


@pytest.fixture
def tasks(session):
    session.sql("SET lakeinfer.task_endpoint = 'chat'")
    session.sql("SET lakeinfer.cache = false")
    return session


# -- the packed prompt and its answer ----------------------------------------------------------
def test_packed_prompt_writes_the_shared_lines_once_and_gives_each_prompt_back():
    prompts = [
        "Classify the text.\n\nText:\nfirst one",
        "Classify the text.\n\nText:\nsecond\nover two lines",
        "Classify the text.\n\nText:\n",
    ]
    assert shared_parts(prompts) == ("Classify the text.\n\nText:\n", "")
    packed = pack_prompt(prompts)
    assert packed.count("Classify the text.") == 1
    assert "\n### 3\n" in packed and "\n### 4\n" not in packed
    assert unpack_prompt(packed) == prompts
    plain = ["what is 2+2?", "name a colour"]
    assert unpack_prompt(pack_prompt(plain)) == plain
    assert unpack_prompt("just a prompt") is None


def test_read_pack_takes_keyed_and_listed_answers_and_refuses_foreign_keys():
    assert read_pack('{"1": "a", "2": "b"}', 2) == {1: "a", 2: "b"}
    assert read_pack('{"2": "b"}', 2) == {2: "b"}  # row 1 missing
    assert read_pack({"answers": [{"id": 2, "answer": "b"}, {"id": 1, "answer": "a"}]}, 2) == {
        1: "a",
        2: "b",
    }
    assert read_pack('{"1": "a", "3": "c"}', 2) is None  # a key that is no row's
    assert read_pack({"answers": [{"id": 1, "answer": "a"}, {"id": 1, "answer": "b"}]}, 2) is None
    assert read_pack('{"1": "a", "x": "b"}', 2) is None
    assert read_pack("not json", 2) is None
    assert read_pack('["a", "b"]', 2) is None


def test_pack_rows_setting_takes_auto_or_a_row_count(session):
    session.sql("SET lakeinfer.pack_rows = 8")
    assert session.settings.get("pack_rows") == 8
    session.sql("SET lakeinfer.pack_rows = 'auto'")
    assert session.settings.get("pack_rows") == "auto"
    for bad in ("0", "65", "'many'"):
        with pytest.raises(AnalysisError, match="pack_rows"):
            session.sql(f"SET lakeinfer.pack_rows = {bad}")


# -- calls and results -------------------------------------------------------------------------
def test_64_rows_packed_8_per_call_make_8_calls_with_the_unpacked_answers(session, fake_server):
    _texts(session, 64)
    session.sql("SET lakeinfer.cache = false")
    query = "SELECT id, ai_query('chat', 'Summarize: ' || text) AS answer FROM t ORDER BY id"
    unpacked = session.sql(query).to_pylist()
    assert fake_server.stats()["chat"] == 64
    fake_server.reset()
    session.sql("SET lakeinfer.pack_rows = 8")
    packed = session.sql(query).to_pylist()
    stats = fake_server.stats()
    assert stats["chat"] == 8 and stats["packed"] == 8
    assert packed == unpacked
    assert packed[5]["answer"] == "echo: Summarize: ticket 5 "
    body = stats["bodies"][0]
    keys = body["response_format"]["json_schema"]["schema"]["required"]
    assert keys == [str(i) for i in range(1, 9)]


def test_packed_task_function_answers_equal_the_unpacked_ones(tasks, fake_server):
    _texts(tasks, 64, {i: f"[[answer:{LABELS[i % 3]}]]" for i in range(0, 64, 2)})
    unpacked = tasks.sql(CLASSIFY).to_pylist()
    fake_server.reset()
    tasks.sql("SET lakeinfer.pack_rows = 8")
    packed = tasks.sql(CLASSIFY).to_pylist()
    assert fake_server.stats()["chat"] == 8
    assert packed == unpacked
    assert packed[4]["label"] == LABELS[4 % 3]
    # the instruction is sent once per pack, not once per row
    prompt = fake_server.stats()["bodies"][0]["messages"][-1]["content"]
    assert prompt.count("Classify the text") == 1


def test_return_type_rows_are_answered_in_their_json_type(session, fake_server):
    _texts(session, 8, {i: f"[[answer:{i * 10}]]" for i in range(8)})
    session.sql("SET lakeinfer.pack_rows = 4")
    rows = session.sql(
        "SELECT id, ai_query('chat', text, returnType => 'INT') AS n FROM t ORDER BY id"
    ).to_pylist()
    assert [r["n"] for r in rows] == [i * 10 for i in range(8)]
    stats = fake_server.stats()
    assert stats["chat"] == 2
    schema = stats["bodies"][0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["1"] == {"type": "integer"}


# -- malformed packs ---------------------------------------------------------------------------
@pytest.mark.parametrize("marker", ["[[pack:drop]]", "[[pack:garble]]"])
def test_a_row_missing_or_wrong_in_its_pack_is_sent_again_alone(tasks, fake_server, marker):
    _texts(tasks, 16, {i: f"[[answer:{LABELS[i % 3]}]]" for i in range(16)} | {5: marker})
    expected = [{"id": i, "label": LABELS[i % 3]} for i in range(16)]
    expected[5]["label"] = tasks.sql(
        f"SELECT ai_classify('ticket 5 {marker}', ARRAY{LABELS}) AS l"
    ).to_pylist()[0]["l"]
    fake_server.reset()
    tasks.sql("SET lakeinfer.pack_rows = 8")
    assert tasks.sql(CLASSIFY).to_pylist() == expected
    stats = fake_server.stats()
    assert stats["chat"] == 3  # two packs, then row 5 alone
    singles = _single_prompts(stats)
    assert len(singles) == 1 and singles[0].endswith(f"ticket 5 {marker}")
    summary = tasks.last_stats.summary()
    assert "16 rows in 2 packed calls, 1 sent again alone" in summary


@pytest.mark.parametrize("marker", ["[[pack:broken]]", "[[pack:extra]]", "[[status:400]]"])
def test_a_pack_that_cannot_be_trusted_sends_only_its_own_rows_again(session, fake_server, marker):
    _texts(session, 16, {11: marker})
    session.sql("SET lakeinfer.cache = false")
    session.sql("SET lakeinfer.pack_rows = 8")
    rows = session.sql(
        "SELECT id, ai_query('chat', text, failOnError => false) AS a FROM t ORDER BY id"
    ).to_pylist()
    stats = fake_server.stats()
    assert stats["chat"] == 2 + 8  # the second pack's 8 rows alone
    singles = _single_prompts(stats)
    assert singles == sorted(f"ticket {i} {marker if i == 11 else ''}" for i in range(8, 16))
    for row in rows:
        if row["id"] == 11 and marker == "[[status:400]]":
            assert "injected failure 400" in row["a"]["errorMessage"]
        else:
            assert row["a"]["result"].startswith(f"echo: ticket {row['id']} ")


def test_fail_on_error_names_the_failing_row_of_a_pack(session, fake_server):
    _texts(session, 16, {11: "[[status:400]]"})
    session.sql("SET lakeinfer.pack_rows = 8")
    with pytest.raises(EndpointError, match="row 12"):
        session.sql("SELECT id, ai_query('chat', text) AS a FROM t ORDER BY id").to_pylist()


# -- cache and accounting ----------------------------------------------------------------------
def test_packed_and_unpacked_runs_share_the_response_cache(session, fake_server):
    _texts(session, 24)
    query = "SELECT id, ai_query('chat', 'Q: ' || text) AS a FROM t ORDER BY id"
    session.sql("SET lakeinfer.pack_rows = 8")
    packed = session.sql(query).to_pylist()
    assert fake_server.stats()["chat"] == 3
    session.sql("SET lakeinfer.pack_rows = 1")
    assert session.sql(query).to_pylist() == packed
    assert fake_server.stats()["chat"] == 3  # every row a cache hit
    # and the other way round: rows answered alone are not asked again in a pack
    _texts(session, 32)
    session.sql(query.replace("FROM t", "FROM t WHERE id >= 24")).to_pylist()
    assert fake_server.stats()["chat"] == 3 + 8
    session.sql("SET lakeinfer.pack_rows = 8")
    fake_server.reset()
    assert len(session.sql(query).to_pylist()) == 32
    assert fake_server.stats()["chat"] == 0


def test_summary_reports_packed_calls_and_prompt_tokens_saved(tasks, fake_server):
    _texts(tasks, 32)
    tasks.sql("SET lakeinfer.pack_rows = 8")
    tasks.sql(CLASSIFY).to_pylist()
    stats = tasks.last_stats
    assert stats.ai.calls == 4 and stats.ai.packed_calls == 4 and stats.ai.packed_rows == 32
    assert stats.ai.prompt_tokens_saved > 0
    assert "32 rows in 4 packed calls, ~" in stats.summary()
    assert stats.ai.requests == 32
    (row,) = tasks.sql(
        "SELECT calls, packed_calls, packed_rows, prompt_tokens_saved "
        "FROM system.ai.query_history WHERE statement LIKE '%ai_classify%'"
    ).to_pylist()
    assert row == {
        "calls": 4,
        "packed_calls": 4,
        "packed_rows": 32,
        "prompt_tokens_saved": stats.ai.prompt_tokens_saved,
    }


def test_explain_shows_the_packed_calls_and_fewer_prompt_tokens(tasks, fake_server):
    _texts(tasks, 32)

    def plan() -> str:
        (line,) = [
            r["plan"]
            for r in tasks.sql("EXPLAIN " + CLASSIFY).to_pylist()
            if r["plan"].startswith("ai_query #1")
        ]
        return line

    def tokens(line: str) -> int:
        return int(line.split(" to call")[1].split("~")[1].split(" tokens")[0])

    unpacked = plan()
    tasks.sql("SET lakeinfer.pack_rows = 8")
    packed = plan()
    assert "32 to call, ~" in unpacked and "packed" not in unpacked
    assert "32 to call in 4 packed calls of up to 8 rows, ~" in packed
    assert tokens(packed) < tokens(unpacked)
    tasks.sql("SET lakeinfer.pack_rows = 'auto'")
    assert "32 to call in 4 packed calls of up to 8 rows" in plan()
    assert fake_server.stats()["chat"] == 0


# -- auto --------------------------------------------------------------------------------------
def test_auto_packs_label_answers_but_not_free_text(tasks, fake_server):
    _texts(tasks, 16)
    tasks.sql("SET lakeinfer.pack_rows = 'auto'")
    tasks.sql(CLASSIFY).to_pylist()
    assert fake_server.stats()["chat"] == 2
    fake_server.reset()
    tasks.sql("SELECT ai_summarize(text) AS s FROM t").to_pylist()
    assert fake_server.stats()["chat"] == 16
    fake_server.reset()
    tasks.sql("SELECT ai_query('chat', text, returnType => 'DOUBLE') AS s FROM t").to_pylist()
    assert fake_server.stats()["chat"] == 2


def test_pack_answers_are_json_of_the_rows_own_schema(session, fake_server):
    _texts(session, 4)
    session.sql("SET lakeinfer.pack_rows = 4")
    fmt = '{"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", '
    fmt += '"properties": {"n": {"type": "integer"}}, "required": ["n"]}, "strict": true}}'
    rows = session.sql(
        f"SELECT ai_query('chat', text, responseFormat => '{fmt}') AS a FROM t"
    ).to_pylist()
    assert [json.loads(r["a"]) for r in rows] == [{"n": 1}] * 4
    assert fake_server.stats()["chat"] == 1


def test_a_throttled_pack_is_retried_as_a_pack(home):
    with FakeOpenAIServer(fault_rate=0.4, fault_seed=3, fault_kinds=("429",)) as server:
        configure(home, server, chat={"max_retries": 10})
        with lakeinfer.connect(home, progress=False) as session:
            _texts(session, 32)
            session.sql("SET lakeinfer.pack_rows = 8")
            rows = session.sql("SELECT id, ai_query('chat', text) AS a FROM t ORDER BY id")
            assert [r["a"] for r in rows.to_pylist()] == [f"echo: ticket {i} " for i in range(32)]
            stats = server.stats()
    assert stats["faults"]["429"] > 0
    assert stats["chat"] == 4 + stats["faults"]["429"]  # no row was sent alone
    assert len(_packed_bodies(stats)) == stats["chat"]


def test_structured_rows_reserve_their_own_output_tokens_in_the_pack(session, fake_server):
    _texts(session, 4)
    session.sql("SET lakeinfer.pack_rows = 4")
    session.sql(
        "SELECT ai_query('chat', text, returnType => 'INT', "
        "modelParameters => named_struct('max_tokens', 5)) AS n FROM t"
    ).to_pylist()
    (body,) = fake_server.stats()["bodies"]
    assert body["max_tokens"] == 4 * (5 + 8)


def test_embeddings_are_never_packed(session, fake_server):
    _texts(session, 16)
    session.sql("SET lakeinfer.pack_rows = 8")
    rows = session.sql("SELECT ai_query('emb', text) AS v FROM t").to_pylist()
    assert all(len(r["v"]) == 8 for r in rows)
    assert fake_server.stats()["chat"] == 0


def test_benchmark_runs_small_and_finds_the_calls_ratio():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "prompt_packing.py")]
        + ["--rows", "64", "--limit", "0", "--format", "json", "--check"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    fake = json.loads(result.stdout)["fake"]
    assert fake["runs"]["pack_rows=1"]["calls"] == 64
    assert fake["runs"]["pack_rows=8"]["calls"] == 8
    assert fake["answers_equal"] and fake["prompt_tokens_ratio"] > 1


def test_explain_does_not_pack_for_the_embedded_model_under_auto(session):
    _texts(session, 16)
    session.sql("SET lakeinfer.pack_rows = 'auto'")
    plan = [r["plan"] for r in session.sql("EXPLAIN " + CLASSIFY).to_pylist()]
    assert any("16 to call, ~" in line for line in plan), plan
    assert not any("packed" in line for line in plan)
